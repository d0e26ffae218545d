"""Jinja2 rendering of mail templates into (subject, body), for outbox rows.

A template file is `<flow dir>/templates/<name>.<locale>.j2`: the first line is
`Subject: ...`, then a blank line, then the body. Both parts are Jinja2. Rendering happens
inside the step's transaction (≈30 µs); building the MIME message is left to the sender.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, TemplateError

from engine.errors import TemplateMissing

DEFAULT_LOCALE = "zh-CN"

_env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                   trim_blocks=True, lstrip_blocks=True)


@lru_cache(maxsize=512)
def _compiled(path: str, mtime: float) -> tuple[Template, Template]:
    text = Path(path).read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise TemplateMissing(f"{path}:1: a mail template must start with 'Subject: ...'")
    try:
        return _env.from_string(first[len("subject:"):].strip()), _env.from_string(rest.lstrip("\n"))
    except TemplateError as exc:
        raise TemplateMissing(f"{path}: {exc}") from exc


def find_template(template_dir: str | Path, name: str, locale: str) -> Path:
    for loc in (locale, DEFAULT_LOCALE):
        p = Path(template_dir) / f"{name}.{loc}.j2"
        if p.is_file():
            return p
    raise TemplateMissing(f"mail template '{name}' not found in {template_dir} "
                          f"(looked for {name}.{locale}.j2 and {name}.{DEFAULT_LOCALE}.j2)")


def render(template_dir: str | Path, name: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
    path = find_template(template_dir, name, locale)
    subject_t, body_t = _compiled(str(path), path.stat().st_mtime)
    try:
        return subject_t.render(context).strip(), body_t.render(context)
    except TemplateError as exc:
        raise TemplateMissing(f"{path}: cannot render: {exc}") from exc
