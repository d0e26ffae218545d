"""Every word mcr says to a user — CLI, refusals, mail variables, web pages — from one gettext
catalogue managed with Babel, in Simplified Chinese by default and English on request.

The catalogue is engine/locale/<zh_CN|en>/LC_MESSAGES/mcr.po. A msgid is a dotted key namespaced by
the module that speaks (`engine.`, `cli.`, `itr.`, `planning.`, `survey.`, `md.`, `web.`); the msgstr
is the text, with `{name}` placeholders filled by `str.format`. The .po files are read once per
process (no compiled .mo in the repository, no build step for users).

- `t(key, locale, **kwargs)` is the one lookup for Python code.
- `translations(locale)` is the same catalogue as a gettext `Translations` for Jinja2's newstyle
  gettext (`install(env, locale)` or `jinja_env(loader, locale)` wire it up): templates write
  `{{ _("itr.unknown_issue", id=7) }}`.
- `fmt_datetime`, `fmt_date`, `fmt_number`, `fmt_percent` format values with Babel for a locale
  and, for moments, an office's time zone.

A key that is not in the catalogue, or a placeholder the caller did not give, raises
`MessageError` — a page or a mail never shows a bare key. tests/unit/test_i18n_catalogue.py keeps
both locales complete and every key used in code and templates present.
"""

from __future__ import annotations

import os
import re
import string
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache, partial
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from engine.errors import ConfigError, MCRError

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment

LOCALES = ("zh-CN", "en")
DOMAIN = "mcr"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

Number = Union[int, float, Decimal]


