"""CP/VP profiles and the customer watch against real databases (SQLite file and PostgreSQL): master data
for the watch (orders, value curves) imported all or nothing, profiles pre-filled and reviewed in
rounds, the refusals of the issue's bad-input list with nothing written, XLSX out and in, the watch
kept once per period with its retrospective and tier review."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.app import build_runtime
from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, ActionNotPermitted, ImportRejected, NotPermitted, NotVisible
from engine.masterdata.importer import import_file, import_table
from engine.masterdata.read import MasterData
from engine.masterdata.replay import rows_table
from engine.runtime import Runtime
from flows.profiles import service, watch
from flows.profiles.sections import ProfileInvalid
from tests.support.principals import principal_of

ENGINE = Principal.engine("test")

ORG = [
    {"kind": "hq", "code": "HQ", "name": "公司", "calendar": "CN", "timezone": "Asia/Shanghai"},
    {"kind": "region", "code": "R1", "name": "华南地区部", "parent": "HQ"},
    {"kind": "office", "code": "O1", "name": "深圳代表处", "parent": "R1"},
    {"kind": "team", "code": "T1", "name": "系统部一", "parent": "O1"},
    {"kind": "team", "code": "T2", "name": "系统部二", "parent": "O1"},
    {"kind": "employee", "code": "E001", "name": "张总", "unit": "R1", "email": "e001@example.com",
     "roles": "supervisor,sales_management"},
    {"kind": "employee", "code": "E002", "name": "李主管", "unit": "O1", "supervisor": "E001", "email": "e002@example.com",
     "roles": "supervisor"},
    {"kind": "employee", "code": "E010", "name": "王部长", "unit": "T1", "supervisor": "E002", "email": "e010@example.com",
     "roles": "supervisor"},
    {"kind": "employee", "code": "E011", "name": "赵经理", "unit": "T1", "supervisor": "E010", "email": "e011@example.com",
     "roles": "account_manager"},
    {"kind": "employee", "code": "E020", "name": "钱部长", "unit": "T2", "supervisor": "E002", "email": "e020@example.com",
     "roles": "supervisor"},
]
CUSTOMERS = [
    {"code": "C1", "name": "深圳某运营商", "tier": "S", "office": "O1", "team": "T1", "owner": "E011",
     "annual_revenue_usd": 80000000, "locked_competitors": "甲公司;乙公司"},
    {"code": "C2", "name": "某伙伴", "tier": "B", "office": "O1", "team": "T1", "owner": "E011"},
]
CONTACTS = [{"code": f"K{i}", "customer": "C1", "name": f"联系人{i}", "level": "senior", "owner": "E011"} for i in (1, 2, 3)]
ASSESSMENTS = [{"contact": "K1", "year": 2026, "acceptance": 3, "acceptance_evidence": "x"},
               {"contact": "K2", "year": 2026, "acceptance": 2, "acceptance_evidence": "x"},
               {"contact": "K3", "year": 2026, "acceptance": -1, "acceptance_evidence": "x"}]
PROFILE_TABLES = ("profile_doc", "profile_review", "watch_run", "flow_instance", "flow_history", "outbox", "timer")


def load(db: Database, clock: FakeClock, **kinds: list[dict[str, Any]]) -> None:
    with db.session() as session:
        for kind, rows in kinds.items():
            import_table(session, kind, rows_table(f"test:{kind}", rows), clock=clock, principal=ENGINE)
            session.flush()
        session.commit()


@pytest.fixture
def rt(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    rules = tmp_path / "rules"
    import shutil

    from engine.rules import rules_dir

    shutil.copytree(rules_dir(), rules)
    text = (rules / "profiles.yaml").read_text(encoding="utf-8").replace("fishbone_top: 10", "fishbone_top: 2")
    (rules / "profiles.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    runtime = build_runtime(db, clock=clock, migrate=False)
    load(db, clock, org=ORG, customers=CUSTOMERS, contacts=CONTACTS, assessments=ASSESSMENTS)
    runtime.register_rules()
    return runtime


def snapshot(db: Database) -> dict[str, Any]:
    with db.read() as tx:
        return {t: tx.all(f"SELECT * FROM {t} ORDER BY 1") for t in PROFILE_TABLES}


def who(rt: Runtime, emp: str) -> Principal:
    return principal_of(rt, emp)


# ---------------------------------------------------------------------------------------------- master data


def test_a_curve_with_a_negative_revenue_is_refused_with_file_row_and_column_and_nothing_written(
        rt: Runtime, db: Database, clock: FakeClock, tmp_path: Path) -> None:
    bad = tmp_path / "curves.csv"
    bad.write_text("客户编码,合作起始年,第1年预期收入,第3年预期收入,第5年预期收入\n"
                   "C1,2025,1000000,3000000,5000000\n"
                   "C2,2025,1000000,-300,5000000\n"
                   "C9,2025,1,2,3\n", encoding="utf-8")
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "curves", bad, clock=clock, principal=ENGINE)
    text = str(err.value)
    assert f"{bad}:3" in text and "第3年预期收入" in text and "-300" in text
    assert f"{bad}:4" in text and "C9" in text
    with db.read() as tx:
        assert MasterData(tx).value_curves() == {}


def test_orders_naming_an_unknown_customer_are_refused_and_a_clean_file_is_upserted_by_customer_and_month(
        rt: Runtime, db: Database, clock: FakeClock, tmp_path: Path) -> None:
    bad = tmp_path / "orders.csv"
    bad.write_text("customer,month,amount_usd\nC1,2026-08,100\nCX,2026-08,5\nC1,2026年13月,5\n", encoding="utf-8")
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "orders", bad, clock=clock, principal=ENGINE)
    assert f"{bad}:3" in str(err.value) and "CX" in str(err.value) and f"{bad}:4" in str(err.value)
    good = tmp_path / "orders-ok.csv"
    good.write_text("customer,month,amount_usd\nC1,2026/8,100\nC1,2026-09-15,50\nC2,2026-10,7\n", encoding="utf-8")
    with db.session() as session:
        first = import_file(session, "orders", good, clock=clock, principal=ENGINE)
    with db.session() as session:
        again = import_file(session, "orders", good, clock=clock, principal=ENGINE)
    assert (first.inserted, again.unchanged) == (3, 3)
    with db.read() as tx:
        assert MasterData(tx).orders_between("2026-08", "2026-09") == {"C1": 150}
        assert MasterData(tx).first_order_months() == {"C1": "2026-08", "C2": "2026-10"}


# ---------------------------------------------------------------------------------------------- profiles


def launched(rt: Runtime) -> None:
    assert len(service.launch_profiles(rt, 2027, principal=who(rt, "E001"))) == 2  # CP and VP of the S customer
    assert service.launch_profiles(rt, 2027, principal=who(rt, "E001")) == []     # a repeat opens nothing


def test_a_profile_opens_prefilled_from_master_data_and_only_sales_management_may_launch(rt: Runtime) -> None:
    with pytest.raises(NotPermitted):
        service.launch_profiles(rt, 2027, principal=who(rt, "E011"))
    launched(rt)
    cp = service.show_profile(rt, "CP", "C1", 2027, principal=who(rt, "E011"))
    assert cp["content"]["organisation"]["decision_chain"] == ["K1", "K2"]
    assert cp["content"]["finance"]["annual_revenue_usd"] == "80000000"
    vp = service.show_profile(rt, "VP", "C1", 2027, principal=who(rt, "E010"))
    assert vp["content"]["overview"]["comparison"]["competitors"] == ["甲公司", "乙公司"]
    assert [c["weight"] for c in vp["comparison"]["criteria"]] == [9, 5, 9, 7, 3, 20, 4, 3, 8, 15, 10, 5, 2]
    with pytest.raises(NotVisible):
        service.show_profile(rt, "CP", "C1", 2027, principal=who(rt, "E020"))


def test_a_third_competitor_is_refused_naming_the_field_and_nothing_is_saved(rt: Runtime, db: Database) -> None:
    launched(rt)
    before = snapshot(db)
    with pytest.raises(ProfileInvalid, match=r"overview\.comparison\.competitors"):
        service.save(rt, "VP", "C1", 2027, {"overview": {"comparison": {"competitors": ["甲公司", "乙公司", "丙公司"]}}},
                     principal=who(rt, "E011"))
    with pytest.raises(ProfileInvalid, match=r"overview\.comparison\.scores\.us\.price"):
        service.save(rt, "VP", "C1", 2027, {"overview": {"comparison": {"competitors": ["甲公司"],
                                                                         "scores": {"us": {"price": 11}}}}},
                     principal=who(rt, "E011"))
    assert snapshot(db) == before


def test_a_decision_chain_that_differs_from_the_assessment_top_is_refused_with_the_names(rt: Runtime, db: Database) -> None:
    launched(rt)
    service.save(rt, "CP", "C1", 2027, {"organisation": {"decision_chain": ["K1", "K3"]}}, principal=who(rt, "E011"))
    before = snapshot(db)
    with pytest.raises(ActionFailed) as err:
        service.submit(rt, "CP", "C1", 2027, principal=who(rt, "E011"))
    assert "联系人2" in str(err.value) and "联系人3" in str(err.value)
    assert snapshot(db)["profile_doc"] == before["profile_doc"]


def test_a_review_by_someone_outside_the_owners_supervisor_chain_is_refused_and_rounds_are_kept(
        rt: Runtime, db: Database) -> None:
    launched(rt)
    service.submit(rt, "VP", "C1", 2027, principal=who(rt, "E011"))
    before = snapshot(db)
    with pytest.raises(ActionNotPermitted):
        service.accept(rt, "VP", "C1", 2027, principal=who(rt, "E011"))  # the author is not a reviewer
    assert snapshot(db)["profile_review"] == before["profile_review"]
    service.comment(rt, "VP", "C1", 2027, "swot", "补充威胁", principal=who(rt, "E010"))
    service.send_back(rt, "VP", "C1", 2027, principal=who(rt, "E010"))
    service.submit(rt, "VP", "C1", 2027, principal=who(rt, "E011"))
    service.send_back(rt, "VP", "C1", 2027, principal=who(rt, "E002"), comments={"summary": "再精炼"})
    service.submit(rt, "VP", "C1", 2027, principal=who(rt, "E011"))
    out = service.accept(rt, "VP", "C1", 2027, principal=who(rt, "E001"))
    assert out["state"] == "accepted"
    view = service.show_profile(rt, "VP", "C1", 2027, principal=who(rt, "E011"))
    assert [(r["round"], r["reviewer"], r["decision"]) for r in view["reviews"]] == [
        (1, "E010", "send_back"), (2, "E002", "send_back"), (3, "E001", "accept")]
    assert view["reviews"][0]["comments"] == {"swot": ["E010: 补充威胁"]}


def test_the_workbook_goes_out_and_back_and_a_bad_cell_is_reported_by_sheet_row_and_column(
        rt: Runtime, db: Database, tmp_path: Path) -> None:
    import openpyxl

    launched(rt)
    path = service.export_workbook(rt, "VP", "C1", 2027, tmp_path / "vp.xlsx", principal=who(rt, "E011"))
    wb = openpyxl.load_workbook(path)
    wb["comparison"]["D7"] = "很好"
    wb["products"]["C2"] = "价值市场：华南"
    wb.save(path)
    before = snapshot(db)
    with pytest.raises(ImportRejected, match=r"comparison.*7.*D"):
        service.import_workbook(rt, "VP", "C1", 2027, path, principal=who(rt, "E011"))
    assert snapshot(db) == before
    wb["comparison"]["D7"] = 9
    wb.save(path)
    service.import_workbook(rt, "VP", "C1", 2027, path, principal=who(rt, "E011"))
    view = service.show_profile(rt, "VP", "C1", 2027, principal=who(rt, "E011"))
    assert view["content"]["products"]["value_market"] == "价值市场：华南"
    assert view["comparison"]["totals"]["us"] == 18.0  # 20 × 9 / 10


def test_next_years_profile_starts_from_this_years_and_shows_the_diff(rt: Runtime, clock: FakeClock) -> None:
    launched(rt)
    service.save(rt, "CP", "C1", 2027, {"swot": {"threats": "价格战"}}, principal=who(rt, "E011"))
    service.launch_profiles(rt, 2028, principal=who(rt, "E001"))
    service.save(rt, "CP", "C1", 2028, {"swot": {"threats": "价格战；新进入者"}}, principal=who(rt, "E011"))
    view = service.show_profile(rt, "CP", "C1", 2028, principal=who(rt, "E011"))
    assert view["last_year"] == 2027
    assert view["diff_to_last_year"] == [{"section": "swot", "field": "threats", "before": "价格战",
                                          "after": "价格战；新进入者"}]
    assert [h["year"] for h in service.history(rt, "C1", "CP", principal=who(rt, "E010"))] == [2027, 2028]


# ---------------------------------------------------------------------------------------------- watch


def test_the_watch_is_kept_once_per_period_and_opens_one_retrospective_per_abnormal_loss(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    load(db, clock, orders=[{"customer": "C1", "month": "2026-08", "amount_usd": 500},
                            {"customer": "C2", "month": "2026-09", "amount_usd": 10}])
    with pytest.raises(NotPermitted):
        watch.run_watch(rt, "2026-Q4", principal=who(rt, "E011"))
    report = watch.run_watch(rt, "2026-Q4", principal=who(rt, "E001"))
    assert [r["customer"] for r in report["abnormal"]] == ["C1", "C2"]
    assert report["regions"] == [{"region": "R1", "region_name": "华南地区部", "offices": 1, "customers": 2, "new": 0,
                                  "lost": 2, "abnormal": 2, "shortfalls": 0, "orders_usd": 0,
                                  "previous_orders_usd": 510}]
    again = watch.run_watch(rt, "2026-Q4", principal=who(rt, "E001"))
    assert again["already"] is True
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'retrospective'")[0] == 2
        assert tx.one("SELECT COUNT(*) FROM watch_run")[0] == 1
    with pytest.raises(watch.BadPeriod):
        watch.run_watch(rt, "2026-Q5", principal=who(rt, "E001"))


def test_a_shortfall_against_the_value_curve_opens_the_tier_review_through_the_engine(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    load(db, clock, orders=[{"customer": "C2", "month": "2026-11", "amount_usd": 100}],
         curves=[{"customer": "C2", "start_year": 2026, "year1": 1000, "year3": 5000, "year5": 9000}])
    report = watch.run_watch(rt, "2026-Q4", principal=who(rt, "E001"))
    assert report["shortfalls"][0]["shortfall_share"] == 0.9
    with db.read() as tx:
        row = tx.one("SELECT state, data FROM flow_instance WHERE flow = 'tier_review'")
    assert row[0] == "open"
    assert json.loads(row[1])["trigger"]["kind"] == "value_curve_shortfall"


# ---------------------------------------------------------------------------------------------- JSON API


def api(rt: Runtime, emp: str) -> Any:
    from fastapi.testclient import TestClient

    from engine.auth import accounts
    from engine.web import WebSettings, create_app
    from tests.support.accounts import add_accounts

    add_accounts(rt.db, rt.clock, emp)
    token = accounts.issue_token(rt.db, emp, clock=rt.clock)
    client = TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_the_json_api_shows_saves_and_refuses_with_the_services_statuses(rt: Runtime, db: Database) -> None:
    launched(rt)
    with api(rt, "E011") as owner, api(rt, "E020") as peer, api(rt, "E010") as head:
        shown = owner.get("/api/profiles/VP/C1/2027")
        assert shown.status_code == 200 and shown.json()["comparison"]["parties"] == ["us", "甲公司", "乙公司"]
        third = owner.post("/api/profiles/VP/C1/2027/save",
                           json={"sections": {"overview": {"comparison": {"competitors": ["甲公司", "乙公司", "丙公司"]}}}})
        assert third.status_code == 422 and "overview.comparison.competitors" in third.json()["message"]
        assert peer.get("/api/profiles/VP/C1/2027").status_code == 403
        assert owner.post("/api/profiles/VP/C1/2027/submit").json()["state"] == "in_review"
        assert owner.post("/api/profiles/VP/C1/2027/accept", json={}).status_code == 403
        assert head.post("/api/profiles/VP/C1/2027/accept", json={}).json()["state"] == "accepted"
        assert [p["kind"] for p in owner.get("/api/profiles", params={"year": 2027}).json()] == ["CP", "VP"]
        assert owner.get("/api/watch/2026-Q4").status_code == 403
        report = head.get("/api/watch/2026-Q4")
        assert report.status_code == 200 and report.json()["preview"] is True
