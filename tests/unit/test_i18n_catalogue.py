"""The one message catalogue (engine/locale/*/LC_MESSAGES/mcr.po): complete in both locales, every
key the code and the templates use present, placeholders agreeing, Babel formatting per locale."""

from __future__ import annotations

import ast
import re
import string
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import jinja2
import jinja2.ext
import pytest

from engine import i18n

ROOT = Path(__file__).resolve().parents[2]
NAMESPACES = ("engine", "cli", "itr", "planning", "survey", "md", "web", "profiles")
# A string that looks like a message key: a namespace, then dotted lower-case words (not a file name).
KEY_LIKE = re.compile(rf"^({'|'.join(NAMESPACES)})\.[a-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
FILE_SUFFIXES = (".yaml", ".yml", ".py", ".html", ".j2", ".json", ".csv", ".po")
LOOKUPS = {"t", "_", "gettext", "ngettext"}
NOT_KEYS = {"label", "scenario_command", "import_module"}  # a key prefix; scenario and module names


def _is_module(text: str) -> bool:
    path = ROOT / text.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _func_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _literals(node: ast.expr) -> Iterator[ast.expr]:
    if isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)
    else:
        yield node


def keys_used_in_python(source: str, filename: str) -> Iterator[tuple[str, int, str, str]]:
    """(file, line, kind, text) for every message key a Python module names: `exact` for a full key
    (the first argument of t()/_(), or any call argument or assignment that looks like a key),
    `prefix` for the fixed start of an f-string key (`t(f"itr.level.{level}")`) or a label() prefix."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = _func_name(node)
            args = list(node.args) + [k.value for k in node.keywords]
            first = node.args[0] if node.args else None
            if name in LOOKUPS and isinstance(first, ast.JoinedStr):  # t(f"itr.level.{level}")
                head = first.values[0]
                if isinstance(head, ast.Constant) and isinstance(head.value, str):
                    yield filename, node.lineno, "prefix", head.value
            if name in LOOKUPS and isinstance(first, ast.BinOp) and isinstance(first.left, ast.Constant) \
                    and isinstance(first.left.value, str):  # t("md.w_" + entity)
                yield filename, node.lineno, "prefix", first.left.value
            # engine.i18n's label("survey.level", …), not SQLAlchemy's column.label("customer_name")
            i18n_call = isinstance(node.func, ast.Name) or (isinstance(node.func, ast.Attribute) and isinstance(
                node.func.value, ast.Name) and node.func.value.id == "i18n")
            if name == "label" and i18n_call and node.args \
                    and isinstance(node.args[0], ast.Constant):
                yield filename, node.lineno, "prefix", f"{node.args[0].value}."
            if name in NOT_KEYS:
                continue
            for i, arg in enumerate(args):
                for lit in _literals(arg):
                    if isinstance(lit, ast.Constant) and isinstance(lit.value, str):
                        first_of_lookup = i == 0 and name in LOOKUPS and arg is node.args[0]
                        if first_of_lookup or (KEY_LIKE.match(lit.value) and not lit.value.endswith(FILE_SUFFIXES)
                                               and not _is_module(lit.value)):
                            yield filename, lit.lineno, "exact", lit.value
        elif isinstance(node, ast.Assign):
            for lit in _literals(node.value):
                if isinstance(lit, ast.Constant) and isinstance(lit.value, str) and KEY_LIKE.match(lit.value) \
                        and not lit.value.endswith(FILE_SUFFIXES) and not _is_module(lit.value):
                    yield filename, lit.lineno, "exact", lit.value


def keys_used_in_template(source: str, filename: str) -> Iterator[tuple[str, int, str, str]]:
    """Every `_("key")`, `gettext("key")`, `ngettext("one", "many", n)` of a Jinja2 template."""
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    for lineno, _func, message in jinja2.ext.extract_from_ast(env.parse(source), tuple(LOOKUPS)):
        for text in (message if isinstance(message, tuple) else (message,)):
            if text is not None:
                yield filename, lineno, "exact", text


def missing_keys(used: Iterable[tuple[str, int, str, str]], keys: set[str]) -> list[str]:
    """`file:line: key` for every key used that the catalogue lacks."""
    out = []
    for filename, line, kind, text in sorted(used):
        found = text in keys if kind == "exact" else any(k.startswith(text) for k in keys)
        if not found:
            out.append(f"{filename}:{line}: {text}{'…' if kind == 'prefix' else ''}")
    return out


def used_in_repository() -> list[tuple[str, int, str, str]]:
    used: list[tuple[str, int, str, str]] = []
    for top in ("engine", "flows"):
        for path in sorted((ROOT / top).rglob("*")):
            rel = str(path.relative_to(ROOT))
            if path.suffix == ".py":
                used += keys_used_in_python(path.read_text(encoding="utf-8"), rel)
            elif path.suffix in (".html", ".j2"):
                used += keys_used_in_template(path.read_text(encoding="utf-8"), rel)
    return used


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


@pytest.mark.parametrize("loc", i18n.LOCALES)
def test_every_key_the_code_and_the_templates_use_is_in_the_catalogue(loc: str) -> None:
    assert missing_keys(used_in_repository(), set(entries(loc))) == []


def test_the_scan_finds_the_keys_of_t_calls_helpers_f_strings_labels_and_templates() -> None:
    python = (
        'from engine.i18n import label, t\n'
        'def f(ctx, level, ok):\n'
        '    t("itr.unknown_issue", id=1)\n'
        '    _refuse(ctx, Error, "itr.not_qa" if ok else "itr.no_such_refusal", actor=1)\n'
        '    t(f"itr.level.{level}")\n'
        '    t(f"itr.no_such_family.{level}")\n'
        '    t("w_" + level)\n'
        '    label("survey.level", level)\n'
        '    label("survey.no_such_kind", level)\n'
        '    key = "cli.event_duplicate" if ok else "cli.no_such_line"\n'
        '    load_rules("itr.yaml")\n'
        '    scenario_command("itr.open")\n')
    template = '<h1>{{ _("engine.ended") }}</h1><p>{{ _("web.no_such_title") }}</p>'
    used = list(keys_used_in_python(python, "fake.py")) + list(keys_used_in_template(template, "fake.html"))
    assert missing_keys(used, set(entries("en"))) == [
        "fake.html:1: web.no_such_title", "fake.py:4: itr.no_such_refusal", "fake.py:6: itr.no_such_family.…",
        "fake.py:7: w_…", "fake.py:9: survey.no_such_kind.…", "fake.py:10: cli.no_such_line"]


def test_no_placeholder_is_called_locale_which_t_takes_for_the_language() -> None:
    assert [k for k, text in entries("en").items() if "locale" in placeholders(text)] == []
    assert i18n.t("md.unknown_record", "en", what="customer", key="C9") == "customer 'C9' does not exist"


def test_keys_are_dotted_and_namespaced_by_the_module_that_speaks() -> None:
    prefixes = ("engine.", "cli.", "itr.", "planning.", "survey.", "md.", "web.", "care.", "profiles.")
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


def test_the_default_language_follows_mcr_locale_even_after_the_catalogue_is_cached(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    assert i18n.translations().gettext("engine.ended") == "none (the instance has ended)"
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    assert i18n.translations().gettext("engine.ended") == "无（实例已结束）"


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
