"""The book's kit checks through the kit's one service (flows/planning/kit_service.py) on SQLite and
PostgreSQL: the plan of a team leaving its region-level project without an activity, or with a sponsor
carrying a 4th project, is refused naming the project / sponsor and records nothing; switched-on
assessment checks refuse the section by customer and level; the annual evaluation weighs process and
result by the rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, ImportRejected
from engine.rules import rules_dir
from engine.instances import take_action
from flows.planning import kit_service as ks
from flows.planning.common import find_instance
from flows.planning.kit import issue_kit
from flows.planning.rhythm import start_team_reviews
from flows.planning.sample import planning_runtime
from flows.planning.workbook import ASSESSMENT_SHEET, PLAN_SHEET, workbook_from_rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))
# Four more office-level projects of C001, so a sponsor may reach (and pass) three; and a closed and a
# last-year region project that the big-project rule must leave alone.
EXTRA = {"projects": [
    *({"code": f"P01{i}", "name": f"深圳移动项目{i}", "customer_code": "C001", "level": "office",
       "decision_date": "2027-11-30", "team_code": "T-SZ-OP"} for i in range(1, 5)),
    {"code": "P020", "name": "已关闭的大项目", "customer_code": "C001", "level": "region", "decision_date": "2027-11-30",
     "team_code": "T-SZ-OP", "closed": "yes"},
    {"code": "P021", "name": "去年决策的大项目", "customer_code": "C002", "level": "company",
     "decision_date": "2026-11-30", "team_code": "T-SZ-OP"},
]}


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock, extra=EXTRA)


def count(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


def act(project: str, sponsor: str | None = None) -> dict[str, Any]:
    return {"customer_code": "C001", "activity_type": "company_visit", "title": f"活动 {project}",
            "project_code": project, "planned_date": "2027-05-10", "budget": "10000", "sponsor": sponsor}


def up_to_plan(rt: Any) -> int:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    team = principal_of(rt, "E101")
    ks.submit_section(rt, kit, "assessment", principal=team,
                      rows=[{"customer_code": "C001", "contact_code": "K001", "acceptance": "2",
                             "acceptance_evidence": "参观"}])
    ks.submit_section(rt, kit, "objectives", principal=team,
                      rows=[{"customer_code": "C001", "relationship_target": "CXO 支持"}])
    return kit


def test_the_plan_must_give_the_region_project_an_activity_and_a_sponsor_exactly_three_projects(
        rt: Any, db: Database) -> None:
    kit = up_to_plan(rt)
    team = principal_of(rt, "E101")
    before = (count(db, "flow_history"), count(db, "planning_activity"))
    with pytest.raises(ks.KitProblems) as err:
        ks.submit_section(rt, kit, "plan", principal=team, rows=[act("P002")])
    [p] = err.value.problems
    assert (p.sheet, p.column) == (PLAN_SHEET, "支持项目编码") and "P001" in p.message and "深圳移动核心网扩容" in p.message
    # the 4th distinct project of office head E020 is refused on its own row; the closed P020 and the
    # last-year P021 are not asked for
    four = [act("P001"), act("P002", "E020"), act("P011", "E020"), act("P012", "E020"), act("P013", "E020")]
    with pytest.raises(ks.KitProblems) as err:
        ks.submit_section(rt, kit, "plan", principal=team, rows=four)
    assert [(p.field, p.line, p.column) for p in err.value.problems] == [("plan-4-sponsor", 6, "赞助人工号")]
    assert "P013" in err.value.problems[0].message and "E020" in err.value.problems[0].message
    # a region head on an office project is refused too (sponsors take projects of their own level)
    with pytest.raises(ks.KitProblems) as err:
        ks.submit_section(rt, kit, "plan", principal=team, rows=[act("P001", "E010"), act("P002", "E010")])
    assert any(p.field == "plan-1-sponsor" and "P002" in p.message for p in err.value.problems)
    assert (count(db, "flow_history"), count(db, "planning_activity")) == before
    done = ks.submit_section(rt, kit, "plan", principal=team, rows=four[:4])
    assert done.state == "supervisor_review" and count(db, "planning_activity") == 4


def test_a_workbook_upload_is_checked_the_same_way(rt: Any, db: Database, tmp_path: Path) -> None:
    kit = up_to_plan(rt)
    book = workbook_from_rows(tmp_path / "k.xlsx", team="T-SZ-OP", year=2027, plan=[act("P002")])
    with pytest.raises(ImportRejected) as err:
        ks.upload_workbook(rt, kit, book, principal=principal_of(rt, "E101"), section="plan")
    assert any("P001" in p.message and getattr(p, "sheet", "") == PLAN_SHEET for p in err.value.problems)
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_kit_draft WHERE section = 'plan'")[0] == 0


def test_switched_on_assessment_checks_name_the_customer_and_the_level(rt: Any, db: Database, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)  # the shipped rules, with the kit's assessment checks switched on
    planning = yaml.safe_load((rules / "planning.yaml").read_text(encoding="utf-8"))
    planning["kit"].update({"coach_levels": ["senior", "middle"], "org_relationship_min": "partner",
                            "general_relationship_min": "medium", "min_info_channels": 2})
    (rules / "planning.yaml").write_text(yaml.safe_dump(planning, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    rt.register_rules()  # the kit's checks read the registered rules, as on a running system after `mcr rules register`
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    team = principal_of(rt, "E101")
    row = {"customer_code": "C001", "contact_code": "K001", "support_us": "3", "org_relationship": "伙伴",
           "general_relationship": "低"}
    with pytest.raises(ks.KitProblems) as err:
        ks.submit_section(rt, kit, "assessment", principal=team, rows=[row])
    assert {p.sheet for p in err.value.problems} == {ASSESSMENT_SHEET}
    general = [(p.line, p.message) for p in err.value.problems if p.column == "普遍客户关系"]
    assert any(line == 2 and "C001" in m and "低" in m and "中等" in m for line, m in general)  # K001's row
    assert any(line == 1 and "C002" in m for line, m in general)  # C002 rated nowhere
    coach = [p.message for p in err.value.problems if p.column == "对我方支持度"]
    # K001 (senior) is C001's coach; C001 has no middle-level one, C002 none at all
    assert any("C001" in m and "中层" in m for m in coach) and any("C002" in m and "高层" in m for m in coach)
    assert state(db, kit) == "issued"


def state(db: Database, iid: int) -> str:
    with db.read() as tx:
        return str(tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": iid})[0])


def test_the_annual_evaluation_weighs_process_and_result_3_to_7(rt: Any, db: Database, clock: FakeClock) -> None:
    kit = up_to_plan(rt)
    ks.submit_section(rt, kit, "plan", principal=principal_of(rt, "E101"), rows=[act("P001")])
    ks.review(rt, kit, principal=principal_of(rt, "E100"), approve=True)
    dec = datetime(2027, 12, 15, 9, 0, tzinfo=SH)
    clock.set(dec)
    [iid] = start_team_reviews(rt, "annual_evaluation", dec)
    with pytest.raises(ActionFailed, match="过程"):
        rt.send(iid, "submit", actor="E100", payload={"process_score": 101, "result_score": 90})
    with pytest.raises(ActionFailed, match="结果"):
        rt.send(iid, "submit", actor="E100", payload={"process_score": 80})
    # the instance page's form (engine.instances.take_action keeps only the event's fields)
    take_action(rt, iid, "submit", principal=principal_of(rt, "E100"),
                form={"process_score": "80", "result_score": "90", "summary": "稳", "score": "", "other": "x"})
    ev = find_instance(db, "annual_evaluation", "evaluation:T-SZ-OP:2027")
    assert ev is not None
    assert (ev.data["process_score"], ev.data["result_score"], ev.data["score"]) == (80, 90, 87.0)
    assert ev.data["weights"] == {"process": 0.3, "result": 0.7}


def test_the_kit_page_offers_the_new_columns(rt: Any, db: Database, clock: FakeClock) -> None:
    from fastapi.testclient import TestClient

    from engine.web import WebSettings, create_app
    from tests.integration.test_planning_kit_forms import signed_in
    from tests.support.accounts import add_accounts

    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    add_accounts(db, clock, "E101")
    with TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080") as client:
        signed_in(client, rt, "E101")
        page = client.get(f"/planning/kits/{kit}")
    assert page.status_code == 200
    for name in ("assessment-0-org_relationship", "assessment-0-general_relationship", "objectives-0-info_channels",
                 "plan-0-sponsor"):
        assert f'name="{name}"' in page.text, name
    assert '<option value="partner"' in page.text and "伙伴" in page.text and "赞助人工号" in page.text
