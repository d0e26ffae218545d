"""Mails link to the web page of their item (MCR_BASE_URL), never to a shell command or a server path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.templates import render

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(ROOT.glob("flows/*/templates/*.j2"))
# Sent to the customer's contact, not to staff: no link into the staff web app.
CUSTOMER_FACING = {"progress_report"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_mail_template_names_no_command_and_no_server_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(^|[\s：:(（])mcr [a-z]", text, re.M), "tells the reader to run an mcr command"
    assert "file://" not in text and "kit_path" not in text and "kit_link" not in text
    name = path.name.split(".")[0]
    if name not in CUSTOMER_FACING:
        assert "{{ base_url }}/" in text, "links to no page"


def test_both_locales_exist_for_every_template() -> None:
    stems = {(p.parent, p.name.split(".")[0]) for p in TEMPLATES}
    for folder, name in stems:
        assert (folder / f"{name}.zh-CN.j2").is_file() and (folder / f"{name}.en.j2").is_file(), name


def test_link_uses_mcr_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_BASE_URL", "https://mcr.corp.example/")
    context = {"data": {"title": "告警", "handler_name": "王工"}, "instance": {"id": 42}, "recipient_name": "李",
               "solution": "换模块"}
    _subject, body = render(ROOT / "flows" / "itr" / "templates", "resolved", "zh-CN", context)
    assert "https://mcr.corp.example/issues/42" in body
    monkeypatch.delenv("MCR_BASE_URL")
    _subject, body = render(ROOT / "flows" / "itr" / "templates", "resolved", "en", context)
    assert "http://127.0.0.1:8080/issues/42" in body
