"""A small, fixed organisation for planning and care tests, replay scenarios and docs examples.

It goes through the master-data importer (`engine.masterdata.importer.import_table`) like any
file would, so it can never hold data an import would refuse. Shape (深圳代表处, CN calendar):

    HQ 公司总部 ─ R-S 华南地区部 ─ O-SZ 深圳代表处 ─ T-SZ-OP 运营商系统部  C001 深圳移动 (S), C002 深圳电信 (A)
                                                  ├ T-SZ-FI 金融系统部    C003 深圳农商银行 (A)
                                                  └ T-SZ-EG 政企系统部    C004 深圳地铁 (B), C005 深圳水务 (C)  → no kit

People: E001 CEO (sponsor), E002 销售管理部, E010 region president, E020 office head, team heads
E100/E200/E300 (系统部部长) with account managers E101, E102, E201, E301. Contact K001 was born on
29 Feb 1976; E010 sponsors K001 (monthly), E020 sponsors K003 (bimonthly).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine.auth.principal import Principal
from engine.clock import Clock
from engine.masterdata.importer import Table, import_table
from engine.masterdata.layouts import LAYOUTS

KINDS = ("org", "customers", "contacts", "assessments", "sponsors", "projects", "activities")


def sample_records(year: int = 2027) -> dict[str, list[dict[str, Any]]]:
    """The sample organisation; project decision dates fall in planning year `year`."""

    def emp(code: str, name: str, unit: str, sup: str | None, roles: str, locale: str = "zh-CN") -> dict[str, Any]:
        return {"kind": "employee", "code": code, "name": name, "unit_code": unit, "supervisor_emp_no": sup,
                "email": f"{code.lower()}@example.com", "locale": locale, "roles": roles}

    org = [
        {"kind": "hq", "code": "HQ", "name": "公司总部", "calendar": "CN", "timezone": "Asia/Shanghai"},
        {"kind": "region", "code": "R-S", "name": "华南地区部", "parent_code": "HQ"},
        {"kind": "office", "code": "O-SZ", "name": "深圳代表处", "parent_code": "R-S", "calendar": "CN",
         "timezone": "Asia/Shanghai"},
        {"kind": "team", "code": "T-SZ-OP", "name": "深圳运营商系统部", "parent_code": "O-SZ"},
        {"kind": "team", "code": "T-SZ-FI", "name": "深圳金融系统部", "parent_code": "O-SZ"},
        {"kind": "team", "code": "T-SZ-EG", "name": "深圳政企系统部", "parent_code": "O-SZ"},
        emp("E001", "任总", "HQ", None, "supervisor,sponsor"),
        emp("E002", "孙销管", "HQ", "E001", "sales_management"),
        emp("E010", "李总裁", "R-S", "E001", "supervisor,sponsor"),
        emp("E020", "王代表", "O-SZ", "E010", "supervisor,sponsor"),
        emp("E100", "张部长", "T-SZ-OP", "E020", "supervisor,account_manager"),
        emp("E101", "陈经理", "T-SZ-OP", "E100", "account_manager"),
        emp("E102", "刘经理", "T-SZ-OP", "E100", "account_manager"),
        emp("E200", "赵部长", "T-SZ-FI", "E020", "supervisor,account_manager"),
        emp("E201", "周经理", "T-SZ-FI", "E200", "account_manager"),
        emp("E300", "吴部长", "T-SZ-EG", "E020", "supervisor,account_manager"),
        emp("E301", "郑经理", "T-SZ-EG", "E300", "account_manager"),
    ]
    customers = [
        {"code": "C001", "name": "深圳移动", "industry": "运营商", "tier": "S", "office_code": "O-SZ",
         "team_code": "T-SZ-OP", "owner_emp_no": "E101", "backup_emp_no": "E102", "locked_competitors": "爱立信; 诺基亚",
         "key_events": "03-15 年度采购大会"},
        {"code": "C002", "name": "深圳电信", "industry": "运营商", "tier": "A", "office_code": "O-SZ",
         "team_code": "T-SZ-OP", "owner_emp_no": "E102", "backup_emp_no": "E101", "locked_competitors": "中兴"},
        {"code": "C003", "name": "深圳农商银行", "industry": "金融", "tier": "A", "office_code": "O-SZ",
         "team_code": "T-SZ-FI", "owner_emp_no": "E201", "backup_emp_no": "E200", "locked_competitors": "思科"},
        {"code": "C004", "name": "深圳地铁集团", "industry": "政企", "tier": "B", "office_code": "O-SZ",
         "team_code": "T-SZ-EG", "owner_emp_no": "E301"},
        {"code": "C005", "name": "深圳水务集团", "industry": "政企", "tier": "C", "office_code": "O-SZ",
         "team_code": "T-SZ-EG", "owner_emp_no": "E301"},
    ]
    contacts = [
        {"code": "K001", "customer_code": "C001", "name": "黄总", "title": "总经理", "level": "senior",
         "birthday": "1976-02-29", "decision_roles": "decider;approver", "owner_emp_no": "E101",
         "backup_emp_no": "E102"},
        {"code": "K002", "customer_code": "C001", "name": "林总", "title": "首席信息官", "level": "senior",
         "birthday": "1980-03-15", "decision_roles": "influencer", "owner_emp_no": "E102"},
        {"code": "K003", "customer_code": "C002", "name": "何总", "title": "副总经理", "level": "senior",
         "birthday": "1975-06-10", "decision_roles": "decider", "owner_emp_no": "E102", "backup_emp_no": "E101"},
        {"code": "K004", "customer_code": "C003", "name": "罗行长", "title": "行长", "level": "senior",
         "birthday": "1982-09-12", "decision_roles": "decider", "owner_emp_no": "E201"},
        {"code": "K005", "customer_code": "C004", "name": "梁主任", "title": "信息中心主任", "level": "middle",
         "birthday": "1985-12-01", "decision_roles": "influencer", "owner_emp_no": "E301"},
        {"code": "K006", "customer_code": "C005", "name": "宋科长", "title": "科长", "level": "base",
         "owner_emp_no": "E301"},
    ]
    assessments = [
        {"contact_code": "K001", "year": year - 1, "acceptance": 1, "acceptance_evidence": "参加公司参观",
         "decision_support": 0, "decision_support_evidence": "评审会中立", "support_us": 1},
        {"contact_code": "K002", "year": year - 1, "acceptance": 2, "acceptance_evidence": "主动介绍决策流程",
         "information": 1, "information_evidence": "提前告知招标时间"},
    ]
    sponsors = [
        {"sponsor_emp_no": "E010", "contact_code": "K001", "cadence": "monthly", "accepted": "yes"},
        {"sponsor_emp_no": "E020", "contact_code": "K003", "cadence": "bimonthly", "accepted": "yes"},
    ]
    projects = [
        {"code": "P001", "name": "深圳移动核心网扩容", "customer_code": "C001", "level": "region",
         "decision_date": f"{year}-09-30", "team_code": "T-SZ-OP"},
        {"code": "P002", "name": "深圳移动5G专网", "customer_code": "C001", "level": "office",
         "decision_date": f"{year}-05-31", "team_code": "T-SZ-OP"},
        {"code": "P003", "name": "深圳电信云化改造", "customer_code": "C002", "level": "office",
         "decision_date": f"{year}-06-30", "team_code": "T-SZ-OP"},
        {"code": "P004", "name": "农商银行数据中心", "customer_code": "C003", "level": "office",
         "decision_date": f"{year}-08-31", "team_code": "T-SZ-FI"},
        {"code": "P005", "name": "地铁专网", "customer_code": "C004", "level": "office",
         "decision_date": f"{year}-10-31", "team_code": "T-SZ-EG"},
        {"code": "P009", "name": "深圳移动旧项目", "customer_code": "C001", "level": "office",
         "decision_date": f"{year - 1}-06-30", "team_code": "T-SZ-OP", "closed": "yes"},
    ]
    return {"org": org, "customers": customers, "contacts": contacts, "assessments": assessments,
            "sponsors": sponsors, "projects": projects}


def _table(kind: str, records: list[dict[str, Any]]) -> Table:
    layout = [c for c in LAYOUTS[kind] if any(c.field in r for r in records)]
    rows = [(i + 2, [r.get(c.field) for c in layout]) for i, r in enumerate(records)]
    return Table(f"sample:{kind}", [c.header_en for c in layout], 1, rows)


def load_records(session: Session, records: dict[str, list[dict[str, Any]]], *, clock: Clock,
                 principal: Principal | None = None) -> None:
    """Import the records kind by kind (org first) through the master-data importer; commits."""
    for kind in KINDS:
        rows = records.get(kind) or []
        if rows:
            import_table(session, kind, _table(kind, rows), clock=clock,
                         principal=principal or Principal.engine("import"))
            session.commit()


def load_sample(db: Any, clock: Clock, year: int = 2027, extra: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Load the sample organisation (plus `extra` rows, upserted by code) into `db`."""
    records = sample_records(year)
    with db.session() as session:
        load_records(session, records, clock=clock)
        if extra:
            load_records(session, extra, clock=clock)


FLOWS_DIR = __import__("pathlib").Path(__file__).resolve().parent


def planning_runtime(db: Any, clock: Clock, *, year: int = 2027, extra: dict[str, list[dict[str, Any]]] | None = None,
                     sample: bool = True) -> Any:
    """A runtime over the planning flows only (flows/planning), with the sample organisation loaded."""
    from engine.definition import load_definitions
    from engine.runtime import Runtime

    runtime = Runtime(db, load_definitions(FLOWS_DIR), clock=clock, worker_id="test")
    runtime.register_definitions()
    if sample:
        load_sample(db, clock, year, extra)
    return runtime
