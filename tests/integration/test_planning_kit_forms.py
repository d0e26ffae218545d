"""The kit in the browser's service (flows/planning/kit_service.py) on SQLite and PostgreSQL: one
validator for the form, the workbook and the API (the same problem named by field AND by sheet/row/
column), drafts that record nothing, sections submitted in order, uploads taken in as drafts, bad
input refused with nothing half-saved, who may see, fill and review, and the budget roll-up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionNotPermitted, ImportRejected, NotVisible
from flows.planning import kit_service as ks
from flows.planning.kit import KitRefused, issue_kit
from flows.planning.sample import planning_runtime
from flows.planning.workbook import ASSESSMENT_SHEET, PLAN_SHEET, workbook_from_rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock)


@pytest.fixture
def kit(rt: Any) -> int:
    return issue_kit(rt, "T-SZ-OP", 2027).instance_id


def count(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


def state(db: Database, iid: int) -> str:
    with db.read() as tx:
        return str(tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": iid})[0])


def assessment_rows(rt: Any, kit: int, **k001: Any) -> list[dict[str, Any]]:
    """The page's assessment rows (pre-filled contacts), K001 filled with `k001`."""
    view = ks.kit_view(rt, kit, principal=principal_of(rt, "E101"))
    rows = next(s for s in view.sections if s.name == "assessment").rows
    assert [r["contact_code"] for r in rows] == ["K001", "K002", "K003"]
    return [{**r, **k001} if r["contact_code"] == "K001" else r for r in rows]


OBJ = [{"customer_code": "C001", "relationship_target": "2–3 名 CXO 支持排他", "target_count": "3", "owner": "E101"}]
PLAN = [{"customer_code": "C001", "activity_type": "company_visit", "title": "总部参观", "project_code": "P001",
         "planned_date": "2027-05-10", "budget": "30000", "contacts": "K001", "owner": "E101"}]


def where(problems: list[Any]) -> list[tuple[str, int, str, str, str]]:
    return [(p.sheet, p.line, p.column, p.field, p.message) for p in problems]


def test_a_wrong_score_is_named_the_same_for_the_form_field_and_the_workbook_cell(rt: Any, kit: int,
                                                                                   tmp_path: Path) -> None:
    rows = assessment_rows(rt, kit, acceptance="7", acceptance_evidence="参加公司参观")
    draft = ks.save_draft(rt, kit, "assessment", rows, principal=principal_of(rt, "E101"))
    form = where(draft.problems)
    assert len(form) == 1
    sheet, line, column, field, message = form[0]
    assert (sheet, line, column, field) == (ASSESSMENT_SHEET, 2, "接受认可度", "assessment-0-acceptance")
    assert "7" in message and "N2" in message  # the cell reference a workbook user looks for
    book = workbook_from_rows(tmp_path / "k.xlsx", team="T-SZ-OP", year=2027,
                              assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 7,
                                            "acceptance_evidence": "参加公司参观"}])
    with pytest.raises(ImportRejected) as err:
        ks.upload_workbook(rt, kit, book, principal=principal_of(rt, "E101"), section="assessment")
    assert where(err.value.problems) == form


def test_a_draft_records_nothing_and_comes_back_over_the_prefilled_lines(rt: Any, db: Database, kit: int) -> None:
    before = (count(db, "flow_history"), count(db, "contact_assessment"))
    res = ks.save_draft(rt, kit, "assessment", assessment_rows(rt, kit, acceptance="2", acceptance_evidence="参观"),
                        principal=principal_of(rt, "E101"))
    assert (res.rows, res.problems) == (1, [])
    assert (count(db, "flow_history"), count(db, "contact_assessment")) == before
    view = ks.kit_view(rt, kit, principal=principal_of(rt, "E102"))
    first = view.sections[0].rows[0]
    assert (first["contact_name"], first["acceptance"], first["acceptance_evidence"]) == ("黄总", "2", "参观")
    assert view.sections[0].draft_by == "E101" and state(db, kit) == "issued"
    ks.save_draft(rt, kit, "plan", PLAN, principal=principal_of(rt, "E101"))  # a later section, drafted ahead
    plan = ks.kit_view(rt, kit, principal=principal_of(rt, "E101")).sections[2]
    assert (plan.status, plan.editable, plan.rows[0]["title"]) == ("later", True, "总部参观")
    assert (count(db, "flow_history"), count(db, "planning_activity")) == (before[0], 0)


