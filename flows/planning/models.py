"""The planning and care tables (SQLModel) — migrations flows/planning/migrations/0004_planning.py, care_visits.py.

* `planning_submission` — one accepted kit workbook (`mcr planning submit` / a half-year revision);
* `planning_objective`  — rows of 客户关系目标任务书 (objective task book);
* `planning_activity`   — rows of 客户关系公关计划 (action plan): the budget roll-up reads these;
* `planning_revision`   — the half-year revisions (集中修订); unique per team, year and half, so a
                          second revision in the same half cannot be recorded, by construction;
* `planning_win_rate`   — a customer's win rate per period, watched for general (C) customers;
* `care_visit`          — logged visits and sponsor meetings (a visit resets the cadence clock);
* `care_reminder`       — every care reminder ever put in a digest, unique per item and recipient,
                          so no reminder is ever sent twice, whatever re-runs;
* `care_cadence_start`  — when the visit clock of a never-visited contact started (first scan);
* `care_coverage`       — since when an employee covers a customer (rotation after 4 years).

Rows are never deleted: a resubmitted or revised plan marks the older rows `superseded_by`.
Business keys (team/customer/contact codes, emp_no) refer to the master-data tables.
"""

from __future__ import annotations

from datetime import date
from typing import Optional

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import text_col as _text, us_col as _us

import engine.masterdata.models  # noqa: F401  - the tables these refer to


class PlanSubmission(SQLModel, table=True):
    """One accepted workbook of a team's kit (or of a half-year revision)."""

    __tablename__ = "planning_submission"
    __table_args__ = (Index("ix_planning_submission_team_year", "team_code", "year"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kit_instance_id: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    team_code: str = Field(sa_column=_text(False, fk="org_unit.code"))
    year: int
    file: str = Field(sa_column=_text(False))
    sections: str = Field(sa_column=_text(False), description="comma list: assessment, objectives, plan")
    revision: int = Field(default=0, description="0 = the kit; n = the n-th half-year revision")
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())


class PlanObjective(SQLModel, table=True):
    """A row of 客户关系目标任务书: market target → relationship target."""

    __tablename__ = "planning_objective"
    __table_args__ = (Index("ix_planning_objective_team_year", "team_code", "year"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("planning_submission.id"), nullable=False))
    team_code: str = Field(sa_column=_text(False, fk="org_unit.code"))
    year: int
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    market_target: Optional[str] = Field(default=None, sa_column=_text())
    relationship_target: str = Field(sa_column=_text(False))
    target_count: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    target_level: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    owner_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no"))
    due_date: Optional[date] = None
    sheet_row: int
    superseded_by: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))


class PlanActivity(SQLModel, table=True):
    """A row of 客户关系公关计划: a marketing activity supporting a project, with its budget."""

    __tablename__ = "planning_activity"
    __table_args__ = (Index("ix_planning_activity_team_year", "team_code", "year"),
                      Index("ix_planning_activity_owner", "owner_emp_no", "planned_date"))

    id: Optional[int] = Field(default=None, primary_key=True)
    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("planning_submission.id"), nullable=False))
    team_code: str = Field(sa_column=_text(False, fk="org_unit.code"))
    year: int
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    project_code: str = Field(sa_column=_text(False, fk="project.code"))
    activity_type: str = Field(sa_column=_text(False), description="ActivityType")
    title: str = Field(sa_column=_text(False))
    planned_date: date
    budget: int = Field(sa_column=Column(BigInteger, nullable=False))
    contact_codes: str = Field(default="[]", sa_column=_text(False), description="JSON list")
    owner_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no"))
    sheet_row: int
    superseded_by: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))


