"""Acting on planning, care and survey items from their page (/instances/{id}), on a real SQLite file
and PostgreSQL: what the page offers comes from the family service's `allowed_actions` (the flow's
non-internal events in this state that the step's own permission predicate accepts), and each
offered action is accepted by the service while one not offered is refused; a peer cannot read
another team's kit (403 and a refusal row); a kit workbook with a bad score lists the sheet, row and
column and changes nothing; a form posted twice is applied once; the audit log is for operators and QA.

Planning people (flows/planning/sample.py): E002 sales management; E020 office head above the team
heads E100 (T-SZ-OP: E101, E102) and E200 (T-SZ-FI: E201). Survey people (flows/survey/fixtures.py):
E6 owns C1 (supervisor E5), E9 owns C2.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.auth import accounts
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionNotPermitted, NotVisible
from engine.instances import allowed_actions, read_instance, take_action
from engine.masterdata import audit
from flows.planning.common import find_instance
from flows.planning.kit import issue_kit, kit_instance, submit_kit
from flows.planning.rhythm import start_card_reviews, start_self_checks, start_team_reviews
from flows.planning.sample import planning_runtime
from flows.planning.workbook import workbook_from_rows
from tests.integration.test_planning_kit import ASSESS, OBJ, PLAN
from tests.support.accounts import PASSWORD
from tests.support.principals import principal_of
from tests.support.web import with_shipped_rules_and_kit_dir  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import session_csrf, signed_in

PEOPLE = ("E002", "E020", "E100", "E101", "E102", "E200", "E201")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    from zoneinfo import ZoneInfo

    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    runtime = planning_runtime(db, clock)
    for emp in PEOPLE:
        accounts.add_account(db, emp, PASSWORD, clock=clock)
    return runtime



def count(db: Database, sql: str, **params: Any) -> int:
    with db.read() as tx:
        return int(tx.one(sql, params)[0])


def kit_book(tmp_path: Path, name: str = "kit.xlsx", **over: Any) -> Path:
    rows = {"assessments": ASSESS, "objectives": OBJ, "plan": PLAN} | over
    return workbook_from_rows(tmp_path / name, team="T-SZ-OP", year=2027, **rows)


def offered(rt: Any, iid: int) -> dict[str, list[str]]:
    return {emp: allowed_actions(rt, iid, principal=principal_of(rt, emp)) for emp in PEOPLE}


# ---------------------------------------------------------------------------------------------- the services


def test_a_kit_offers_upload_to_its_team_and_review_to_the_chain_and_the_service_agrees(rt: Any, db: Database,
                                                                                         tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    assert offered(rt, kit) == {"E002": [], "E020": ["submit_assessment"], "E100": ["submit_assessment"],
                                "E101": ["submit_assessment"], "E102": ["submit_assessment"], "E200": [],
                                "E201": []}
    submit_kit(rt, "T-SZ-OP", kit_book(tmp_path), principal=principal_of(rt, "E101"))
    now = offered(rt, kit)
    assert now["E100"] == now["E020"] == now["E002"] == ["approve", "send_back"]
    assert now["E101"] == now["E102"] == now["E201"] == []
    with pytest.raises(ActionNotPermitted):  # not offered to a team member: the step refuses it too
        take_action(rt, kit, "approve", principal=principal_of(rt, "E102"), form={})
    res = take_action(rt, kit, "send_back", principal=principal_of(rt, "E100"),
                      form={"step": "plan", "comment": "预算偏高", "unrelated": "dropped"})
    assert res.to_state == "objectives_submitted"
    assert offered(rt, kit)["E101"] == ["submit_plan"]


def test_rhythm_items_offer_each_step_only_to_the_person_who_owes_it(rt: Any, db: Database, clock: FakeClock,
                                                                       tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    at = datetime(2027, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock.set(at)
    start_self_checks(rt, at, weekly=False)
    start_card_reviews(rt, at)
    check = find_instance(db, "self_check", "selfcheck:E101:2027-Q2").id  # type: ignore[union-attr]
    card = find_instance(db, "card_review", "card:E101:2027-Q2").id  # type: ignore[union-attr]
    assert [e for e, acts in offered(rt, check).items() if acts] == ["E002", "E020", "E100", "E101"]
    assert offered(rt, check)["E101"] == ["submit"]
    with pytest.raises(NotVisible):  # a peer: not offered, and may not even read it
        take_action(rt, check, "submit", principal=principal_of(rt, "E102"), form={"progress": "50"})
    assert take_action(rt, check, "submit", principal=principal_of(rt, "E101"),
                       form={"progress": "60", "note": "按计划"}).to_state == "done"
    assert offered(rt, check)["E101"] == []  # done: nothing left to offer
    take_action(rt, card, "review", principal=principal_of(rt, "E101"), form={"pbc": "每周拜访 3 次", "kept": "2"})
    assert offered(rt, card)["E101"] == [] and offered(rt, card)["E100"] == ["confirm"]
    with pytest.raises(ActionNotPermitted):
        take_action(rt, card, "confirm", principal=principal_of(rt, "E101"), form={})
    assert take_action(rt, card, "confirm", principal=principal_of(rt, "E100"), form={}).to_state == "done"


def test_team_reviews_offer_completion_and_approval_above_the_team_head(rt: Any, db: Database, clock: FakeClock,
                                                                        tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    issue_kit(rt, "T-SZ-OP", 2027)
    submit_kit(rt, "T-SZ-OP", kit_book(tmp_path), principal=principal_of(rt, "E101"))
    take_action(rt, kit_instance(rt, "T-SZ-OP", 2027).id, "approve", principal=principal_of(rt, "E100"), form={})
    july = datetime(2027, 7, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock.set(july)
    [hy] = start_team_reviews(rt, "half_year_review", july)
    assert offered(rt, hy)["E100"] == ["complete", "revise"] and "complete" not in offered(rt, hy)["E101"]
    assert take_action(rt, hy, "complete", principal=principal_of(rt, "E100"), form={"summary": "辅导完成"}).to_state \
        == "done"
    dec = datetime(2027, 12, 15, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock.set(dec)
    [ev] = start_team_reviews(rt, "annual_evaluation", dec)
    assert offered(rt, ev)["E100"] == ["submit"] and offered(rt, ev)["E201"] == []
    take_action(rt, ev, "submit", principal=principal_of(rt, "E100"), form={"score": "85", "summary": "改善"})
    assert offered(rt, ev)["E020"] == ["approve"]
    with pytest.raises(ActionNotPermitted):
        take_action(rt, ev, "approve", principal=principal_of(rt, "E101"), form={})
    assert take_action(rt, ev, "approve", principal=principal_of(rt, "E020"), form={}).to_state == "done"


def test_a_handover_introduction_is_offered_to_the_previous_owner_not_to_a_peer(rt: Any, db: Database) -> None:
    from flows.planning.handover import contact_moved

    res = contact_moved(rt, "K001", reason="department", principal=principal_of(rt, "E100"), to="E102")
    iid = res.instance_id
    assert offered(rt, iid)["E101"] == ["introduce"] and offered(rt, iid)["E201"] == []
    with pytest.raises(NotVisible):  # a stranger may not even read it
        take_action(rt, iid, "introduce", principal=principal_of(rt, "E201"), form={})
    assert take_action(rt, iid, "introduce", principal=principal_of(rt, "E101"),
                       form={"note": "已引荐", "date": "2026-12-01"}).to_state == "done"


def test_a_peer_may_not_read_another_teams_kit_and_the_refusal_is_logged(rt: Any, db: Database) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    for emp in ("E101", "E100", "E020", "E002"):
        assert read_instance(rt, kit, principal=principal_of(rt, emp)).flow == "planning_kit"
    with pytest.raises(NotVisible):
        read_instance(rt, kit, principal=principal_of(rt, "E201"))
    with db.read() as tx:
        assert tuple(tx.one("SELECT instance_id, actor, event FROM flow_refusal ORDER BY id DESC")) == (kit, "E201",
                                                                                                         "read")


def test_a_review_report_is_read_by_its_recipients_and_their_chain_not_by_those_below(rt: Any) -> None:
    import flows.itr.inbox  # noqa: F401  (declares who an itr_review concerns)
    from engine.instances import may_read

    data = {"recipients": [{"emp_no": "E100", "name": "张部长", "email": "e100@example.com"}]}
    assert [emp for emp in PEOPLE if may_read(rt, "itr_review", data, principal=principal_of(rt, emp))] == \
        ["E002", "E020", "E100"]


def test_the_audit_log_is_read_only_by_operators_and_qa(rt: Any, db: Database) -> None:
    from engine.auth import Principal

    with db.session() as s:
        with pytest.raises(NotVisible):
            audit.entries_for(s, rt.clock, principal=principal_of(rt, "E002"))
    with db.session() as s:
        assert [(e.actor, e.action, e.allowed) for e in audit.entries_for(
            s, rt.clock, principal=Principal.operator_only("root"), action="audit_read")] == [("E002", "audit_read",
                                                                                             False)]


# ---------------------------------------------------------------------------------------------- the page


def test_the_kit_page_offers_download_and_upload_to_the_team_and_403_to_a_peer(rt: Any, db: Database) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    with signed_in(rt, "E101") as me:
        page = me.get(f"/instances/{kit}")
        assert page.status_code == 200
        assert 'data-testid="kit-download"' in page.text and 'data-testid="do-kit-upload"' in page.text
        assert 'data-testid="do-approve"' not in page.text
        book = me.get(f"/instances/{kit}/kit")
        path = Path(kit_instance(rt, "T-SZ-OP", 2027).data["kit_path"])
        assert book.status_code == 200 and book.content == path.read_bytes()
    refusals = count(db, "SELECT COUNT(*) FROM flow_refusal")
    with signed_in(rt, "E201") as peer:
        assert peer.get(f"/instances/{kit}").status_code == 403
        assert peer.get(f"/instances/{kit}/kit").status_code == 403
    with db.read() as tx:
        rows = [tuple(r) for r in tx.all("SELECT instance_id, actor, event FROM flow_refusal ORDER BY id")]
    assert rows[refusals:] == [(kit, "E201", "read"), (kit, "E201", "download")]


def test_a_kit_with_a_bad_score_lists_sheet_row_and_column_and_changes_nothing(rt: Any, db: Database,
                                                                               tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    bad = kit_book(tmp_path, assessments=[{**ASSESS[0], "acceptance": 9}])
    before = (count(db, "SELECT COUNT(*) FROM planning_submission"), count(db, "SELECT COUNT(*) FROM flow_history"))
    with signed_in(rt, "E101") as me:
        res = me.post(f"/instances/{kit}/kit", data={"csrf_token": session_csrf(rt, "E101"),
                                                     "client_event_id": "up-1"},
                      files={"file": ("kit.xlsx", bad.read_bytes(), "application/octet-stream")})
        assert res.status_code == 422 and 'data-testid="upload-problems"' in res.text
        assert "工作表「客户关系现状评估表」第 2 行，列「接受认可度」（N2）：分数「9」" in res.text  # sheet, row, column
        other = me.post(f"/instances/{kit}/kit", data={"csrf_token": session_csrf(rt, "E101"),
                                                       "client_event_id": "up-3"},
                        files={"file": ("kit.pdf", b"%PDF-1.4", "application/pdf")})
        assert other.status_code == 422 and ".pdf" in other.text  # the import limits refuse the file type
    assert (count(db, "SELECT COUNT(*) FROM planning_submission"),
            count(db, "SELECT COUNT(*) FROM flow_history")) == before
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "issued"


def test_a_kit_upload_and_a_form_posted_twice_are_applied_once(rt: Any, db: Database, tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    good = kit_book(tmp_path).read_bytes()
    with signed_in(rt, "E101") as me:
        for _ in range(2):
            res = me.post(f"/instances/{kit}/kit", data={"csrf_token": session_csrf(rt, "E101"),
                                                         "client_event_id": "up-2"},
                          files={"file": ("kit.xlsx", good, "application/octet-stream")}, follow_redirects=False)
            assert res.status_code == 303, res.text
    assert count(db, "SELECT COUNT(*) FROM flow_history WHERE instance_id = :i AND event = 'submit_assessment'",
                 i=kit) == 1
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "supervisor_review"
    with signed_in(rt, "E100") as head:
        assert 'data-testid="do-approve"' in head.get(f"/instances/{kit}").text
        for _ in range(2):
            res = head.post(f"/instances/{kit}/act/send_back",
                            data={"csrf_token": session_csrf(rt, "E100"),
                                  "client_event_id": "sb-1", "step": "plan",
                                  "comment": "预算偏高"}, follow_redirects=False)
            assert res.status_code == 303
    assert count(db, "SELECT COUNT(*) FROM flow_history WHERE instance_id = :i AND event = 'send_back'", i=kit) == 1
    assert kit_instance(rt, "T-SZ-OP", 2027).data["sent_back"] == 1


def test_a_form_without_its_csrf_token_or_not_offered_changes_nothing(rt: Any, db: Database, tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    submit_kit(rt, "T-SZ-OP", kit_book(tmp_path), principal=principal_of(rt, "E101"))
    with signed_in(rt, "E101") as me:
        assert me.post(f"/instances/{kit}/act/approve", data={"client_event_id": "x"}).status_code == 403
        assert me.post(f"/instances/{kit}/act/approve",
                       data={"csrf_token": session_csrf(rt, "E101"),
                             "client_event_id": "y"}).status_code == 409
        assert me.get("/audit").status_code == 403
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "supervisor_review"


# ---------------------------------------------------------------------------------------------- survey


@pytest.fixture
def srt(db: Database, clock: FakeClock) -> Any:
    from engine.app import build_runtime
    from flows.survey.fixtures import insert_org, standard_org

    runtime = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    for emp in ("E5", "E6", "E7", "E9"):
        accounts.add_account(db, emp, PASSWORD, clock=clock)
    return runtime


def test_a_project_callback_is_offered_to_its_owner_and_chain_and_refused_to_a_peer(srt: Any, db: Database) -> None:
    from flows.survey import service

    iid = service.project_closed(srt, "P-REG", principal=principal_of(srt, "E6")).instance
    seen = {emp: allowed_actions(srt, iid, principal=principal_of(srt, emp)) for emp in ("E5", "E6", "E7", "E9")}
    assert seen["E6"] == seen["E5"] == ["attempt", "cancel", "record"] and seen["E9"] == seen["E7"] == []
    with pytest.raises(NotVisible):
        take_action(srt, iid, "record", principal=principal_of(srt, "E9"), form={"product": "5"})
    with signed_in(srt, "E6") as owner:
        page = owner.get(f"/instances/{iid}")
        assert 'data-testid="do-record"' in page.text and 'data-testid="do-cancel"' in page.text
        form = {"csrf_token": session_csrf(srt, "E6"), "client_event_id": "cb-1", "reached": "yes", "product": "5",
                "solution": "4", "delivery": "4", "service_attitude": "5", "comment": "满意"}
        for _ in range(2):
            assert owner.post(f"/instances/{iid}/act/record", data=form, follow_redirects=False).status_code == 303
    assert count(db, "SELECT COUNT(*) FROM survey_callback WHERE instance_id = :i", i=iid) == 1
    assert allowed_actions(srt, iid, principal=principal_of(srt, "E6")) == []


def test_an_activity_callback_records_one_contact_and_an_unreached_attempt(srt: Any, db: Database) -> None:
    from flows.survey import service

    iid = service.activity_ended(srt, "A1", principal=principal_of(srt, "E6"))["instance"]
    assert allowed_actions(srt, iid, principal=principal_of(srt, "E6")) == ["attempt", "cancel", "record"]
    assert allowed_actions(srt, iid, principal=principal_of(srt, "E9")) == []
    take_action(srt, iid, "record", principal=principal_of(srt, "E6"),
                form={"contact": "C1-K01", "reached": "no", "comment": "无人接听"})
    take_action(srt, iid, "record", principal=principal_of(srt, "E5"), form={"contact": "C1-K01", "score": "4"})
    with db.read() as tx:
        rows = [tuple(r) for r in tx.all("SELECT contact_code, reached, actor FROM survey_callback ORDER BY id")]
    assert rows == [("C1-K01", False, "E6"), ("C1-K01", True, "E5")]


def test_an_activity_callback_page_lists_the_outstanding_contacts_and_records_from_the_form(srt: Any,
                                                                                             db: Database) -> None:
    from flows.survey import service

    iid = service.activity_ended(srt, "A1", principal=principal_of(srt, "E6"))["instance"]
    with signed_in(srt, "E6") as inviter:
        page = inviter.get(f"/instances/{iid}")
        assert page.status_code == 200 and 'value="C1-K09"' in page.text and 'data-testid="do-record"' in page.text
        res = inviter.post(f"/instances/{iid}/act/record", data={
            "csrf_token": session_csrf(srt, "E6"), "client_event_id": "ac-1", "contact": "C1-K09", "reached": "yes",
            "score": "5", "comment": "很满意"}, follow_redirects=False)
        assert res.status_code == 303
        assert 'value="C1-K09"' not in inviter.get(f"/instances/{iid}").text  # called: no longer offered
    with signed_in(srt, "E9") as stranger:
        assert stranger.get(f"/instances/{iid}").status_code == 403


def test_rhythm_pages_render_their_forms_for_the_person_who_owes_the_step(rt: Any, db: Database,
                                                                           clock: FakeClock) -> None:
    from zoneinfo import ZoneInfo

    from flows.planning.handover import contact_moved

    at = datetime(2027, 4, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock.set(at)
    start_self_checks(rt, at, weekly=False)
    check = find_instance(db, "self_check", "selfcheck:E101:2027-Q2").id  # type: ignore[union-attr]
    hand = contact_moved(rt, "K001", reason="department", principal=principal_of(rt, "E100"), to="E102").instance_id
    with signed_in(rt, "E101") as me:
        assert 'name="progress"' in me.get(f"/instances/{check}").text
        assert 'type="date"' in me.get(f"/instances/{hand}").text
        res = me.post(f"/instances/{check}/act/submit", data={"csrf_token": session_csrf(rt, "E101"),
                                                              "client_event_id": "sc",
                                                              "progress": "70", "note": "按计划"},
                      follow_redirects=False)
        assert res.status_code == 303
        assert 'data-testid="no-actions"' in me.get(f"/instances/{check}").text
    assert find_instance(db, "self_check", "selfcheck:E101:2027-Q2").data["progress"] == 70  # type: ignore[union-attr]
