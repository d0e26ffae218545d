"""The survey pages in Debian's Chromium against a real `mcr serve` (SQLite file): the account manager finds the
post-project callback in /surveys and records it from its page; the owner of a customer edits the annual
sample list and sees the level-ratio warning appear and go as contacts are ticked (htmx, no reload), then
submits it.

The browser tests' organisation (tests/scenarios/itr/data/org.yaml) gets, for these tests, a region-level
project of C-BIG (owner SZ-AM1) and twenty contacts with levels for C-MID (owner SZ-AM2; tier B, USD 20 M a
year: a sample of at least 20 — 4 senior, 6 middle, 10 base).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterator

import pytest

from engine.app import build_runtime
from engine.clock import FakeClock
from flows.survey import service
from flows.survey.fixtures import generated_contacts, insert_org
from tests.browser.conftest import FAKE_NOW, LiveServer, as_user
from tests.support.principals import principal_of

SAMPLE_CONTACTS = {"contacts": [{**k, "owner": "SZ-AM2"} for k in generated_contacts(
                       {"generate_contacts": [{"customer": "C-MID", "prefix": "K-MIDS", "senior": 4, "middle": 6,
                                               "base": 10}]})],
                   "projects": [{"code": "P-BIG-REG", "name": "核心网扩容", "customer": "C-BIG", "level": "region",
                                 "team": "T-SZ1"}]}


@pytest.fixture(scope="module")
def survey_server(server: LiveServer) -> Iterator[LiveServer]:
    insert_org(server.db, SAMPLE_CONTACTS)
    yield server


def _runtime(server: LiveServer) -> Any:
    return build_runtime(server.db, clock=FakeClock(datetime.fromisoformat(FAKE_NOW)), migrate=False)


def test_a_callback_is_recorded_from_the_survey_page(survey_server: LiveServer,
                                                     new_page: Callable[..., Any]) -> None:
    rt = _runtime(survey_server)
    decision = service.project_closed(rt, "P-BIG-REG", principal=principal_of(rt, "SZ-AM1"))
    assert decision.state == "pending"
    page = as_user(new_page, survey_server, "SZ-AM1")
    page.goto(f"{survey_server.url}/surveys")
    page.click(f"[data-testid=todo-{decision.instance}]")
    page.select_option("[data-testid=score-product]", "5")
    page.select_option("[data-testid=score-solution]", "4")
    page.select_option("[data-testid=score-delivery]", "4")
    page.select_option("[data-testid=score-service_attitude]", "5")
    page.fill("[data-testid=comment]", "交付及时，方案满足需求")
    page.click("[data-testid=do-record]")
    page.wait_for_selector("[data-testid=saved]")
    assert survey_server.state(decision.instance) == "done"
    assert "产品 5" in page.inner_text("[data-testid=scores]")
    page.goto(f"{survey_server.url}/surveys")
    assert page.locator(f"[data-testid=todo-{decision.instance}]").count() == 0
    assert "交付及时" in page.inner_text("[data-testid=callbacks-done]")


def test_the_sample_list_shows_the_ratio_warning_live_and_is_submitted(survey_server: LiveServer,
                                                                       new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, survey_server, "SZ-AM2")
    page.goto(f"{survey_server.url}/surveys/samples")
    page.click("[data-testid=edit-C-MID]")
    page.wait_for_selector("[data-testid=sample-contacts]")
    for n in range(1, 5):   # the four senior contacts only: 100 % senior against 20 % ± 5 %
        page.check(f"[data-testid=pick-K-MIDS{n:02d}]")
    page.wait_for_selector("[data-testid=check-size]:has-text('4 / 20')")
    assert page.locator("[data-testid=ratio-warning-senior]").count() == 1
    assert page.locator("[data-testid=check-ok]").count() == 0
    url_before = page.url
    for n in range(5, 21):  # and every middle and base contact: 4 / 6 / 10 of 20, the ratios exactly
        page.check(f"[data-testid=pick-K-MIDS{n:02d}]")
    page.wait_for_selector("[data-testid=check-size]:has-text('20 / 20')")
    page.wait_for_selector("[data-testid=check-ok]")
    assert page.locator("[data-testid^=ratio-warning]").count() == 0
    assert page.url == url_before                       # checked in place, not by a reload
    page.select_option("[data-testid=method-K-MIDS01]", "face_to_face")
    page.click("[data-testid=do-submit]")
    page.wait_for_selector("[data-testid=saved]")
    with survey_server.db.read() as tx:
        assert tx.one("SELECT size, status FROM survey_sample WHERE customer_code = 'C-MID'") == (20, "accepted")
        assert tx.one("SELECT method FROM survey_sample_entry e JOIN survey_sample s ON s.id = e.sample_id "
                      "WHERE e.contact_code = 'K-MIDS01'")[0] == "face_to_face"
