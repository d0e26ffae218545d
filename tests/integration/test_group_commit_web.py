"""The web app's concurrent requests through group commit (how `mcr serve` runs on SQLite; forced on
for PostgreSQL here to prove the same answers there): each request gets its own answer — 200 for a
note, 409 for an action the state does not allow — and the issues end with exactly the notes sent."""

from __future__ import annotations

import threading
from collections import Counter

from fastapi.testclient import TestClient

from engine.clock import FakeClock
from engine.db import Database
from engine.group_commit import GroupCommitter
from engine.web import WebSettings, create_app
from flows.itr import service
from tests.support.accounts import itr_runtime
from tests.support.principals import principal_of
from tests.support.web import session_csrf, signed_in
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)


def test_sixteen_concurrent_api_calls_through_group_commit_each_get_their_own_answer(
        db: Database, clock: FakeClock) -> None:
    rt = itr_runtime(db, clock, "SZ-HL", "SZ-H1")
    issues = [service.open_issue(rt, principal=principal_of(rt, "SZ-HL"), customer="C-BIG", contact="K-BIG1",
                                 type="technical", severity="normal", source="hotline", title=f"告警 {i}").id
              for i in range(4)]
    rt.group_commit = GroupCommitter(db)
    app = create_app(rt, WebSettings())
    # A signed-in browser's session, shared by the 16 clients (a bearer token's check has no busy
    # retry on SQLite yet: concurrent API calls with tokens can fail there, with or without grouping).
    cookies = dict(signed_in(rt, "SZ-HL").cookies)
    auth = {"X-CSRF-Token": session_csrf(rt, "SZ-HL")}
    answers: list[tuple[str, int, int]] = []
    opened: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(16)

    def client(c: int) -> None:
        http = TestClient(app, base_url="http://127.0.0.1:8080", cookies=cookies)
        issue = issues[c % len(issues)]
        gate.wait()
        new = {"customer": "C-BIG", "contact": "K-BIG1", "type": "technical", "severity": "normal",
               "source": "hotline", "title": f"并发受理 {c}"}
        for path, body in (("/api/issues", new),                         # a start through the ITR service
                           (f"/api/issues/{issue}/note", {"text": f"进展 {c}"}),
                           (f"/api/issues/{issue}/accept", None),   # not dispatched yet: 409, changes nothing
                           (f"/api/issues/{issue}/note", {"text": f"回电 {c}"})):
            res = http.post(path, json=body, headers=auth)
            with lock:
                answers.append((path.rsplit("/", 1)[1], issue, res.status_code))
                if res.status_code == 201:
                    opened.append(res.json()["id"])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert Counter((kind, code) for kind, _, code in answers) == {
        ("issues", 201): 16, ("note", 200): 32, ("accept", 409): 16}
    assert rt.group_commit.members >= 64 and len(set(opened)) == 16
    with db.read() as tx:  # each opened issue: its instance and its issue row, committed together
        rows = tx.all("SELECT i.id, f.state FROM itr_issue i JOIN flow_instance f ON f.id = i.id "
                      "WHERE i.title LIKE '并发受理%'")
    assert sorted(r[0] for r in rows) == sorted(opened) and {r[1] for r in rows} == {"received"}
    with db.read() as tx:
        for issue in issues:
            events = [r[0] for r in tx.all("SELECT event FROM flow_history WHERE instance_id = :i ORDER BY version",
                                           {"i": issue})]
            assert events.count("note") == 8 and "accept" not in events, events
            assert tx.one("SELECT COUNT(*) FROM flow_refusal WHERE instance_id = :i AND event = 'accept'",
                          {"i": issue})[0] == 4
