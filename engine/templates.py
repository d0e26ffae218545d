"""Jinja2 rendering of mail templates into (subject, body), for outbox rows.

A template file is `<flow dir>/templates/<name>.<locale>.j2`: the first line is
`Subject: ...`, then a blank line, then the body. Both parts are Jinja2. Rendering happens
inside the step's transaction (≈30 µs); building the MIME message is left to the sender.

Every template gets `base_url` (MCR_BASE_URL, default http://127.0.0.1:8080): mails link to the
web page of their item (`{{ base_url }}/issues/{{ instance.id }}`), never to a shell command or
a file path on the server.

A group-robot channel (WeCom, DingTalk) gets robot markdown from the *same* template: the text part
with bare links made clickable, under the subject as a heading. A `<name>.<locale>.md.j2` beside
the mail template (same `Subject:` first line) takes over when a message needs its own markdown.
Every template sees `channel` (`mail`, `wecom`, `dingtalk`) for the rare line that differs.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, TemplateError

from engine.errors import TemplateMissing

DEFAULT_LOCALE = "zh-CN"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def base_url() -> str:
    """The address staff reach the web app at (mail links, redirects), without a trailing slash."""
    return (os.environ.get("MCR_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")

_env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                   trim_blocks=True, lstrip_blocks=True)


# Templates are read once per process (a changed template takes effect at the next start, like a
# changed flow definition); the subject line and body are one Jinja2 template, rendered in one go.
@lru_cache(maxsize=1024)
def _compiled(template_dir: str, name: str, locale: str, suffix: str = ".j2") -> tuple[Path, Template]:
    path = find_template(template_dir, name, locale, suffix)
    text = path.read_text(encoding="utf-8")
    if not text.lower().startswith("subject:"):
        raise TemplateMissing(f"{path}:1: a mail template must start with 'Subject: ...'")
    try:
        return path, _env.from_string(text)
    except TemplateError as exc:
        raise TemplateMissing(f"{path}:{getattr(exc, 'lineno', 1)}: {exc}") from exc


def find_template(template_dir: str | Path, name: str, locale: str, suffix: str = ".j2") -> Path:
    for loc in (locale, DEFAULT_LOCALE):
        p = Path(template_dir) / f"{name}.{loc}{suffix}"
        if p.is_file():
            return p
    raise TemplateMissing(f"mail template '{name}' not found in {template_dir} "
                          f"(looked for {name}.{locale}{suffix} and {name}.{DEFAULT_LOCALE}{suffix})")


def render(template_dir: str | Path, name: str, locale: str, context: dict[str, Any],
           *, channel: str = "mail") -> tuple[str, str]:
    """(subject, plain text) of a mail template."""
    return _render(_compiled(str(template_dir), name, locale), context, channel)


def _render(compiled: tuple[Path, Template], context: dict[str, Any], channel: str) -> tuple[str, str]:
    path, template = compiled
    try:
        text = template.render({"base_url": base_url(), "channel": channel, **context})
    except TemplateError as exc:
        raise TemplateMissing(f"{path}: cannot render: {exc}") from exc
    first, _, rest = text.partition("\n")
    return first[len("subject:"):].strip(), rest.lstrip("\n")


# A bare link in the text part; one already inside markdown ([x](url), <url>) is left alone.
_BARE_URL = re.compile(r"(?<![(\[<])\bhttps?://[^\s)\]>]+")


@lru_cache(maxsize=1024)
def _has_markdown(template_dir: str, name: str, locale: str) -> bool:
    try:
        find_template(template_dir, name, locale, ".md.j2")
    except TemplateMissing:
        return False
    return True


def render_markdown(template_dir: str | Path, name: str, locale: str, context: dict[str, Any],
                    *, channel: str, addressee: str = "") -> tuple[str, str]:
    """(subject, robot markdown) of a message for a group-robot channel.

    `addressee` (the person's name) ends the message, since a group robot speaks to the whole group."""
    if _has_markdown(str(template_dir), name, locale):
        subject, body = _render(_compiled(str(template_dir), name, locale, ".md.j2"), context, channel)
    else:
        subject, text = _render(_compiled(str(template_dir), name, locale), context, channel)
        body = _BARE_URL.sub(lambda m: f"[{m.group(0)}]({m.group(0)})", text)
        body = "\n".join(line + "  " if line.strip() else line for line in body.rstrip().split("\n"))
    markdown = f"#### {subject}\n\n{body.rstrip()}"
    if addressee:
        markdown += f"\n\n> @{addressee}"
    return subject, markdown