class PlanRevision(SQLModel, table=True):
    """A half-year revision of a team's objectives (集中修订) — at most one per half, by the unique key."""

    __tablename__ = "planning_revision"
    __table_args__ = (UniqueConstraint("team_code", "year", "half", "seq", name="uq_planning_revision_half"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_code: str = Field(sa_column=_text(False, fk="org_unit.code"))
    year: int
    half: str = Field(sa_column=_text(False), description="H1 or H2")
    seq: int = Field(default=1, description="1..revisions_per_half")
    submission_id: int = Field(sa_column=Column(Integer, ForeignKey("planning_submission.id"), nullable=False))
    reason: str = Field(sa_column=_text(False))
    budget_before: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    budget_after: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())


class WinRate(SQLModel, table=True):
    """A customer's win rate (赢率) for a period such as 2027-Q1, as reported by the office."""

    __tablename__ = "planning_win_rate"
    __table_args__ = (UniqueConstraint("customer_code", "period", name="uq_planning_win_rate"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    period: str = Field(sa_column=_text(False))
    rate_pct: float = Field(sa_column=Column(Float, nullable=False))
    bids: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    wins: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())


class Visit(SQLModel, table=True):
    """A logged visit of a key contact (拜访) or a sponsor meeting (赞助人会面)."""

    __tablename__ = "care_visit"
    __table_args__ = (Index("ix_care_visit_contact", "contact_code", "visit_date"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contact_code: str = Field(sa_column=_text(False, fk="contact.code"))
    emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    kind: str = Field(default="visit", sa_column=_text(False), description="visit | sponsor_meeting")
    visit_date: date
    place: Optional[str] = Field(default=None, sa_column=_text(),
                                 description="office | private (办公室拜访 / 私人拜访), reported as a ratio")
    note: Optional[str] = Field(default=None, sa_column=_text())
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())


class Reminder(SQLModel, table=True):
    """One care reminder put in one person's daily digest; the unique key makes it once, ever."""

    __tablename__ = "care_reminder"
    __table_args__ = (UniqueConstraint("item_key", "recipient_emp_no", name="uq_care_reminder_item"),
                      Index("ix_care_reminder_day", "digest_day"))

    id: Optional[int] = Field(default=None, primary_key=True)
    item_key: str = Field(sa_column=_text(False))
    recipient_emp_no: str = Field(sa_column=_text(False))
    kind: str = Field(sa_column=_text(False), description="birthday | festival | key_event | visit | sponsor | rotation")
    digest_day: date
    digest_instance_id: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    at_us: int = Field(sa_column=_us())


class CadenceStart(SQLModel, table=True):
    """When the visit clock of a never-visited contact (or sponsor pairing) started: written by the
    first scan that saw it, so an old import does not make everything overdue on the first day."""

    __tablename__ = "care_cadence_start"
    __table_args__ = (UniqueConstraint("cadence_key", name="uq_care_cadence_start"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    cadence_key: str = Field(sa_column=_text(False), description="visit:<contact> | sponsor:<emp>:<contact>")
    started: date
    at_us: int = Field(sa_column=_us())


class Coverage(SQLModel, table=True):
    """Since when an employee covers a customer, when known better than the master-data audit log."""

    __tablename__ = "care_coverage"
    __table_args__ = (UniqueConstraint("customer_code", "emp_no", name="uq_care_coverage"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    since: date
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())


class Launch(SQLModel, table=True):
    """One launch of the year's planning kits from the sales-management page (flows/planning/progress.py).

    Unique per year and attempt: two managers confirming at once cannot start two launches, by
    construction; a form posted twice (one `client_event_id`) finds its launch again."""

    __tablename__ = "planning_launch"
    __table_args__ = (UniqueConstraint("year", "attempt", name="uq_planning_launch_attempt"),
                      UniqueConstraint("client_event_id", name="uq_planning_launch_client_event"))

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int
    attempt: int
    status: str = Field(sa_column=_text(False))        # running | done | failed
    teams: int = Field(default=0)
    actor: str = Field(sa_column=_text(False))
    client_event_id: Optional[str] = Field(default=None, sa_column=_text())
    worker: Optional[str] = Field(default=None, sa_column=_text())
    started_us: int = Field(sa_column=_us())
    finished_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    note: Optional[str] = Field(default=None, sa_column=_text())


class LaunchTask(SQLModel, table=True):
    """The Prefect task of one team in a launch: pending → running → completed | failed."""

    __tablename__ = "planning_launch_task"
    __table_args__ = (UniqueConstraint("launch_id", "team_code", name="uq_planning_launch_task_team"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    launch_id: int = Field(sa_column=Column(Integer, ForeignKey("planning_launch.id"), nullable=False))
    seq: int
    team_code: str = Field(sa_column=_text(False))
    state: str = Field(sa_column=_text(False))         # pending | running | completed | failed
    outcome: Optional[str] = Field(default=None, sa_column=_text())   # issued | already
    instance_id: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    runs: int = Field(default=0)
    message: Optional[str] = Field(default=None, sa_column=_text())
    updated_us: int = Field(sa_column=_us())