def test_sections_go_in_order_the_plan_asks_for_review_and_the_supervisor_approves(rt: Any, db: Database,
                                                                                   kit: int) -> None:
    team = principal_of(rt, "E101")
    with pytest.raises(KitRefused, match="客户关系现状评估"):
        ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ)
    ks.save_draft(rt, kit, "assessment", assessment_rows(rt, kit, acceptance="2", acceptance_evidence="参观"),
                  principal=team)
    assert ks.submit_section(rt, kit, "assessment", principal=team).state == "assessment_submitted"  # the draft
    assert ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ).state == "objectives_submitted"
    done = ks.submit_section(rt, kit, "plan", principal=team, rows=PLAN, client_event_id="form-1")
    assert (done.state, done.budget) == ("supervisor_review", 30000)
    again = ks.submit_section(rt, kit, "plan", principal=team, rows=PLAN, client_event_id="form-1")  # double click
    assert again.state == "supervisor_review" and count(db, "planning_activity") == 1
    with pytest.raises(KitRefused):
        ks.save_draft(rt, kit, "plan", PLAN, principal=team)  # in review: nothing changes
    ks.review(rt, kit, principal=principal_of(rt, "E100"), approve=False, comments={"plan": "预算过高", "assessment": ""})
    view = ks.kit_view(rt, kit, principal=team)
    assert view.state == "objectives_submitted" and view.sections[2].sent_back == "预算过高"
    assert [s.status for s in view.sections] == ["submitted", "submitted", "open"]
    ks.submit_section(rt, kit, "plan", principal=team, rows=[{**PLAN[0], "budget": "20000"}])
    ks.review(rt, kit, principal=principal_of(rt, "E100"), approve=True, comment="同意")
    assert state(db, kit) == "done"
    history = count(db, "flow_history")
    with pytest.raises(KitRefused, match="审批通过|approved"):
        ks.submit_section(rt, kit, "plan", principal=team, rows=PLAN)  # a second submission of an approved section
    with pytest.raises(KitRefused, match="审批通过|approved"):
        ks.review(rt, kit, principal=principal_of(rt, "E100"), approve=True)
    assert count(db, "flow_history") == history


def test_an_activity_after_its_projects_decision_is_marked_on_its_date_and_nothing_is_submitted(
        rt: Any, db: Database, kit: int) -> None:
    team = principal_of(rt, "E101")
    ks.submit_section(rt, kit, "assessment", principal=team,
                      rows=assessment_rows(rt, kit, acceptance="2", acceptance_evidence="参观"))
    ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ)
    before = (count(db, "flow_history"), count(db, "planning_activity"), count(db, "planning_kit_draft"))
    late = [{**PLAN[0], "planned_date": "2027-10-01"}, {}, {}]
    with pytest.raises(ks.KitProblems) as err:
        ks.submit_section(rt, kit, "plan", principal=team, rows=late)
    assert [(p.field, p.sheet, p.line, p.column) for p in err.value.problems] == \
        [("plan-0-planned_date", PLAN_SHEET, 2, "计划日期")]
    assert "P001" in err.value.problems[0].message
    assert (count(db, "flow_history"), count(db, "planning_activity"), count(db, "planning_kit_draft")) == before
    assert state(db, kit) == "objectives_submitted"


def test_a_workbook_upload_of_one_section_drafts_only_it_and_bad_workbooks_save_nothing(
        rt: Any, db: Database, kit: int, tmp_path: Path) -> None:
    team = principal_of(rt, "E101")
    good = workbook_from_rows(tmp_path / "ok.xlsx", team="T-SZ-OP", year=2027, objectives=OBJ, plan=PLAN,
                              assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 2,
                                            "acceptance_evidence": "参观"}])
    other_team = workbook_from_rows(tmp_path / "fi.xlsx", team="T-SZ-FI", year=2027, objectives=OBJ)
    other_year = workbook_from_rows(tmp_path / "y.xlsx", team="T-SZ-OP", year=2026, objectives=OBJ)
    not_a_book = tmp_path / "notes.xlsx"
    not_a_book.write_text("just text", encoding="utf-8")
    for bad, words in ((other_team, "T-SZ-FI"), (other_year, "2026"), (not_a_book, "xlsx|工作簿|workbook")):
        with pytest.raises(ImportRejected, match=words):
            ks.upload_workbook(rt, kit, bad, principal=team, section="objectives")
    assert count(db, "planning_kit_draft") == 0
    res = ks.upload_workbook(rt, kit, good, principal=team, section="objectives", name="我的三件套.xlsx")
    assert (res.sections, count(db, "planning_kit_draft")) == (["objectives"], 1)
    view = ks.kit_view(rt, kit, principal=team)
    assert view.sections[1].rows[0]["relationship_target"] == "2–3 名 CXO 支持排他"
    whole = ks.upload_workbook(rt, kit, good, principal=team)
    assert whole.sections == ["assessment", "objectives", "plan"] and state(db, kit) == "issued"


