"""A small organisation for the survey scenarios and tests, written straight into the master-data
tables (`survey_org:` in a scenario; `insert_org(db, standard_org())` in a test).

Not used by the product at run time. The spec is plain data:

    units:      [{code, kind, name?, parent?, calendar?}]
    employees:  [{emp_no, unit, name?, email?, supervisor?, locale?, roles?}]
    customers:  [{code, office, owner, tier?, team?, backup?, revenue_usd?, name?}]
    contacts:   [{code, customer, level?, name?, title?, phone?, email?, owner?}]
    generate_contacts: [{customer, prefix?, senior: N, middle: N, base: N}]   # K-codes made up
    projects:   [{code, customer, level, name?, team?, closed?}]
    activities: [{code, type, customer, date, inviter, invitees: [...], title?, project?, status?}]
"""

from __future__ import annotations

from datetime import date
from typing import Any

LEVEL_TITLES = {"senior": "副总经理", "middle": "部门主任", "base": "工程师"}


def generated_contacts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for g in spec.get("generate_contacts") or []:
        prefix = g.get("prefix") or f"{g['customer']}-K"
        n = 0
        for level in ("senior", "middle", "base"):
            for _ in range(int(g.get(level, 0))):
                n += 1
                out.append({"code": f"{prefix}{n:02d}", "customer": g["customer"], "level": level,
                            "name": f"{g['customer']}联系人{n:02d}", "title": LEVEL_TITLES[level],
                            "phone": f"1380000{n:04d}"})
    return out


def insert_org(db: Any, spec: dict[str, Any]) -> None:
    from engine.masterdata.models import (ActivityInvitee, Contact, Customer, Employee, MarketingActivity, OrgUnit,
                                          Project)

    with db.session() as s:
        for u in spec.get("units") or []:
            s.add(OrgUnit(code=u["code"], kind=u["kind"], name=u.get("name", u["code"]), parent_code=u.get("parent"),
                          calendar=u.get("calendar"), timezone=u.get("timezone")))
            s.flush()
        for e in _supervisors_first(spec.get("employees") or []):
            roles = e.get("roles") or []
            s.add(Employee(emp_no=e["emp_no"], name=e.get("name", e["emp_no"]),
                           email=str(e.get("email") or f"{e['emp_no'].lower()}@corp.example").lower(),
                           unit_code=e["unit"], supervisor_emp_no=e.get("supervisor"), locale=e.get("locale", "zh-CN"),
                           roles=",".join(roles) if isinstance(roles, list) else str(roles)))
            s.flush()
        owners = {}
        for c in spec.get("customers") or []:
            owners[c["code"]] = c["owner"]
            s.add(Customer(code=c["code"], name=c.get("name", c["code"]), tier=c.get("tier", "B"), office_code=c["office"],
                           team_code=c.get("team"), owner_emp_no=c["owner"], backup_emp_no=c.get("backup"),
                           annual_revenue_usd=c.get("revenue_usd")))
        s.flush()
        for k in [*(spec.get("contacts") or []), *generated_contacts(spec)]:
            s.add(Contact(code=k["code"], customer_code=k["customer"], name=k.get("name", k["code"]),
                          title=k.get("title"), level=k.get("level"), phone=k.get("phone"),
                          email=k.get("email", f"{k['code'].lower()}@customer.example"),
                          owner_emp_no=k.get("owner") or owners.get(k["customer"])))
        s.flush()
        for p in spec.get("projects") or []:
            s.add(Project(code=p["code"], name=p.get("name", p["code"]), customer_code=p["customer"], level=p["level"],
                          team_code=p.get("team"), closed=bool(p.get("closed", False))))
        s.flush()
        for a in spec.get("activities") or []:
            day = a["date"] if isinstance(a["date"], date) else date.fromisoformat(str(a["date"]))
            s.add(MarketingActivity(code=a["code"], type=a["type"], title=a.get("title", a["code"]),
                                    customer_code=a["customer"], project_code=a.get("project"), activity_date=day,
                                    budget=a.get("budget", 10000), inviter_emp_no=a["inviter"],
                                    status=a.get("status", "done")))
            s.flush()
            for k in a.get("invitees") or []:
                s.add(ActivityInvitee(activity_code=a["code"], contact_code=k))
        s.commit()


