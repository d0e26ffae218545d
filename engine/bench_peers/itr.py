"""The ITR issue life cycle written by hand, as an application on a peer library would write it.

The peers (python-statemachine, transitions, SpiffWorkflow, raw sqlite3) keep the state; this module is
the application around them: the guards' reads and the rows each step writes, the same as mcr's step
(flows/itr/actions.py through engine/runtime.py) — issue row, history row, the SLA timer cancelled
and re-armed by hand, the report/quota counter rows, the dispatch/escalation/decision/callback rows and
one outbox row per mail. Each peer gives it a `Store`: raw sqlite3, SQLAlchemy Core or the SQLModel ORM.

Where the peer is spared work, it is said so here (it only flatters the peers): the SLA deadline is
wall time (mcr counts business hours on the office's calendar), the rules are constants (mcr reads the
pinned rules/itr.yaml), mails come from two small Jinja2 templates (mcr's are the shipped ones).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Protocol

import jinja2

SH = timezone(timedelta(hours=8))
HOUR_US = 3_600_000_000
OPEN_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq")
QUOTA = 0.2  # rules/itr.yaml quota.limit (office): at most 1 in 5 of an office's issues escalated per quarter
QUOTA_MIN = 1
CLOSE_MIN_SCORE = 3
URGENT_RATE = 1.0  # every urgent issue is called back
GAP_DAYS = 10

_OPEN = " UNION ALL ".join(f"SELECT id FROM flow_instance WHERE flow = 'itr_issue' AND state = '{s}'"
                           for s in OPEN_STATES)
_PLANNED = " UNION ALL ".join(f"SELECT id, flow, data FROM flow_instance WHERE flow = '{f}' AND state = '{s}'"
                              for f in ("project_callback", "activity_callback")
                              for s in ("pending", "escalated", "overdue"))
_ENV = jinja2.Environment(autoescape=False)
SUBJECT = _ENV.from_string("【{{ kind }}】#{{ id }} {{ data.title }}")
BODY = _ENV.from_string("{{ name }}，您好：\n\n问题 #{{ id }}（{{ data.customer_name }}，{{ data.contact_name }}）"
                        "{{ text }}\n状态：{{ state }}\n提交人：{{ data.submitter_name }}\n"
                        "处理人：{{ data.handler_name or '' }}\n\n此邮件由系统自动发送。\n")


class Store(Protocol):
    """What the application needs from its persistence layer, inside one open transaction."""

    def one(self, sql: str, params: dict[str, Any]) -> Any: ...
    def all(self, sql: str, params: dict[str, Any]) -> list[Any]: ...
    def insert(self, table: str, values: dict[str, Any], *, want_id: bool = False) -> Optional[int]: ...
    def update(self, table: str, key: int, values: dict[str, Any]) -> None: ...
    def bump(self, metric: str, unit: str, now_us: int, by: int = 1) -> None: ...
    def cancel_timers(self, instance_id: int, now_us: int, note: str) -> None: ...


@dataclass
class Step:
    """One event on one issue: what the guards and actions see, and what they leave to write."""

    store: Store
    instance_id: int
    state: str
    version: int
    data: dict[str, Any]
    event: str
    actor: str
    now_us: int
    payload: dict[str, Any] = field(default_factory=dict)
    mails: list[tuple[str, str, str, str]] = field(default_factory=list)  # (kind, recipient name, email, text)
    cache: dict[str, Any] = field(default_factory=dict)


def _quarter(now_us: int) -> tuple[int, int]:
    local = datetime.fromtimestamp(now_us / 1e6, SH)
    q = (local.month - 1) // 3
    start = datetime(local.year, 3 * q + 1, 1, tzinfo=SH)
    end = datetime(local.year + (q == 3), (3 * q + 3) % 12 + 1, 1, tzinfo=SH)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000


def _person(store: Store, emp_no: str) -> Any:
    return store.one("SELECT emp_no, name, email, unit_code, locale, roles FROM employee WHERE emp_no = :e",
                     {"e": emp_no})


def _least_loaded(store: Store, units: list[str], role: str) -> Any:
    marks = ", ".join(f":u{i}" for i in range(len(units)))
    people = store.all(f"SELECT emp_no, name, email FROM employee WHERE unit_code IN ({marks}) AND roles LIKE :r "
                       "ORDER BY emp_no", {**{f"u{i}": u for i, u in enumerate(units)}, "r": f"%{role}%"})
    emps = ", ".join(f":e{i}" for i in range(len(people)))
    load = dict(store.all(f"SELECT i.handler_emp_no, COUNT(*) FROM ({_OPEN}) f CROSS JOIN itr_issue i WHERE i.id = f.id "
                          f"AND i.handler_emp_no IN ({emps}) GROUP BY i.handler_emp_no",
                          {f"e{i}": p[0] for i, p in enumerate(people)}))
    return min(people, key=lambda p: (load.get(p[0], 0), p[0]))


def _subtree(store: Store, unit: str) -> list[str]:
    rows = store.all("SELECT code, parent_code FROM org_unit", {})
    out, frontier = [unit], [unit]
    while frontier:
        frontier = [c for c, p in rows if p in frontier]
        out += frontier
    return out


def _mail(step: Step, kind: str, person: Any, text: str) -> None:
    step.mails.append((kind, person[1], person[2], text))


# ---------------------------------------------------------------------------------------------- open (start)


def open_issue(store: Store, *, customer: str, contact: str, submitter: str, now_us: int, title: str,
               description: str, severity: str = "urgent", type_: str = "technical") -> int:
    """Intake: the master data read, the new instance with its history row and first SLA timer, the issue
    row, the report counters and the weekly score's first-issue check — one transaction (the caller's)."""
    cust = store.one("SELECT code, name, tier, office_code, team_code, owner_emp_no FROM customer WHERE code = :c",
                     {"c": customer})
    cont = store.one("SELECT code, name, email FROM contact WHERE code = :c", {"c": contact})
    sub = _person(store, submitter)
    office = store.one("SELECT code, parent_code, calendar FROM org_unit WHERE code = :u", {"u": cust[3]})
    region = store.one("SELECT code, parent_code FROM org_unit WHERE code = :u", {"u": office[1]})
    sla_hours = 8.0 if severity == "urgent" else 40.0
    due = now_us + int(sla_hours * HOUR_US)
    data = {"title": title, "description": description, "type": type_, "severity": severity, "source": "hotline",
            "customer": cust[0], "customer_name": cust[1], "contact": cont[0], "contact_name": cont[1],
            "contact_email": cont[2], "submitter": sub[0], "submitter_name": sub[1], "submitter_email": sub[2],
            "office": office[0], "region": region[0], "hq": region[1], "team": cust[4], "level": "office",
            "sla_hours": sla_hours, "sla_due": datetime.fromtimestamp(due / 1e6, SH).isoformat(), "calendar": "CN",
            "locale": "zh-CN", "major_incident": False, "handler": None, "handler_name": None}
    recent = store.one("SELECT COUNT(*) FROM itr_issue WHERE customer_code = :c AND valid = 1 AND opened_us >= :s "
                       "AND opened_us <= :n", {"c": cust[0], "s": now_us - 28 * 24 * HOUR_US, "n": now_us})[0]
    iid = store.insert("flow_instance", {"flow": "itr_issue", "flow_version": 2, "state": "received", "version": 1,
                                         "calendar": "CN", "locale": "zh-CN", "data": json.dumps(data, ensure_ascii=False),
                                         "created_us": now_us, "updated_us": now_us}, want_id=True)
    assert iid is not None
    store.insert("flow_history", {"instance_id": iid, "at_us": now_us, "actor": submitter, "event": "start",
                                  "from_state": None, "to_state": "received", "payload": "{}", "version": 1})
    _arm(store, iid, 1, "received", due)
    store.insert("itr_issue", {"id": iid, "title": title, "description": description, "source": "hotline",
                               "type": type_, "severity": severity, "major_incident": False,
                               "customer_code": cust[0], "contact_code": cont[0], "submitter_emp_no": sub[0],
                               "office_code": office[0], "region_code": region[0], "team_code": cust[4],
                               "sla_hours": sla_hours, "calendar": "CN", "level": "office", "valid": True,
                               "opened_us": now_us, "sla_due_us": due, "sla_breaches": 0})
    store.bump("issues:office", office[0], now_us)
    store.bump("issues:region", region[0], now_us)
    store.bump(f"r:valid:{type_}", office[0], now_us)
    store.bump(f"r:rvalid:{type_}", region[0], now_us)
    if severity == "urgent" and not recent:  # a key event without an issue in the 4 weeks before: a negative score
        week = datetime.fromtimestamp(now_us / 1e6, SH).strftime("%G-W%V")
        store.insert("itr_weekly_score", {"key": f"negative:{week}:{cust[0]}:{iid}", "week": week, "kind": "negative",
                                          "office_code": office[0], "team_code": cust[4], "customer_code": cust[0],
                                          "issue_id": iid, "points": -1, "reason": "重大问题或投诉，此前 4 周内无该客户的问题记录",
                                          "created_us": now_us})
    return iid


def _arm(store: Store, iid: int, version: int, state: str, due_us: int) -> None:
    store.insert("timer", {"instance_id": iid, "timer_key": f"{iid}:{version}:sla:0", "name": "sla",
                           "event": "sla_breached", "state": state, "due_us": due_us, "catch_up": "fire_late",
                           "status": "pending"})


# ---------------------------------------------------------------------------------------------- guards


def callback_needed(step: Step) -> bool:
    return bool(_decision(step)["required"])


def callback_unreached(step: Step) -> bool:
    return step.payload.get("reached") is False


def callback_score_ok(step: Step) -> bool:
    score = step.payload.get("score")
    return isinstance(score, int) and score >= CLOSE_MIN_SCORE


# ---------------------------------------------------------------------------------------------- actions


def dispatch(step: Step) -> None:
    s, d = step.store, step.data
    handler = _least_loaded(s, _subtree(s, d["office"]), "issue_handler")
    seq = int(s.one("SELECT COALESCE(MAX(seq), 0) FROM itr_dispatch WHERE issue_id = :i", {"i": step.instance_id})[0]) + 1
    s.insert("itr_dispatch", {"issue_id": step.instance_id, "seq": seq, "at_us": step.now_us, "actor": step.actor,
                              "queue": "technical", "level": "office", "unit_code": d["office"],
                              "handler_emp_no": handler[0], "redispatch": False, "reason": None})
    d.update(queue="technical", handler=handler[0], handler_name=handler[1], dispatches=seq)
    s.update("itr_issue", step.instance_id, {"queue": "technical", "handler_emp_no": handler[0],
                                             "dispatched_us": step.now_us})
    s.bump(f"r:disp1:{d['type']}", d["office"], step.now_us)
    _mail(step, "问题分派", handler, "已分派给您，请及时接收处理。")


def accept(step: Step) -> None:
    if step.actor != step.data.get("handler"):
        raise PermissionError(f"{step.actor} is not the handler of #{step.instance_id}")
    step.data["accepted_at"] = datetime.fromtimestamp(step.now_us / 1e6, SH).isoformat()


def escalate(step: Step) -> None:
    s, d = step.store, step.data
    office = d["office"]
    s.all("SELECT emp_no, name, email, roles FROM employee WHERE unit_code = :u ORDER BY emp_no", {"u": office})
    start, end = _quarter(step.now_us)
    window = {"u": office, "s": start, "e": end}
    before = s.one("SELECT n FROM itr_counter WHERE metric = 'esc' AND unit_code = :u AND start_us = :s AND end_us = :e",
                   window)[0]
    issues = s.one("SELECT n FROM itr_counter WHERE metric = 'issues:office' AND unit_code = :u AND start_us = :s "
                   "AND end_us = :e", window)[0]
    opened = s.one("SELECT opened_us FROM itr_issue WHERE id = :i", {"i": step.instance_id})[0]
    issues += 0 if start <= opened < end else 1
    if before + 1 > max(QUOTA_MIN, int(QUOTA * issues)):
        raise PermissionError(f"escalation quota of {office} used up ({before}/{issues})")
    handler = _least_loaded(s, [d["region"]], "issue_handler")
    due = step.now_us + int(d["sla_hours"] * HOUR_US)
    s.insert("itr_escalation", {"issue_id": step.instance_id, "at_us": step.now_us, "actor": step.actor,
                                "from_level": "office", "to_level": "region", "unit_code": office,
                                "reason": step.payload["reason"], "note": step.payload.get("note"), "decision": "granted",
                                "automatic": False, "counted": True, "qa_flag": False, "escalated_before": before,
                                "unit_issues": issues, "quota_limit": "1/5", "window_start_us": start,
                                "window_end_us": end, "handler_emp_no": handler[0]})
    s.bump("esc", office, step.now_us)
    s.bump(f"r:esc_granted:{d['type']}", office, step.now_us)
    s.bump(f"r:qesc:{d['type']}", office, step.now_us)
    s.update("itr_issue", step.instance_id, {"level": "region", "handler_emp_no": handler[0], "sla_due_us": due})
    d.update(level="region", handler=handler[0], handler_name=handler[1],
             sla_due=datetime.fromtimestamp(due / 1e6, SH).isoformat(),
             escalations=int(d.get("escalations", 0)) + 1)
    _mail(step, "问题升级", handler, f"已从代表处升级到地区部，由您处理。升级原因：{step.payload.get('note')}")


def resolve(step: Step) -> None:
    s, d = step.store, step.data
    s.update("itr_issue", step.instance_id, {"resolution": step.payload["solution"], "resolved_us": step.now_us,
                                             "resolved_level": d["level"]})
    d.update(resolution=step.payload["solution"], resolved_at=datetime.fromtimestamp(step.now_us / 1e6, SH).isoformat())
    _mail(step, "问题已解决", _person(s, d["submitter"]), f"已解决：{step.payload['solution']}。请确认后关闭。")


def _decision(step: Step) -> dict[str, Any]:
    if "decision" in step.cache:
        return step.cache["decision"]
    s, d = step.store, step.data
    contact = d["contact"]
    last = [s.one("SELECT MAX(at_us) FROM itr_callback WHERE contact_code = :c AND reached = 1", {"c": contact})[0],
            s.one("SELECT MAX(at_us) FROM survey_callback WHERE contact_code = :c AND reached = 1", {"c": contact})[0]]
    pending = s.one("SELECT COUNT(*) FROM itr_callback_decision d JOIN flow_instance f ON f.id = d.issue_id "
                    "WHERE d.contact_code = :c AND d.required = 1 AND f.flow = 'itr_issue' AND f.state = 'callback_pending' "
                    "AND d.issue_id <> :me", {"c": contact, "me": step.instance_id})[0]
    planned = [r for r in s.all(_PLANNED, {}) if json.loads(r[2]).get("contact") == contact]
    s.one("SELECT issue_id FROM itr_callback_decision WHERE office_code = :o AND carry_pending = 1 AND carried_to IS NULL "
          "AND issue_id <> :me ORDER BY id LIMIT 1", {"o": d["office"], "me": step.instance_id})
    start, end = _quarter(step.now_us)
    window = {"u": d["office"], "s": start, "e": end}
    base = s.one("SELECT n FROM itr_counter WHERE metric = 'cb_base' AND unit_code = :u AND start_us = :s AND end_us = :e",
                 window)[0]
    done = s.one("SELECT n FROM itr_counter WHERE metric = 'cb_done' AND unit_code = :u AND start_us = :s AND end_us = :e",
                 window)[0]
    latest = max((x for x in last if x is not None), default=None)
    free = not pending and not planned and (latest is None or step.now_us - latest >= GAP_DAYS * 24 * HOUR_US)
    required = free and d["severity"] == "urgent"
    decision = {"required": required, "reason": "urgent" if required else "not_sampled", "coverage_done": done,
                "coverage_base": base + 1, "contact": contact, "last_callback_us": latest}
    step.cache["decision"] = decision
    return decision


def close(step: Step) -> None:
    s, d = step.store, step.data
    if step.actor != d["submitter"]:
        raise PermissionError(f"{step.actor} is not the submitter of #{step.instance_id}")
    dec = _decision(step)
    decision_id = s.insert("itr_callback_decision", {
        "issue_id": step.instance_id, "office_code": d["office"], "at_us": step.now_us, "required": dec["required"],
        "reason": dec["reason"], "seed": 20260101, "draw": 0.5, "threshold": URGENT_RATE,
        "coverage_done": dec["coverage_done"], "coverage_base": dec["coverage_base"], "contact_code": dec["contact"],
        "last_callback_us": dec["last_callback_us"], "not_before_us": None, "carry_pending": False,
        "carried_from": None}, want_id=True)
    s.bump("cb_base", d["office"], step.now_us)
    if dec["required"]:
        s.bump("cb_done", d["office"], step.now_us)
    d["callback"] = {**dec, "decision_id": decision_id}
    if not dec["required"]:
        s.update("itr_issue", step.instance_id, {"callback_required": False, "closed_us": step.now_us})
        return
    s.update("itr_issue", step.instance_id, {"callback_required": True})
    agents = s.all("SELECT emp_no, name, email FROM employee WHERE unit_code = :u AND roles LIKE '%customer_care%' "
                   "ORDER BY emp_no", {"u": d["office"]})
    for agent in agents:
        _mail(step, "回访请求", agent, "已解决，请在 10 天内回访客户联系人并记录评分。")


def record_callback(step: Step) -> None:
    s, d = step.store, step.data
    handlers = {r[0] for r in s.all("SELECT handler_emp_no FROM itr_dispatch WHERE issue_id = :i UNION "
                                    "SELECT handler_emp_no FROM itr_escalation WHERE issue_id = :i",
                                    {"i": step.instance_id})}
    if step.actor in handlers:
        raise PermissionError(f"{step.actor} handled #{step.instance_id}: no callback by a handler")
    s.one("SELECT MAX(at_us) FROM itr_callback WHERE contact_code = :c AND reached = 1", {"c": d["contact"]})
    s.one("SELECT MAX(at_us) FROM survey_callback WHERE contact_code = :c AND reached = 1", {"c": d["contact"]})
    score = int(step.payload["score"])
    s.insert("itr_callback", {"issue_id": step.instance_id, "decision_id": d["callback"]["decision_id"],
                              "contact_code": d["contact"], "at_us": step.now_us, "actor": step.actor, "reached": True,
                              "score": score, "note": None})
    d["callback"].update(score=score, attempts=1, called_back_by=step.actor)
    kind = d["type"]
    s.bump(f"r:score_n:{kind}", d["office"], step.now_us)
    s.bump(f"r:score_sum:{kind}", d["office"], step.now_us, score)
    s.update("itr_issue", step.instance_id, {"closed_us": step.now_us})
    for metric in ("closed", "closed_ontime", "closed_cb", "closed_urgent", "closed_urgent_cb"):
        s.bump(f"r:{metric}:{kind}", d["office"], step.now_us)


ACTIONS = {"dispatch": dispatch, "accept": accept, "escalate": escalate, "resolve": resolve, "close": close,
           "callback": record_callback}


# ---------------------------------------------------------------------------------------------- the step's end


def finish(step: Step, target: str, *, data_text: Optional[str] = None) -> dict[str, Any]:
    """What every step writes after its action: the instance (state, version, data), the history row, the
    state's SLA timer cancelled and the next one armed, the mails rendered into the outbox."""
    s = step.store
    version = step.version + 1
    ended = target in ("closed", "rejected")
    instance = {"state": target, "version": version, "updated_us": step.now_us,
                "data": data_text if data_text is not None else json.dumps(step.data, ensure_ascii=False),
                **({"ended_us": step.now_us} if ended else {})}
    s.insert("flow_history", {"instance_id": step.instance_id, "at_us": step.now_us, "actor": step.actor,
                              "event": step.event, "from_state": step.state, "to_state": target,
                              "payload": json.dumps(step.payload, ensure_ascii=False), "version": version})
    s.cancel_timers(step.instance_id, step.now_us, f"left state '{step.state}' on '{step.event}'")
    if target in OPEN_STATES:
        due = int(datetime.fromisoformat(step.data["sla_due"]).timestamp() * 1_000_000)
        _arm(s, step.instance_id, version, target, due)
    for kind, name, email, text in step.mails:
        s.insert("outbox", {"instance_id": step.instance_id, "template": kind, "locale": "zh-CN", "recipient": email,
                            "subject": SUBJECT.render(kind=kind, id=step.instance_id, data=step.data),
                            "body": BODY.render(name=name, id=step.instance_id, data=step.data, text=text, state=target),
                            "status": "pending", "attempts": 0, "next_attempt_us": step.now_us,
                            "created_us": step.now_us})
    return instance