class MessageError(MCRError, KeyError):
    """A message key is not in the catalogue, or a placeholder of its text was not given."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def locale() -> str:
    """The locale of this process: MCR_LOCALE (`en…` gives English), Simplified Chinese otherwise."""
    return "en" if os.environ.get("MCR_LOCALE", "zh-CN").lower().startswith("en") else "zh-CN"


def normalize(loc: Optional[str]) -> str:
    """One of LOCALES for a locale name as users and browsers write it (`en-GB`, `zh_CN`, `zh-Hans`);
    None or an empty name is the process locale; anything not English is Simplified Chinese."""
    if not loc:
        return locale()
    return "en" if loc.lower().startswith("en") else "zh-CN"


def po_path(loc: str) -> Path:
    """The .po file of a locale (`zh-CN` → engine/locale/zh_CN/LC_MESSAGES/mcr.po)."""
    return LOCALE_DIR / normalize(loc).replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog(loc: Optional[str]) -> Catalog:
    """The parsed .po file of a locale (read once per process)."""
    return _catalog(normalize(loc))


@lru_cache(maxsize=None)
def _catalog(loc: str) -> Catalog:
    with po_path(loc).open("rb") as fh:
        return read_po(fh, locale=loc.replace("-", "_"), domain=DOMAIN)


@lru_cache(maxsize=None)
def _texts(loc: str) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in catalog(loc) if m.id and m.string}


def t(key: str, /, locale: Optional[str] = None, **kwargs: object) -> str:
    """The text of `key` in `locale` (default: the process locale), placeholders filled from kwargs
    (`key` is positional-only, so a text may have a `{key}` placeholder; none may be called `locale`)."""
    loc = normalize(locale)
    try:
        text = _texts(loc)[key]
    except KeyError:
        raise MessageError(f"message '{key}' is not in the {loc} catalogue ({po_path(loc)})") from None
    try:
        return text.format(**kwargs)
    except (KeyError, IndexError) as exc:
        raise MessageError(f"message '{key}' ({loc}) needs the placeholder {exc} "
                           f"(given: {', '.join(sorted(kwargs)) or 'none'})") from None


def has(key: str, locale: Optional[str] = None) -> bool:
    return key in _texts(normalize(locale))


def label(prefix: str, code: object, locale: Optional[str] = None) -> str:
    """The user's word for a code of the data (`label("survey.level", "senior")` → 高层): the message
    `<prefix>.<code>`; a code the catalogue has no word for is shown as it is, None as "-"."""
    if code is None:
        return "-"
    key = f"{prefix}.{code}"
    return t(key, locale) if has(key, locale) else str(code)


# ---------------------------------------------------------------------------------------------- Jinja2


_PRINTF_SPEC = re.compile(r"[-+ #0]*\d*(\.\d+)?[dfFeEgGxXo]")


def printf_text(text: str) -> str:
    """A catalogue text rewritten for `%`-formatting, the formatting of Jinja2's newstyle gettext
    (which also escapes the variables when autoescaping): `{id}` → `%(id)s`, `{x:.1f}` → `%(x).1f`,
    a literal `%` → `%%`. ValueError for a placeholder `%`-formatting cannot express."""
    out: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        out.append(literal.replace("%", "%%"))
        if field is None:
            continue
        if not field.isidentifier() or conversion or (spec and not _PRINTF_SPEC.fullmatch(spec)):
            raise ValueError(f"placeholder {{{field}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} has no %-formatting equivalent")
        out.append(f"%({field}){spec or 's'}")
    return "".join(out)


class CatalogueTranslations(Translations):
    """The catalogue as gettext `Translations` whose texts use `%(name)s` placeholders (for Jinja2's
    newstyle gettext). An unknown key raises `MessageError` instead of coming back as itself."""

    def gettext(self, message: str) -> str:
        if message not in self._catalog:
            raise MessageError(f"message '{message}' is not in the {self.locale_name} catalogue")
        return super().gettext(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        # Keys, not English sentences: a count picks the key of one or of many (the same text in Chinese).
        return self.gettext(msgid1 if n == 1 else msgid2)

    # Jinja2 prefers the u-names when a translations object has them; they must be the strict ones.
    ugettext = gettext
    ungettext = ngettext
    locale_name = ""


def translations(locale: Optional[str] = None) -> CatalogueTranslations:
    """The catalogue of `locale` for Jinja2: `env.install_gettext_translations(translations(loc),
    newstyle=True)`; `install(env, loc)` does that and adds the formatting filters."""
    return _translations(normalize(locale))


@lru_cache(maxsize=None)
def _translations(loc: str) -> CatalogueTranslations:
    source = catalog(loc)
    printf = Catalog(locale=source.locale, domain=DOMAIN, charset="utf-8")
    for message in source:
        if message.id and message.string:
            printf.add(message.id, printf_text(str(message.string)))
    buffer = BytesIO()
    write_mo(buffer, printf)
    buffer.seek(0)
    result = CatalogueTranslations(buffer, domain=DOMAIN)
    result.locale_name = loc
    return result


def install(env: "Environment", locale: Optional[str] = None) -> "Environment":
    """Give a Jinja2 environment the catalogue of `locale` (`_()`, `gettext()` in templates) and the
    filters `datetime`, `date`, `number`, `percent` formatting for that locale."""
    loc = normalize(locale)
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations(loc), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(datetime=partial(fmt_datetime, locale=loc), date=partial(fmt_date, locale=loc),
                       number=partial(fmt_number, locale=loc), percent=partial(fmt_percent, locale=loc))
    env.globals["locale"] = loc
    return env


def jinja_env(loader: "BaseLoader", locale: Optional[str] = None, **options: object) -> "Environment":
    """A Jinja2 environment for HTML pages in `locale`: autoescaped, undefined variables are errors,
    the catalogue and formatting filters installed."""
    from jinja2 import Environment, StrictUndefined, select_autoescape

    options.setdefault("autoescape", select_autoescape(("html", "htm", "xml", "j2", "jinja")))
    options.setdefault("undefined", StrictUndefined)
    return install(Environment(loader=loader, **options), locale)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- Babel formatting


def _babel_locale(loc: Optional[str]) -> Locale:
    return Locale.parse(normalize(loc).replace("-", "_"))


def zone(tz: Union[str, tzinfo, None]) -> Optional[tzinfo]:
    """A tzinfo for an IANA zone name (`Asia/Shanghai`) or a tzinfo; None stays None."""
    if tz is None or isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"'{tz}' is not a known time zone (e.g. Asia/Shanghai)") from None


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} needs an aware datetime (with tzinfo), got {dt.isoformat()}")
    return dt


def fmt_datetime(dt: datetime, locale: Optional[str] = None, tz: Union[str, tzinfo, None] = None,
                 format: str = "medium") -> str:
    """A moment as the reader writes it, in the office's time zone `tz` (default: the datetime's own).
    `format` is short|medium|long|full or a Babel pattern."""
    dt = _aware(dt, "fmt_datetime")
    return format_datetime(dt, format=format, tzinfo=zone(tz) or dt.tzinfo, locale=_babel_locale(locale))


def fmt_date(value: Union[date, datetime], locale: Optional[str] = None, tz: Union[str, tzinfo, None] = None,
             format: str = "medium") -> str:
    """A calendar day as the reader writes it; an (aware) datetime is first put in the zone `tz`."""
    if isinstance(value, datetime):
        value = _aware(value, "fmt_date")
        value = value.astimezone(zone(tz) or value.tzinfo).date()
    return format_date(value, format=format, locale=_babel_locale(locale))


def fmt_number(value: Number, locale: Optional[str] = None, format: Optional[str] = None) -> str:
    """A number with the reader's grouping and decimal signs (`format` a Babel pattern, e.g. `#,##0.00`)."""
    return format_decimal(value, format=format, locale=_babel_locale(locale))


def fmt_percent(value: Number, locale: Optional[str] = None, format: Optional[str] = None) -> str:
    """A ratio as a percentage (0.125 → 12%; `format="#,##0.0%"` → 12.5%)."""
    return format_percent(value, format=format, locale=_babel_locale(locale))