def _supervisors_first(employees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done: set[str] = set()
    out: list[dict[str, Any]] = []
    pending = list(employees)
    while pending:
        ready = [e for e in pending if not e.get("supervisor") or e["supervisor"] in done
                 or all(e["supervisor"] != p["emp_no"] for p in pending)] or pending[:1]
        for e in ready:
            out.append(e)
            done.add(e["emp_no"])
            pending.remove(e)
    return out


def standard_org() -> dict[str, Any]:
    """HQ → R1 华南地区部 → O1 深圳代表处 (CN calendar) → T1; two customers; 40 + 6 contacts; projects; activities.

    C1 (S, USD 50 M/yr: a 30-contact sample) owned by E6 (supervisor E5, backup E7); C2 (A, USD 5 M/yr:
    10 contacts) owned by E9 (supervisor E5). Activities: A1 exhibition/forum ending Thu 2026-11-19
    (invitees C1-K01, C1-K09, C1-K21, inviter E6); A2 a company visit (no callback by default).
    """
    return {
        "units": [
            {"code": "HQ", "kind": "hq", "name": "公司总部", "calendar": "CN"},
            {"code": "R1", "kind": "region", "name": "华南地区部", "parent": "HQ"},
            {"code": "R2", "kind": "region", "name": "华东地区部", "parent": "HQ"},
            {"code": "O1", "kind": "office", "name": "深圳代表处", "parent": "R1", "calendar": "CN"},
            {"code": "O2", "kind": "office", "name": "上海代表处", "parent": "R2", "calendar": "CN"},
            {"code": "T1", "kind": "team", "name": "深圳运营商系统部", "parent": "O1"},
            {"code": "T2", "kind": "team", "name": "上海金融系统部", "parent": "O2"},
        ],
        "employees": [
            {"emp_no": "E1", "unit": "HQ", "name": "任总", "roles": ["supervisor"]},
            {"emp_no": "E2", "unit": "HQ", "name": "孙销管", "supervisor": "E1", "roles": ["sales_management"]},
            {"emp_no": "E4", "unit": "O1", "name": "王代表", "supervisor": "E1", "roles": ["supervisor"]},
            {"emp_no": "E5", "unit": "T1", "name": "张部长", "supervisor": "E4", "roles": ["supervisor"]},
            {"emp_no": "E6", "unit": "T1", "name": "刘经理", "supervisor": "E5", "roles": ["account_manager"]},
            {"emp_no": "E7", "unit": "T1", "name": "陈经理", "supervisor": "E5", "roles": ["account_manager"]},
            {"emp_no": "E8", "unit": "T2", "name": "Mary Lee", "supervisor": "E1", "locale": "en",
             "roles": ["supervisor"]},
            {"emp_no": "E9", "unit": "T2", "name": "John Wu", "supervisor": "E8", "locale": "en",
             "roles": ["account_manager"]},
        ],
        "customers": [
            {"code": "C1", "name": "深圳移动", "tier": "S", "office": "O1", "team": "T1", "owner": "E6",
             "backup": "E7", "revenue_usd": 50_000_000},
            {"code": "C2", "name": "上海农商银行", "tier": "A", "office": "O2", "team": "T2", "owner": "E9",
             "revenue_usd": 5_000_000},
        ],
        "generate_contacts": [
            {"customer": "C1", "senior": 8, "middle": 12, "base": 20},
            {"customer": "C2", "senior": 3, "middle": 4, "base": 5},
        ],
        "projects": [
            {"code": "P-REG", "name": "核心网扩容", "customer": "C1", "level": "region", "team": "T1"},
            {"code": "P-CO", "name": "全网云化", "customer": "C1", "level": "company", "team": "T1"},
            *({"code": f"P-OF{i:02d}", "name": f"代表处项目{i:02d}", "customer": "C1", "level": "office", "team": "T1"}
              for i in range(1, 31)),
            {"code": "P-SH", "name": "数据中心", "customer": "C2", "level": "region", "team": "T2"},
        ],
        "activities": [
            {"code": "A1", "type": "exhibition_forum", "title": "2026 全联接大会", "customer": "C1",
             "date": "2026-11-19", "inviter": "E6", "invitees": ["C1-K01", "C1-K09", "C1-K21"]},
            {"code": "A2", "type": "company_visit", "title": "公司参观", "customer": "C1", "date": "2026-11-19",
             "inviter": "E6", "invitees": ["C1-K02"]},
        ],
    }
