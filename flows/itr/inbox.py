"""ITR items of the my-work inbox (我的待办): issues I handle or waiting in my unit's queue, issues I
submitted that await my close,
callbacks to make (customer care), QA cases (process QA), major incidents I care for.

Every query reads open work only, through an index: the partial indexes `ix_itr_issue_handler_open`
(handler, of valid unresolved issues), `ix_itr_issue_submitter_open` and `ix_itr_issue_care_open`
(of issues not closed), `ix_flow_instance_flow_state`, `ix_itr_qa_case_status` — so the inbox does
not slow down as closed issues pile up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.auth import Principal
from engine.clock import from_us
from engine.inbox import InboxItem, inbox_provider, open_instances, state_title
from engine.instances import Concerned, concerned
from engine.masterdata.read import MasterData

FLOW = "itr_issue"
ACTIVE = ("received", "dispatched", "handling", "escalated_region", "escalated_hq")
HANDLING = ACTIVE[1:]
# The state by primary key, row by row: a join lets PostgreSQL's planner pick a hash join over every
# instance (closed ones included) once there are many; this look-up stays one index probe per open item.
_STATE = "(SELECT f.state FROM flow_instance f WHERE f.id = i.id)"


def _issue_item(rt: Any, p: Principal, kind: str, row: Any, detail: str = "") -> InboxItem:
    issue_id, title, state, due_us = row[0], row[1], row[2], row[3]
    return InboxItem(kind=kind, title=f"#{issue_id} {title}", flow=FLOW, instance_id=issue_id, state=state,
                     due=from_us(due_us) if due_us is not None else None, link=f"/issues/{issue_id}",
                     detail=detail or state_title(rt, FLOW, state, p.locale))


# Who may read a periodic review's instance page (engine/instances.py): its recipients and their chain.
# An issue's own page (/issues/{id}) has its rule in flows/itr/service.py.
concerned(Concerned("itr_review", people=("recipients",)))


@inbox_provider("itr")
def itr_items(rt: Any, p: Principal, now: datetime) -> list[InboxItem]:
    items: list[InboxItem] = []
    with rt.db.read() as tx:
        # Issues dispatched or escalated to me (分派/升级给我): the handler of the current level.
        handling = tx.all(
            f"SELECT i.id, i.title, {_STATE}, i.sla_due_us FROM itr_issue i "
            "WHERE i.handler_emp_no = :me AND i.resolved_us IS NULL AND i.valid", {"me": p.emp_no})
        items += [_issue_item(rt, p, "issue", r) for r in handling if r[2] in HANDLING]
        # Resolved issues I submitted: only I may close them (提交人关闭).
        to_close = tx.all(
            f"SELECT i.id, i.title, {_STATE}, NULL FROM itr_issue i "
            "WHERE i.submitter_emp_no = :me AND i.closed_us IS NULL AND i.resolved_us IS NOT NULL", {"me": p.emp_no})
        items += [_issue_item(rt, p, "close", r) for r in to_close if r[2] == "resolved"]
        # Major incidents I am the care representative of (重大事故客户关怀).
        cared = tx.all(
            f"SELECT i.id, i.title, {_STATE}, i.sla_due_us FROM itr_issue i "
            "WHERE i.care_rep_emp_no = :me AND i.closed_us IS NULL", {"me": p.emp_no})
        items += [_issue_item(rt, p, "major_incident", r) for r in cared if r[2] in ACTIVE]
        if p.has_role("issue_handler") and p.unit_code:
            # Issues waiting in my unit's queue with no handler named (分派/升级到本单位的队列).
            queued = tx.all(
                f"SELECT i.id, i.title, {_STATE}, i.sla_due_us, i.level, i.office_code, i.region_code FROM itr_issue i "
                "WHERE i.handler_emp_no IS NULL AND i.resolved_us IS NULL AND i.valid")
            unit = MasterData(tx).unit(p.unit_code)
            for r in queued:
                level, office, region = r[4], r[5], r[6]
                at_my_level = (level == "office" and office == p.unit_code) or \
                    (level == "region" and region == p.unit_code) or (level == "hq" and unit is not None and unit.kind == "hq")
                if at_my_level and r[2] in HANDLING:
                    items.append(_issue_item(rt, p, "queue", r))
        mine = MasterData(tx).subtree(p.unit_code) if p.unit_code and (p.has_role("customer_care") or p.is_qa) else set()
        if p.is_qa:
            cases = tx.all("SELECT q.id, q.issue_id, q.kind, q.office_code, q.opened_us, i.title FROM itr_qa_case q "
                           "JOIN itr_issue i ON i.id = q.issue_id WHERE q.status = 'open'")
            items += [InboxItem(kind="qa", title=f"#{c[1]} {c[5]}", flow=FLOW, instance_id=c[1], state="qa_review",
                                due=None, link=f"/issues/{c[1]}", detail=c[2]) for c in cases if c[3] in mine]
    if p.has_role("customer_care"):
        # Callbacks to make (回访) in my part of the organisation; the pending ones only.
        for iid, state, data, _subject in open_instances(rt, FLOW, ["callback_pending"]):
            if data.get("office") in mine:
                items.append(InboxItem(kind="callback", title=f"#{iid} {data.get('title', '')}", flow=FLOW,
                                       instance_id=iid, state=state, due=None, link=f"/issues/{iid}",
                                       detail=state_title(rt, FLOW, state, p.locale)))
    return items