def test_only_the_team_and_its_chain_see_and_fill_a_kit_and_refusals_are_recorded(rt: Any, db: Database,
                                                                                  kit: int) -> None:
    with pytest.raises(NotVisible):
        ks.kit_view(rt, kit, principal=principal_of(rt, "E201"))  # another team
    with pytest.raises(NotVisible):
        ks.save_draft(rt, kit, "objectives", OBJ, principal=principal_of(rt, "E201"))
    assert count(db, "planning_kit_draft") == 0
    with db.read() as tx:
        refused = tx.all("SELECT instance_id, actor FROM flow_refusal ORDER BY id")
    assert [tuple(r) for r in refused][-2:] == [(kit, "E201"), (kit, "E201")]
    office_head = principal_of(rt, "E020")
    assert ks.kit_view(rt, kit, principal=office_head).can_edit  # the chain above the team may fill it
    assert [k.team for k in ks.list_kits(rt, principal=principal_of(rt, "E102"))] == ["T-SZ-OP"]
    assert ks.list_kits(rt, principal=principal_of(rt, "E201")) == []
    assert [k.instance_id for k in ks.list_kits(rt, principal=principal_of(rt, "E002"), year=2027)] == [kit]


def test_only_the_supervisor_chain_or_sales_management_reviews(rt: Any, db: Database, kit: int) -> None:
    team = principal_of(rt, "E101")
    ks.submit_section(rt, kit, "assessment", principal=team,
                      rows=assessment_rows(rt, kit, acceptance="2", acceptance_evidence="参观"))
    ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ)
    ks.submit_section(rt, kit, "plan", principal=team, rows=PLAN)
    assert not ks.kit_view(rt, kit, principal=team).can_review
    with pytest.raises(ActionNotPermitted, match="E102"):
        ks.review(rt, kit, principal=principal_of(rt, "E102"), approve=True)
    with pytest.raises(KitRefused):
        ks.review(rt, kit, principal=principal_of(rt, "E100"), approve=False, comments={})  # send back needs a comment
    assert state(db, kit) == "supervisor_review"
    assert ks.kit_view(rt, kit, principal=principal_of(rt, "E002")).can_review  # sales management
    ks.review(rt, kit, principal=principal_of(rt, "E002"), approve=True)
    assert state(db, kit) == "done"


def test_the_budget_roll_up_shows_each_person_the_teams_they_may_see(rt: Any, kit: int) -> None:
    team = principal_of(rt, "E101")
    ks.submit_section(rt, kit, "assessment", principal=team,
                      rows=assessment_rows(rt, kit, acceptance="2", acceptance_evidence="参观"))
    ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ)
    ks.submit_section(rt, kit, "plan", principal=team, rows=PLAN)
    mine = ks.budget_view(rt, 2027, principal=team)
    assert (mine["total"], [t["team"] for t in mine["teams"]]) == (30000, ["T-SZ-OP"])
    assert ks.budget_view(rt, 2027, principal=principal_of(rt, "E201"))["total"] == 0
    assert ks.budget_view(rt, 2027, principal=principal_of(rt, "E002"))["total"] == 30000


# ---------------------------------------------------------------------------------------------- pages and API


@pytest.fixture
def client(rt: Any, db: Database, clock: FakeClock, kit: int) -> Any:
    from fastapi.testclient import TestClient

    from engine.web import WebSettings, create_app
    from tests.support.accounts import add_accounts

    add_accounts(db, clock, "E101", "E100", "E201")
    with TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080") as c:
        yield c


