"""The web app as a signed-in browser would use it, for integration tests and benchmarks: one way to
sign in through the real sign-in form (pre-session CSRF cookie, session cookie), to read the CSRF
token a page or a session carries, and to point a test at the shipped rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.web import WebSettings, create_app
from tests.conftest import ROOT
from tests.support.accounts import PASSWORD

PRESESSION_TOKEN = "pre-session-token-for-tests"
BASE_URL = "http://127.0.0.1:8080"


def shipped_rules(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """The repository's rules/ and the Chinese default, plus any other MCR_* variables given."""
    monkeypatch.setenv("MCR_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def presession_token(client: TestClient) -> str:
    """The pre-session CSRF token the sign-in form must echo (set once per client)."""
    from engine.web.deps import PRESESSION_CSRF_COOKIE

    if client.cookies.get(PRESESSION_CSRF_COOKIE) is None:
        client.cookies.set(PRESESSION_CSRF_COOKIE, PRESESSION_TOKEN)
    return str(client.cookies.get(PRESESSION_CSRF_COOKIE))


def sign_in(client: TestClient, emp_no: str, password: str = PASSWORD, *, next_path: str = "/inbox") -> Any:
    """Post the sign-in form as a browser does; the answer is returned unchecked."""
    return client.post("/signin", data={"emp_no": emp_no, "password": password, "next": next_path,
                                        "csrf_token": presession_token(client)}, follow_redirects=False)


def signed_in(rt: Any, emp_no: str, *, settings: WebSettings | None = None) -> TestClient:
    """A browser of `emp_no` (who has an account with PASSWORD), signed in through the sign-in form."""
    client = TestClient(create_app(rt, settings or WebSettings()), base_url=BASE_URL)
    answer = sign_in(client, emp_no)
    assert answer.status_code == 303, answer.text[:500]
    return client


def session_csrf(rt: Any, emp_no: str) -> str:
    """The CSRF token of `emp_no`'s latest session, as its pages carry it."""
    with rt.db.read() as tx:
        return str(tx.one("SELECT csrf_token FROM auth_session WHERE emp_no = :e ORDER BY id DESC", {"e": emp_no})[0])


def form_csrf(html: str) -> str:
    """The CSRF token of the first form of a page."""
    return html.split('name="csrf_token" value="')[1].split('"')[0]


# Autouse fixtures: importing one into a test module applies it to every test of that module.
@pytest.fixture(autouse=True)
def with_shipped_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped_rules(monkeypatch)


@pytest.fixture(autouse=True)
def with_shipped_rules_and_kit_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shipped_rules(monkeypatch, MCR_KIT_DIR=str(tmp_path / "kits"))
