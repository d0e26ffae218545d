"""The ITR tables (SQLModel): issues, dispatches, escalations, callback decisions and callbacks,
QA cases, the case library with its search tokens, and weekly score entries.

An issue's number IS its `itr_issue` flow instance id (`itr_issue.id = flow_instance.id`): the
instance holds the state and history, this row holds the business fields reports query. Rows are
written inside the flow step's own transaction (`ctx.tx.run(insert(...))`), never through a
second session. Instants are integer microseconds UTC (`*_us`), as in the engine tables.

Audit rows are never updated to hide what happened: a refused escalation is a row with
`decision = 'refused'`, a sampling decision keeps its seed and draw.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from engine.columns import text_col as _text, us_col as _us, int_col as _int, flag_col as _flag


class Issue(SQLModel, table=True):
    """A customer issue (客户问题): what was received, for whom, where it stands in the ladder."""

    __tablename__ = "itr_issue"
    __table_args__ = (Index("ix_itr_issue_office_opened", "office_code", "opened_us"),
                      Index("ix_itr_issue_customer_opened", "customer_code", "opened_us"),
                      Index("ix_itr_issue_handler", "handler_emp_no"),
                      # The my-work inbox reads open issues only (flows/itr/inbox.py): partial indexes hold
                      # the open rows alone, so they stay small however many issues are closed.
                      Index("ix_itr_issue_handler_open", "handler_emp_no", sqlite_where=text("resolved_us IS NULL AND valid"),
                            postgresql_where=text("resolved_us IS NULL AND valid")),
                      Index("ix_itr_issue_submitter_open", "submitter_emp_no", sqlite_where=text("closed_us IS NULL"),
                            postgresql_where=text("closed_us IS NULL")),
                      Index("ix_itr_issue_care_open", "care_rep_emp_no", sqlite_where=text("closed_us IS NULL"),
                            postgresql_where=text("closed_us IS NULL")),
                      # The report's "open now" figures per office (flows/itr/reports.py).
                      Index("ix_itr_issue_office_open", "office_code",
                            sqlite_where=text("resolved_us IS NULL AND valid"),
                            postgresql_where=text("resolved_us IS NULL AND valid")))

    id: int = Field(sa_column=Column(Integer, ForeignKey("flow_instance.id"), primary_key=True,
                                     autoincrement=False))
    title: str = Field(sa_column=_text(False))
    description: Optional[str] = Field(default=None, sa_column=_text())
    source: str = Field(sa_column=_text(False), description="客户声音 channel, see rules.SOURCES")
    type: str = Field(sa_column=_text(False), description="technical / non_technical / spare_parts / complaint")
    severity: str = Field(sa_column=_text(False), description="urgent / major / normal / minor")
    major_incident: bool = Field(default=False, sa_column=_flag())
    care_rep_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no"))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    contact_code: str = Field(sa_column=_text(False, fk="contact.code"))
    submitter_emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    office_code: str = Field(sa_column=_text(False, fk="org_unit.code"))
    region_code: Optional[str] = Field(default=None, sa_column=_text())
    team_code: Optional[str] = Field(default=None, sa_column=_text())
    contract: Optional[str] = Field(default=None, sa_column=_text())
    sla_hours: float = Field(sa_column=Column(Float, nullable=False))
    calendar: str = Field(sa_column=_text(False))
    level: str = Field(default="office", sa_column=_text(False), description="office / region / hq")
    queue: Optional[str] = Field(default=None, sa_column=_text())
    handler_emp_no: Optional[str] = Field(default=None, sa_column=_text())
    valid: bool = Field(default=True, sa_column=_flag(True))
    opened_us: int = Field(sa_column=_us())
    dispatched_us: Optional[int] = Field(default=None, sa_column=_us(True))
    resolved_us: Optional[int] = Field(default=None, sa_column=_us(True))
    resolved_level: Optional[str] = Field(default=None, sa_column=_text())
    closed_us: Optional[int] = Field(default=None, sa_column=_us(True))
    sla_due_us: Optional[int] = Field(default=None, sa_column=_us(True))
    sla_breaches: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    resolution: Optional[str] = Field(default=None, sa_column=_text())
    callback_required: Optional[bool] = Field(default=None, sa_column=Column(Boolean, nullable=True))


class Dispatch(SQLModel, table=True):
    """One dispatch to a queue (分派); `seq` 1 is the first one — a later row is a re-dispatch."""

    __tablename__ = "itr_dispatch"
    __table_args__ = (UniqueConstraint("issue_id", "seq", name="uq_itr_dispatch_seq"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    issue_id: int = Field(sa_column=_int(False, fk="itr_issue.id"))
    seq: int
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    queue: str = Field(sa_column=_text(False))
    level: str = Field(sa_column=_text(False))
    unit_code: str = Field(sa_column=_text(False))
    handler_emp_no: Optional[str] = Field(default=None, sa_column=_text())
    redispatch: bool = Field(default=False, sa_column=_flag())
    reason: Optional[str] = Field(default=None, sa_column=_text())


class Escalation(SQLModel, table=True):
    """An escalation decision (升级): granted, refused (quota) or overridden, with the quota figures."""

    __tablename__ = "itr_escalation"
    __table_args__ = (Index("ix_itr_escalation_unit_at", "unit_code", "at_us"),
                      Index("ix_itr_escalation_issue", "issue_id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    issue_id: int = Field(sa_column=_int(False, fk="itr_issue.id"))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    from_level: str = Field(sa_column=_text(False))
    to_level: str = Field(sa_column=_text(False))
    unit_code: str = Field(sa_column=_text(False), description="the unit whose quota it uses (office or region)")
    reason: str = Field(sa_column=_text(False))
    note: Optional[str] = Field(default=None, sa_column=_text())
    decision: str = Field(sa_column=_text(False), description="granted / refused / overridden")
    automatic: bool = Field(default=False, sa_column=_flag())
    counted: bool = Field(default=False, sa_column=_flag(), description="counts against the quota")
    override_by: Optional[str] = Field(default=None, sa_column=_text())
    override_why: Optional[str] = Field(default=None, sa_column=_text())
    qa_flag: bool = Field(default=False, sa_column=_flag())
    escalated_before: int = Field(default=0, description="counted escalations of the unit in the window before this one")
    unit_issues: int = Field(default=0, description="the unit's issues in the window")
    quota_limit: str = Field(sa_column=_text(False), description="e.g. 1/5")
    window_start_us: int = Field(sa_column=_us())
    window_end_us: int = Field(sa_column=_us())
    handler_emp_no: Optional[str] = Field(default=None, sa_column=_text())
    message: Optional[str] = Field(default=None, sa_column=_text())


class Counter(SQLModel, table=True):
    """One figure of one unit over one window (flows/itr/counters.py): kept in the steps' own
    transactions so the quota and the callback coverage never scan a period."""

    __tablename__ = "itr_counter"
    __table_args__ = (UniqueConstraint("metric", "unit_code", "start_us", "end_us", name="uq_itr_counter_window"),
                      # a report reads every figure of one unit and window at once (counters.report_figures)
                      Index("ix_itr_counter_unit_window", "unit_code", "start_us", "end_us"))

    id: Optional[int] = Field(default=None, primary_key=True)
    metric: str = Field(sa_column=_text(False), description="esc / issues:office / issues:region / cb_base / cb_done")
    unit_code: str = Field(sa_column=_text(False))
    start_us: int = Field(sa_column=_us())
    end_us: int = Field(sa_column=_us())
    n: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


class CallbackDecision(SQLModel, table=True):
    """Whether an issue must be called back before closing, and why — with the seed and the draw."""

    __tablename__ = "itr_callback_decision"
    __table_args__ = (Index("ix_itr_callback_decision_issue", "issue_id"),
                      Index("ix_itr_callback_decision_office", "office_code", "at_us"),
                      Index("ix_itr_callback_decision_contact", "contact_code"),
                      Index("ix_itr_callback_decision_owed", "office_code", "carry_pending", "carried_to", "id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    issue_id: int = Field(sa_column=_int(False, fk="itr_issue.id"))
    office_code: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
    required: bool = Field(sa_column=_flag())
    reason: str = Field(sa_column=_text(False))
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    draw: float = Field(sa_column=Column(Float, nullable=False))
    threshold: float = Field(sa_column=Column(Float, nullable=False))
    coverage_done: int = 0
    coverage_base: int = 0
    contact_code: str = Field(sa_column=_text(False))
    last_callback_us: Optional[int] = Field(default=None, sa_column=_us(True))
    not_before_us: Optional[int] = Field(default=None, sa_column=_us(True))
    carry_pending: bool = Field(default=False, sa_column=_flag(),
                                description="drawn but the contact was called recently: the next eligible issue takes the slot")
    carried_from: Optional[int] = Field(default=None, sa_column=_int())
    carried_to: Optional[int] = Field(default=None, sa_column=_int())


class Callback(SQLModel, table=True):
    """One callback attempt (回访): reached or not, and the customer's 1–5 score."""

    __tablename__ = "itr_callback"
    __table_args__ = (Index("ix_itr_callback_contact_at", "contact_code", "at_us"),
                      Index("ix_itr_callback_issue", "issue_id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    issue_id: int = Field(sa_column=_int(False, fk="itr_issue.id"))
    decision_id: Optional[int] = Field(default=None, sa_column=_int(fk="itr_callback_decision.id"))
    contact_code: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    reached: bool = Field(sa_column=_flag())
    score: Optional[int] = Field(default=None, sa_column=_int())
    note: Optional[str] = Field(default=None, sa_column=_text())


class QaCase(SQLModel, table=True):
    """A process-QA case (流程QA): a low-score retrospective (回溯) or an escalation override."""

    __tablename__ = "itr_qa_case"
    __table_args__ = (Index("ix_itr_qa_case_issue", "issue_id"),
                      Index("ix_itr_qa_case_status", "status"))

    id: Optional[int] = Field(default=None, primary_key=True)
    issue_id: int = Field(sa_column=_int(False, fk="itr_issue.id"))
    office_code: str = Field(sa_column=_text(False))
    kind: str = Field(sa_column=_text(False), description="low_score / escalation_override")
    opened_us: int = Field(sa_column=_us())
    opened_by: str = Field(sa_column=_text(False))
    reason: str = Field(sa_column=_text(False))
    score: Optional[int] = Field(default=None, sa_column=_int())
    escalation_id: Optional[int] = Field(default=None, sa_column=_int(fk="itr_escalation.id"))
    status: str = Field(default="open", sa_column=_text(False), description="open / decided")
    decision: Optional[str] = Field(default=None, sa_column=_text())
    accountable_emp_no: Optional[str] = Field(default=None, sa_column=_text())
    decided_by: Optional[str] = Field(default=None, sa_column=_text())
    decided_us: Optional[int] = Field(default=None, sa_column=_us(True))
    note: Optional[str] = Field(default=None, sa_column=_text())


class CaseEntry(SQLModel, table=True):
    """An entry of the case library: a solved case (案例) or a handling guide (问题处理指导书)."""

    __tablename__ = "itr_case"
    __table_args__ = (UniqueConstraint("code", name="uq_itr_case_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    kind: str = Field(sa_column=_text(False), description="case / guide")
    title: str = Field(sa_column=_text(False))
    body: str = Field(sa_column=_text(False))
    issue_type: Optional[str] = Field(default=None, sa_column=_text())
    tags: Optional[str] = Field(default=None, sa_column=_text())
    source_issue_id: Optional[int] = Field(default=None, sa_column=_int())
    created_us: int = Field(sa_column=_us())
    created_by: str = Field(sa_column=_text(False))


class CaseToken(SQLModel, table=True):
    """The search index of the case library: one row per (entry, token) with its weight.

    Tokens are CJK character bigrams (and single characters) plus lower-cased Latin words and
    numbers, so the same index works on SQLite and PostgreSQL without any extension.
    """

    __tablename__ = "itr_case_token"
    __table_args__ = (UniqueConstraint("case_id", "token", name="uq_itr_case_token"),
                      Index("ix_itr_case_token_token", "token"))

    id: Optional[int] = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=_int(False, fk="itr_case.id"))
    token: str = Field(sa_column=_text(False))
    weight: int


class WeeklyScore(SQLModel, table=True):
    """A weekly valid-issue entry: a shortfall of a big customer's team, or a negative score (负向扣分)."""

    __tablename__ = "itr_weekly_score"
    __table_args__ = (UniqueConstraint("key", name="uq_itr_weekly_score_key"),
                      Index("ix_itr_weekly_score_week", "week", "office_code"))

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(sa_column=_text(False), description="kind:week:customer:issue — an entry is written once")
    week: str = Field(sa_column=_text(False), description="ISO week, e.g. 2026-W48")
    kind: str = Field(sa_column=_text(False), description="shortfall / negative")
    office_code: str = Field(sa_column=_text(False))
    team_code: Optional[str] = Field(default=None, sa_column=_text())
    customer_code: str = Field(sa_column=_text(False))
    issue_id: Optional[int] = Field(default=None, sa_column=_int())
    valid_issues: Optional[int] = Field(default=None, sa_column=_int())
    required: Optional[int] = Field(default=None, sa_column=_int())
    points: int = 0
    reason: str = Field(sa_column=_text(False))
    created_us: int = Field(sa_column=_us())


ITR_TABLES = (Issue, Dispatch, Escalation, Counter, CallbackDecision, Callback, QaCase, CaseEntry, CaseToken, WeeklyScore)
