"""The staff pages through the ASGI app on real databases (a SQLite file and PostgreSQL): who may
open an instance page, the diagram's current state, the audit page for operators and QA only,
the case-library search as you type, refusal pages, and English for a user who chose it.
(The browser tests in tests/browser drive the same pages in Chromium.)"""

from __future__ import annotations

import pytest

from engine.auth import accounts
from engine.clock import FakeClock
from engine.db import Database
from engine.runtime import Runtime
from flows.itr import service
from tests.support.accounts import itr_runtime
from tests.support.principals import principal_of
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import form_csrf, signed_in


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return itr_runtime(db, clock, "SZ-AM1", "SZ-H1", "HQ-QA", extra_flows=("tests/flows/ticket",))



def new_issue(rt: Runtime) -> int:
    return service.open_issue(rt, principal=principal_of(rt, "SZ-AM1"), customer="C-BIG", contact="K-BIG1",
                              type="technical", severity="normal", source="hotline", title="基站光模块告警").id


def test_an_instance_page_is_for_those_it_waits_for_and_overseers_with_the_state_marked(rt: Runtime) -> None:
    ticket = rt.start("ticket", {"summary": "打印机"}, actor="t").instance_id
    refused = signed_in(rt, "SZ-AM1").get(f"/instances/{ticket}")
    assert refused.status_code == 403
    page = signed_in(rt, "HQ-QA").get(f"/instances/{ticket}")
    assert page.status_code == 200
    assert "测试工单" in page.text and "class new current" in page.text


def test_an_issue_instance_opens_as_the_issue_page(rt: Runtime) -> None:
    issue = new_issue(rt)
    answer = signed_in(rt, "SZ-AM1").get(f"/instances/{issue}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/issues/{issue}"


def test_the_audit_page_is_for_operators_and_qa_and_lists_refusals(rt: Runtime) -> None:
    issue = new_issue(rt)
    am = signed_in(rt, "SZ-AM1")
    assert am.get("/audit").status_code == 403
    token = am.get(f"/issues/{issue}").text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = am.post(f"/issues/{issue}/close", data={"csrf_token": token, "client_event_id": "c-1"})
    assert refused.status_code == 409
    audit = signed_in(rt, "HQ-QA").get("/audit", params={"entity": "flow", "outcome": "refused"})
    assert audit.status_code == 200
    assert "SZ-AM1" in audit.text and f"itr_issue #{issue}" in audit.text


def test_case_library_search_answers_hits_as_the_handler_types(rt: Runtime) -> None:
    service.load_case_library(rt, principal=principal_of(rt, "HQ-QA"))
    client = signed_in(rt, "SZ-H1")
    hits = client.get("/cases/search", params={"q": "光模块"}, headers={"HX-Request": "true"})
    assert hits.status_code == 200 and "G-TECH-001" in hits.text
    assert "<html" not in hits.text  # a fragment for htmx, not a page
    assert "G-TECH-001" not in client.get("/cases/search", params={"q": "完全无关的词语"}).text


def test_refusal_pages_speak_the_users_language(rt: Runtime) -> None:
    client = signed_in(rt, "SZ-AM1")
    missing = client.get("/issues/424242")
    assert missing.status_code == 404 and "找不到" in missing.text
    accounts.set_locale(rt.db, "SZ-AM1", "en")
    english = signed_in(rt, "SZ-AM1")
    assert "My work" in english.get("/inbox").text
    assert "Not found" in english.get("/issues/424242").text



def test_major_incident_and_qa_decision_through_their_forms(rt: Runtime) -> None:
    am, care = principal_of(rt, "SZ-AM1"), principal_of(rt, "SZ-CC")
    issue = service.open_issue(rt, principal=am, customer="C-BIG", contact="K-BIG1", type="technical",
                               severity="urgent", source="hotline", title="全网告警").id
    service.dispatch(rt, issue, principal=am, handler="SZ-H1")
    handler = signed_in(rt, "SZ-H1")
    page = handler.get(f"/issues/{issue}").text
    assert 'action="/issues/%d/major"' % issue in page and 'value="SZ-CC"' in page
    done = handler.post(f"/issues/{issue}/major", data={"csrf_token": form_csrf(page), "client_event_id": "m-1",
                                                        "care_rep": "SZ-CC"}, follow_redirects=False)
    assert done.status_code == 303
    view = service.get_issue(rt, issue, principal=am)
    assert view.major_incident and view.care_rep == "SZ-CC"

    h1 = principal_of(rt, "SZ-H1")
    service.accept(rt, issue, principal=h1)
    service.resolve(rt, issue, principal=h1, solution="更换光模块")
    service.close(rt, issue, principal=am)
    service.record_callback(rt, issue, principal=care, score=2)  # below 3: a QA retrospective opens
    qa = signed_in(rt, "HQ-QA")
    page = qa.get(f"/issues/{issue}").text
    case = service.get_issue(rt, issue, principal=am).qa_cases[-1].id
    assert f'action="/issues/{issue}/qa/{case}"' in page
    decided = qa.post(f"/issues/{issue}/qa/{case}", data={"csrf_token": form_csrf(page), "client_event_id": "q-1",
                                                           "decision": "close", "note": "客户已认可"},
                      follow_redirects=False)
    assert decided.status_code == 303
    assert service.get_issue(rt, issue, principal=am).state == "closed"
