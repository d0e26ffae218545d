"""ITR's part of `mcr simulate` (engine/simulate.py): the issues of a working day.

Each working day the account managers report about one issue per 40 customers (more in a busy
week, fewer in a quiet one), at random office hours. Each issue then goes the way issues go: the
submitter dispatches it within the hour, the handler accepts it within a few hours, one in ten is
escalated (the quota may refuse: that is counted), it is resolved within a day or two, the submitter
closes it, and when the callback rule asks for it the office's customer care calls the contact.
Every step is a service call as the employee who would make it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flows.itr import service

FAMILY = "itr"
ISSUES_PER_CUSTOMER_DAY = 1 / 40
_TYPES = ("technical",) * 6 + ("spare_parts", "spare_parts", "non_technical", "complaint")
_SEVERITIES = ("normal",) * 6 + ("minor", "minor", "major", "urgent")
_SOURCES = ("hotline", "hotline", "service_request", "sales_report", "online", "interview")
_TITLES = ("基站光模块温度告警", "核心网单板故障", "传输链路中断", "备件发货延迟", "合同付款争议", "软件升级失败",
           "网管告警风暴", "license 到期提醒", "现场服务态度投诉", "割接方案评审")
_SOLUTIONS = ("更换光模块，告警消失", "按指导书重启单板后恢复", "抢修光缆，链路恢复", "协调备件库加急发货",
              "与客户财务核对条款后解决", "回退版本后重新升级成功")


def _book(sim: Any) -> dict[str, Any]:
    """The customers with their contacts and the offices' customer-care agents, read once."""
    if FAMILY not in sim.state:
        with sim.db.read() as tx:
            customers = tx.all("SELECT code, owner_emp_no, office_code FROM customer ORDER BY code")
            contacts: dict[str, list[str]] = {}
            for code, customer in tx.all("SELECT code, customer_code FROM contact ORDER BY code"):
                contacts.setdefault(customer, []).append(code)
            care: dict[str, str] = {}
            for emp, unit, roles in tx.all("SELECT emp_no, unit_code, roles FROM employee ORDER BY emp_no"):
                if "customer_care" in (roles or "") and unit not in care:
                    care[unit] = emp
        sim.state[FAMILY] = {"customers": [c for c in customers if contacts.get(c[0])], "contacts": contacts,
                             "care": care}
    return sim.state[FAMILY]


def plan_day(sim: Any, day: date) -> None:
    if not sim.is_workday(day):
        return
    book = _book(sim)
    rng = sim.rng(FAMILY)
    expected = sim.customers * ISSUES_PER_CUSTOMER_DAY * rng.uniform(0.5, 1.5)
    count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
    for _ in range(count):
        code, owner, office = rng.choice(book["customers"])
        fields = {"customer": code, "contact": rng.choice(book["contacts"][code]), "type": rng.choice(_TYPES),
                  "severity": rng.choice(_SEVERITIES), "source": rng.choice(_SOURCES), "title": rng.choice(_TITLES),
                  "description": "客户来电反映问题，需跟进处理"}
        when = sim.office_hours(day, rng)
        sim.at(when, FAMILY, lambda f=fields, o=owner, of=office, w=when: _open(sim, f, o, of, w))


def _open(sim: Any, fields: dict[str, Any], submitter: str, office: str, when: Any) -> None:
    rng = sim.rng(FAMILY)
    view = service.open_issue(sim.runtime, principal=sim.principal(submitter), **fields)
    sim.at(sim.later(when, rng, hours=0.5), FAMILY, lambda: _dispatch(sim, view.id, submitter, office))


def _dispatch(sim: Any, issue: int, submitter: str, office: str) -> None:
    rng = sim.rng(FAMILY)
    view = service.dispatch(sim.runtime, issue, principal=sim.principal(submitter))
    sim.at(sim.later(sim.now(), rng, hours=2), FAMILY, lambda: _accept(sim, issue, view.handler, submitter, office))


def _current(sim: Any, issue: int, submitter: str) -> Any:
    """The issue as it is now: its time limit may have escalated it to another level and handler since
    the step was booked — the simulated people act on what they see, as users do."""
    return service.get_issue(sim.runtime, issue, principal=sim.principal(submitter))


def _accept(sim: Any, issue: int, handler: str, submitter: str, office: str) -> None:
    rng = sim.rng(FAMILY)
    view = _current(sim, issue, submitter)
    if view.state == "dispatched":
        handler = view.handler or handler
        service.accept(sim.runtime, issue, principal=sim.principal(handler), answer=False)
    elif view.state not in ("handling", "escalated_region", "escalated_hq"):
        return
    if view.state == "dispatched" and rng.random() < 0.1:
        sim.at(sim.later(sim.now(), rng, hours=4), FAMILY, lambda: _escalate(sim, issue, handler, submitter, office))
    else:
        sim.at(sim.later(sim.now(), rng, hours=12), FAMILY, lambda: _resolve(sim, issue, submitter, office))


def _escalate(sim: Any, issue: int, handler: str, submitter: str, office: str) -> None:
    rng = sim.rng(FAMILY)
    try:
        if _current(sim, issue, submitter).state == "handling":
            service.escalate(sim.runtime, issue, principal=sim.principal(handler), reason="arbitration_needed",
                             note="需要上级仲裁", answer=False)
    finally:  # refused by the quota or not, the issue still has to be resolved by someone
        sim.at(sim.later(sim.now(), rng, hours=16), FAMILY, lambda: _resolve(sim, issue, submitter, office))


def _resolve(sim: Any, issue: int, submitter: str, office: str) -> None:
    rng = sim.rng(FAMILY)
    view = _current(sim, issue, submitter)
    if view.state not in ("dispatched", "handling", "escalated_region", "escalated_hq") or not view.handler:
        return
    if view.state == "dispatched":  # redispatched by its time limit and not taken yet: the handler takes it now
        service.accept(sim.runtime, issue, principal=sim.principal(view.handler), answer=False)
    service.resolve(sim.runtime, issue, principal=sim.principal(view.handler), solution=rng.choice(_SOLUTIONS),
                    answer=False)
    sim.at(sim.later(sim.now(), rng, hours=6), FAMILY, lambda: _close(sim, issue, submitter, office))


def _close(sim: Any, issue: int, submitter: str, office: str) -> None:
    rng = sim.rng(FAMILY)
    view = service.close(sim.runtime, issue, principal=sim.principal(submitter))
    agent = _book(sim)["care"].get(office)
    if view.state == "callback_pending" and agent:
        score = rng.choice((5, 5, 4, 4, 4, 3, 2))
        sim.at(sim.later(sim.now(), rng, hours=8), FAMILY,
               lambda: service.record_callback(sim.runtime, issue, principal=sim.principal(agent), score=score,
                                               answer=False))