def signed_in(client: Any, rt: Any, emp_no: str) -> str:
    from engine.web.deps import PRESESSION_CSRF_COOKIE
    from tests.support.accounts import PASSWORD

    client.cookies.clear()
    client.cookies.set(PRESESSION_CSRF_COOKIE, "pre-session-token-for-tests")
    client.post("/signin", data={"emp_no": emp_no, "password": PASSWORD, "next": "/inbox",
                                 "csrf_token": "pre-session-token-for-tests"}, follow_redirects=False)
    with rt.db.read() as tx:
        return str(tx.one("SELECT csrf_token FROM auth_session WHERE emp_no = :e ORDER BY id DESC", {"e": emp_no})[0])


def test_the_kit_page_marks_the_wrong_score_on_its_field_and_the_api_names_the_same_place(
        client: Any, rt: Any, db: Database, kit: int) -> None:
    csrf = signed_in(client, rt, "E101")
    page = client.get(f"/planning/kits/{kit}")
    assert page.status_code == 200 and 'name="assessment-0-acceptance"' in page.text
    form = {"csrf_token": csrf, "client_event_id": "c1", "action": "submit",
            "assessment-0-customer_code": "C001", "assessment-0-contact_code": "K001",
            "assessment-0-acceptance": "7", "assessment-0-acceptance_evidence": "参观"}
    marked = client.post(f"/planning/kits/{kit}/sections/assessment", data=form)
    assert marked.status_code == 422
    assert 'data-testid="error-assessment-0-acceptance"' in marked.text and 'aria-invalid="true"' in marked.text
    assert state(db, kit) == "issued" and count(db, "planning_kit_draft") == 0
    api = client.put(f"/api/planning/kits/{kit}/sections/assessment/draft", headers={"X-CSRF-Token": csrf},
                     json={"rows": [{"customer_code": "C001", "contact_code": "K001", "acceptance": 7,
                                     "acceptance_evidence": "参观"}]})
    assert api.status_code == 200
    [p] = api.json()["problems"]
    assert (p["field"], p["sheet"], p["row"], p["column"]) == ("assessment-0-acceptance", ASSESSMENT_SHEET, 2, "接受认可度")
    ok = client.post(f"/planning/kits/{kit}/sections/assessment", data={**form, "assessment-0-acceptance": "2",
                                                                        "client_event_id": "c2"},
                     follow_redirects=False)
    assert ok.status_code == 303 and state(db, kit) == "assessment_submitted"
    assert client.get("/api/planning/kits").json()[0]["state"] == "assessment_submitted"
    assert client.get("/planning/budget?year=2027").status_code == 200
    signed_in(client, rt, "E201")
    assert client.get(f"/planning/kits/{kit}").status_code == 403
    assert client.get(f"/api/planning/kits/{kit}").status_code == 403


def test_the_api_refuses_a_file_that_is_not_a_workbook_and_one_of_another_year_saving_nothing(
        client: Any, rt: Any, db: Database, kit: int, tmp_path: Path) -> None:
    csrf = signed_in(client, rt, "E101")
    headers = {"X-CSRF-Token": csrf}
    text = client.post(f"/api/planning/kits/{kit}/workbook?section=objectives", headers=headers,
                       files={"file": ("kit.xlsx", b"not a workbook at all", XLSX)})
    assert text.status_code == 422 and text.json()["problems"][0]["sheet"] == ""
    old = workbook_from_rows(tmp_path / "old.xlsx", team="T-SZ-OP", year=2026, objectives=OBJ)
    wrong_year = client.post(f"/api/planning/kits/{kit}/workbook?section=objectives", headers=headers,
                             files={"file": ("old.xlsx", old.read_bytes(), XLSX)})
    assert wrong_year.status_code == 422 and "2026" in wrong_year.json()["message"]
    assert count(db, "planning_kit_draft") == 0
    page = client.post(f"/planning/kits/{kit}/upload", data={"csrf_token": csrf, "section": "objectives"},
                       files={"file": ("old.xlsx", old.read_bytes(), XLSX)})
    assert page.status_code == 422 and 'data-testid="upload-problems"' in page.text and "2026" in page.text
    assert count(db, "planning_kit_draft") == 0


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
