"""The JSON API and the sign-in pages on real databases (a SQLite file and PostgreSQL), through the
ASGI app: 401 without credentials, bearer tokens (revocable), CSRF on every cookie-authenticated
change, a peer's contact refused with an audit row, an action the state does not allow refused 409 —
and nothing changed by any refusal."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

from engine.auth import accounts
from engine.clock import FakeClock
from engine.db import Database
from engine.runtime import Runtime
from engine.web import WebSettings, create_app
from flows.itr import service
from tests.support.accounts import PASSWORD, itr_runtime
from tests.support.principals import principal_of
from tests.support import web
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import session_csrf


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return itr_runtime(db, clock, "SZ-HL", "SZ-H1", "SZ-AM1", "SZ-AM2")


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080") as c:
        yield c


def sign_in(client: TestClient, emp_no: str, password: str = PASSWORD) -> Any:
    client.get("/api/openapi.json")
    return web.sign_in(client, emp_no, password, next_path="/api/me")


def new_issue(rt: Runtime) -> int:
    view = service.open_issue(rt, principal=principal_of(rt, "SZ-HL"), customer="C-BIG", contact="K-BIG1",
                              type="technical", severity="normal", source="hotline", title="基站光模块告警")
    return view.id


def history(rt: Runtime, issue_id: int) -> list[Any]:
    with rt.db.read() as tx:
        return tx.all("SELECT event, actor FROM flow_history WHERE instance_id = :i ORDER BY id", {"i": issue_id})


def test_me_without_credentials_is_401_json_and_a_page_redirects_to_signin(client: TestClient) -> None:
    res = client.get("/api/me")
    assert res.status_code == 401
    assert res.json() == {"error": "unauthenticated", "message": "请先登录"}
    assert res.headers["www-authenticate"] == "Bearer"
    en = client.get("/api/me", headers={"Accept-Language": "en-GB,en"})
    assert en.json()["message"] == "please sign in first"
    page = client.get("/password", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/password"


def test_sign_in_sets_an_httponly_lax_session_cookie_and_me_answers(client: TestClient, rt: Runtime) -> None:
    res = sign_in(client, "SZ-H1")
    assert res.status_code == 303 and res.headers["location"] == "/api/me"
    cookie = res.headers["set-cookie"]
    assert "mcr_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http on loopback
    me = client.get("/api/me")
    assert me.json()["emp_no"] == "SZ-H1" and me.json()["via"] == "web" and me.json()["roles"] == ["issue_handler"]
    assert me.headers["x-frame-options"] == "DENY" and me.headers["x-content-type-options"] == "nosniff"
    sign_in(client, "SZ-H1")
    with rt.db.read() as tx:  # signing in again replaced the session instead of adding one
        assert tx.one("SELECT COUNT(*) FROM auth_session WHERE emp_no = 'SZ-H1'")[0] == 1
    client.post("/signout", data={"csrf_token": session_csrf(rt, "SZ-H1")}, follow_redirects=False)
    assert client.get("/api/me").status_code == 401


def test_cookie_is_secure_behind_https(rt: Runtime) -> None:
    with TestClient(create_app(rt, WebSettings(base_url="https://mcr.corp.example")),
                    base_url="https://mcr.corp.example") as client:
        assert "Secure" in sign_in(client, "SZ-H1").headers["set-cookie"]


def test_wrong_password_answers_the_sign_in_page_and_locks_after_five(client: TestClient) -> None:
    for _ in range(5):
        assert sign_in(client, "SZ-H1", "wrong").status_code == 401
    locked = sign_in(client, "SZ-H1")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) == 15 * 60


def test_bearer_token_works_and_a_revoked_one_is_401(client: TestClient, rt: Runtime) -> None:
    token = accounts.issue_token(rt.db, "SZ-AM1", clock=rt.clock)
    auth = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/me", headers=auth)
    assert me.status_code == 200 and me.json()["emp_no"] == "SZ-AM1" and me.json()["via"] == "api"
    customers = client.get("/api/customers", headers=auth).json()
    assert [c["code"] for c in customers] == ["C-BIG"]
    accounts.revoke_tokens(rt.db, "SZ-AM1", clock=rt.clock)
    res = client.get("/api/me", headers=auth)
    assert res.status_code == 401 and res.json()["error"] == "bad_token"
    assert client.get("/api/me", headers={"Authorization": "Bearer mcr_forged"}).status_code == 401


def test_state_changing_calls_without_csrf_token_are_refused_and_change_nothing(client: TestClient, rt: Runtime) -> None:
    issue = new_issue(rt)
    sign_in(client, "SZ-HL")
    before = history(rt, issue)
    res = client.post(f"/api/issues/{issue}/note", json={"text": "客户已回电"})
    assert res.status_code == 403 and res.json()["error"] == "csrf"
    res = client.post(f"/api/issues/{issue}/note", json={"text": "客户已回电"}, headers={"X-CSRF-Token": "forged"})
    assert res.status_code == 403
    assert history(rt, issue) == before
    # A form post without its hidden field: the password stays what it was.
    res = client.post("/password", data={"current": PASSWORD, "new": "another pass 1", "confirm": "another pass 1"})
    assert res.status_code == 403 and "安全令牌" in res.text
    with rt.db.read() as tx:
        refused = tx.all("SELECT actor, allowed FROM masterdata_audit WHERE action = 'csrf_refused'")
    assert [tuple(r) for r in refused] == [("SZ-HL", False)] * 3  # two API calls and the form
    assert accounts.authenticate(rt.db, "SZ-HL", PASSWORD, address="t", clock=rt.clock).emp_no == "SZ-HL"
    ok = client.post(f"/api/issues/{issue}/note", json={"text": "客户已回电"},
                     headers={"X-CSRF-Token": session_csrf(rt, "SZ-HL")})
    assert ok.status_code == 200, ok.text
    assert history(rt, issue)[-1] == ("note", "SZ-HL")


def test_bearer_calls_need_no_csrf_token(client: TestClient, rt: Runtime) -> None:
    issue = new_issue(rt)
    token = accounts.issue_token(rt.db, "SZ-HL", clock=rt.clock)
    res = client.post(f"/api/issues/{issue}/note", json={"text": "进展"}, headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200, res.text


def test_a_peers_contact_is_403_and_audited(client: TestClient, rt: Runtime) -> None:
    token = accounts.issue_token(rt.db, "SZ-AM2", clock=rt.clock)
    res = client.get("/api/contacts/K-BIG1", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 403 and set(res.json()) == {"error", "message"}
    assert "K-BIG1" in res.json()["message"]
    with rt.db.read() as tx:
        rows = tx.all("SELECT actor, entity, entity_key FROM masterdata_audit WHERE actor = 'SZ-AM2'")
    assert ("SZ-AM2", "contact", "K-BIG1") in [tuple(r) for r in rows]
    own = client.get("/api/contacts/K-MID1", headers={"Authorization": f"Bearer {token}"})
    assert own.status_code == 200 and own.json()["code"] == "K-MID1"


def test_an_action_the_state_does_not_allow_is_409_and_unknown_is_404(client: TestClient, rt: Runtime) -> None:
    issue = new_issue(rt)  # received: not yet dispatched, so nobody can accept it
    token = accounts.issue_token(rt.db, "SZ-H1", clock=rt.clock)
    auth = {"Authorization": f"Bearer {token}"}
    before = history(rt, issue)
    res = client.post(f"/api/issues/{issue}/accept", headers=auth)
    assert res.status_code == 409, res.text
    assert res.json()["error"] and res.json()["message"]
    assert history(rt, issue) == before
    assert client.get("/api/issues/99999", headers=auth).status_code == 404
    bad = client.post(f"/api/issues/{issue}/note", json={"text": ""}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"] == "bad_input"


def test_openapi_document_lists_the_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/me", "/api/inbox", "/api/issues", "/api/issues/{issue_id}/escalate", "/api/cases/search",
            "/api/customers", "/api/contacts/{code}"} <= set(paths)
    assert not any(p.startswith("/signin") for p in paths)


def test_oversized_request_is_refused_with_413(rt: Runtime) -> None:
    with TestClient(create_app(rt, WebSettings(max_upload_bytes=1024))) as client:
        res = client.post("/api/issues", content=b"x" * 4096, headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and res.json()["error"] == "too_large"
    with TestClient(create_app(rt, WebSettings(max_upload_bytes=1024))) as client:
        page = client.post("/password", content=b"x" * 4096, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert page.status_code == 413 and "请求过大（上限 1024 字节）" in page.text and "<html" in page.text


def test_an_action_sent_twice_with_one_client_event_id_is_applied_once(client: TestClient, rt: Runtime) -> None:
    issue = new_issue(rt)
    token = accounts.issue_token(rt.db, "SZ-HL", clock=rt.clock)
    headers = {"Authorization": f"Bearer {token}", "X-Client-Event-Id": "note-7f3a"}
    for _ in range(2):
        assert client.post(f"/api/issues/{issue}/note", json={"text": "已联系客户"}, headers=headers).status_code == 200
    assert [h for h in history(rt, issue) if h[0] == "note"] == [("note", "SZ-HL")]


def test_open_list_get_and_search_through_the_api(client: TestClient, rt: Runtime) -> None:
    token = accounts.issue_token(rt.db, "SZ-HL", clock=rt.clock)
    auth = {"Authorization": f"Bearer {token}"}
    body = {"customer": "C-BIG", "contact": "K-BIG1", "type": "technical", "severity": "normal", "source": "hotline",
            "title": "基站光模块告警"}
    opened = client.post("/api/issues", json=body, headers=auth)
    assert opened.status_code == 201, opened.text
    issue = opened.json()["id"]
    assert [i["id"] for i in client.get("/api/issues", params={"office": "OFF-SZ"}, headers=auth).json()] == [issue]
    assert client.get(f"/api/issues/{issue}", headers=auth).json()["title"] == "基站光模块告警"
    assert client.get("/api/cases/search", params={"q": "光模块"}, headers=auth).status_code == 200
    bad = client.post("/api/issues", json={**body, "severity": "whenever"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"] and bad.json()["message"]


def test_an_expired_session_sends_pages_to_signin_and_the_api_answers_401(client: TestClient, rt: Runtime) -> None:
    from datetime import timedelta

    sign_in(client, "SZ-H1")
    assert client.get("/api/me").status_code == 200
    rt.clock.advance(timedelta(hours=2))  # idle longer than MCR_SESSION_IDLE_MINUTES (60)
    res = client.get("/api/me")
    assert res.status_code == 401 and res.json() == {"error": "session_expired", "message": "登录已过期，请重新登录"}
    sign_in(client, "SZ-H1")
    rt.clock.advance(timedelta(hours=2))
    page = client.get("/password", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/password&expired=1"
    assert "登录已过期" in client.get(page.headers["location"]).text
