"""The one message catalogue (engine/locale/*/LC_MESSAGES/mcr.po): complete in both locales, every
key the code and the templates use present, placeholders agreeing, Babel formatting per locale."""

from __future__ import annotations

import string
from datetime import date, datetime, timezone

import jinja2
import pytest

from engine import i18n


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def entries(loc: str) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in i18n.catalog(loc) if m.id}


def test_every_key_has_a_text_in_both_locales_with_the_same_placeholders() -> None:
    zh, en = entries("zh-CN"), entries("en")
    assert sorted(set(zh) ^ set(en)) == []
    assert [k for k in zh if not zh[k].strip() or not en[k].strip()] == []
    assert {k: (placeholders(zh[k]), placeholders(en[k])) for k in zh
            if placeholders(zh[k]) != placeholders(en[k])} == {}


def test_keys_are_dotted_and_namespaced_by_the_module_that_speaks() -> None:
    prefixes = ("engine.", "cli.", "itr.", "planning.", "survey.", "md.", "web.")
    assert [k for k in entries("zh-CN") if not k.startswith(prefixes)] == []


def test_every_text_can_be_used_by_jinja_newstyle_gettext() -> None:
    for loc in i18n.LOCALES:
        for key, text in entries(loc).items():
            i18n.printf_text(text)  # raises on a placeholder %-formatting cannot express


def test_t_is_chinese_by_default_and_english_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    assert i18n.t("engine.unknown_instance", id=7) == "没有编号为 7 的流程实例"
    assert i18n.t("engine.unknown_instance", "en", id=7) == "no flow instance with id 7"
    monkeypatch.setenv("MCR_LOCALE", "en")
    assert i18n.t("engine.unknown_instance", id=7) == "no flow instance with id 7"
    assert i18n.t("engine.unknown_instance", "zh_CN", id=7) == "没有编号为 7 的流程实例"


def test_an_unknown_key_raises_instead_of_showing_the_key() -> None:
    with pytest.raises(i18n.MessageError, match="'itr.no_such_message' is not in the zh-CN catalogue"):
        i18n.t("itr.no_such_message")
    with pytest.raises(KeyError):
        i18n.t("itr.no_such_message", "en")


def test_a_wrong_placeholder_raises_naming_the_missing_one() -> None:
    with pytest.raises(i18n.MessageError, match="needs the placeholder 'id' \\(given: idd\\)"):
        i18n.t("engine.unknown_instance", idd=7)


def test_jinja_templates_translate_keys_escape_variables_and_refuse_unknown_keys() -> None:
    loader = jinja2.DictLoader({"p.html": '<p>{{ _("engine.unknown_instance", id=who) }}</p>',
                                "bad.html": '{{ _("web.not_there") }}'})
    assert i18n.jinja_env(loader, "zh-CN").get_template("p.html").render(who="<b>") == \
        "<p>没有编号为 &lt;b&gt; 的流程实例</p>"
    assert i18n.jinja_env(loader, "en").get_template("p.html").render(who=3) == "<p>no flow instance with id 3</p>"
    with pytest.raises(i18n.MessageError):
        i18n.jinja_env(loader, "en").get_template("bad.html").render()


def test_translations_object_serves_jinja_install_gettext_translations() -> None:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_translations(i18n.translations("en"), newstyle=True)  # type: ignore[attr-defined]
    out = env.from_string('{{ _("survey.report_head", year=2026, avg=3.14159, n=4, customers=2) }}').render()
    assert out == "2026: average 3.14 (4 scores, 2 customers); lowest items:"


MOMENT = datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("loc, tz, expected", [
    ("zh-CN", "Asia/Shanghai", "2026年12月4日 17:30:00"),
    ("en", "Asia/Shanghai", "Dec 4, 2026, 5:30:00\u202fPM"),
    ("zh-CN", "Europe/Berlin", "2026年12月4日 10:30:00"),
    ("en", "Europe/Berlin", "Dec 4, 2026, 10:30:00\u202fAM"),
])
def test_moments_are_written_in_the_readers_locale_and_the_offices_time_zone(loc: str, tz: str, expected: str) -> None:
    assert i18n.fmt_datetime(MOMENT, loc, tz) == expected


def test_the_calendar_day_depends_on_the_offices_time_zone() -> None:
    late = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)
    assert i18n.fmt_date(late, "zh-CN", "Asia/Shanghai") == "2026年12月5日"
    assert i18n.fmt_date(late, "en", "Europe/Berlin") == "Dec 4, 2026"
    assert i18n.fmt_date(date(2026, 1, 31), "zh-CN", format="short") == "2026/1/31"


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        i18n.fmt_datetime(datetime(2026, 12, 4, 9, 30), "en", "Asia/Shanghai")


def test_numbers_and_percentages_follow_the_locale() -> None:
    assert i18n.fmt_number(1234567.891, "zh-CN") == "1,234,567.891"
    assert i18n.fmt_number(1234567.891, "en", format="#,##0.00") == "1,234,567.89"
    assert i18n.fmt_percent(0.125, "zh-CN") == "12%"
    assert i18n.fmt_percent(0.125, "en", format="#,##0.0%") == "12.5%"
