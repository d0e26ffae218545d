"""A flow family declares its own kinds of inbox item with their catalogue label (engine.inbox.inbox_kinds):
the inbox page shows the label, never the raw kind, and the top bar leads everyone signed in to the
flow pages (SQLite and PostgreSQL). The profiles family (CP/VP, retrospectives) is the example."""

from __future__ import annotations

import pytest

from engine import i18n
from engine.inbox import inbox, inbox_kinds, kind_label
from engine.runtime import Runtime
from tests.integration.test_profiles import launched, rt  # noqa: F401
from tests.support.accounts import add_accounts
from tests.support.principals import principal_of
from tests.support.web import signed_in


def test_a_profile_to_write_shows_its_catalogue_label_on_the_inbox_page_and_the_top_bar_leads_to_the_flows(
        rt: Runtime) -> None:  # noqa: F811
    launched(rt)
    items = inbox(rt, principal=principal_of(rt, "E011")).items
    assert {i.kind for i in items} == {"profile"}
    add_accounts(rt.db, rt.clock, "E011")
    for locale, label in (("zh-CN", "档案编写"), ("en", "Profile to write")):
        assert i18n.t("profiles.inbox.kind.profile", locale) == label
    page = signed_in(rt, "E011").get("/inbox")
    assert page.status_code == 200, page.text[:500]
    assert "档案编写" in page.text and ">profile<" not in page.text and "profile " not in page.text
    assert 'href="/flows"' in page.text  # every signed-in person; the page decides what counts to show
    flows = signed_in(rt, "E011").get("/flows")
    assert flows.status_code == 200 and 'aria-current="page"' in flows.text


def test_every_kind_of_the_profiles_family_has_a_label_in_both_languages() -> None:
    from flows.profiles.inbox import ASSIGNMENTS

    for kind in {a.kind for a in ASSIGNMENTS}:
        key = kind_label(kind)
        assert key is not None and i18n.has(key, "zh-CN") and i18n.has(key, "en"), kind


def test_a_kind_declared_again_with_another_label_is_refused() -> None:
    inbox_kinds(profile="profiles.inbox.kind.profile")  # the same declaration again is harmless
    with pytest.raises(ValueError, match="profile"):
        inbox_kinds(profile="someone.else.kind")
    assert kind_label("profile") == "profiles.inbox.kind.profile" and kind_label("nobody_declared_this") is None
