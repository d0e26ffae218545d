"""The survey tables (SQLModel): project sampling draws, callbacks, annual sample lists and
third-party survey results (客户满意度调查).

Rows are written inside the flow step's own transaction (`ctx.tx.run(insert(...))`) or, for the
sampling draw, in one small transaction of its own; never through a second session during a step.
Master data is referred to by its business keys (customer, contact, project, activity codes,
`emp_no`) like everywhere else in mcr. Instants are integer microseconds UTC (`*_us`).

Audit rows are never rewritten to hide what happened: a draw keeps its seed, rate and draw
value; a callback that did not reach the customer is a row with `reached = false`.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import text_col as _text, us_col as _us, int_col as _int


class ProjectDraw(SQLModel, table=True):
    """The sampling decision for one closed project (抽样记录): drawn or not, and why.

    One row per project, ever: closing the project again reuses the first decision.
    """

    __tablename__ = "survey_project_draw"
    __table_args__ = (UniqueConstraint("project_code", name="uq_survey_project_draw_project"),
                      Index("ix_survey_project_draw_at", "at_us"))

    id: Optional[int] = Field(default=None, primary_key=True)
    project_code: str = Field(sa_column=_text(False, fk="project.code"))
    customer_code: str = Field(sa_column=_text(False))
    level: str = Field(sa_column=_text(False), description="the project's level when it closed")
    selected: bool = Field(sa_column=Column(Boolean, nullable=False))
    reason: str = Field(sa_column=_text(False), description="big_project / sampled / not_sampled")
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    rate: float = Field(sa_column=Column(Float, nullable=False))
    draw: float = Field(sa_column=Column(Float, nullable=False), description="sha256(seed:project) in [0, 1)")
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    instance_id: Optional[int] = Field(default=None, sa_column=_int(fk="flow_instance.id"))
    period: Optional[str] = Field(default=None, sa_column=_text(),
                                  description="the sampling period (2026-12); none for big projects")
    coverage_done: Optional[int] = Field(default=None, sa_column=_int(),
                                         description="smaller projects of the period called back before this one")
    coverage_base: Optional[int] = Field(default=None, sa_column=_int(),
                                         description="smaller projects of the period closed, this one included")


class SamplePeriod(SQLModel, table=True):
    """The running counts of one sampling period (smaller projects closed / called back), kept in the
    closing transaction so the ≥ 10 % share is decided without scanning the period's draws."""

    __tablename__ = "survey_sample_period"
    __table_args__ = (UniqueConstraint("period", name="uq_survey_sample_period"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    period: str = Field(sa_column=_text(False))
    closed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    selected: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class ProjectAssessment(SQLModel, table=True):
    """The team's delivery assessment of a project (1–5), the other part of its quality rating."""

    __tablename__ = "survey_project_assessment"
    __table_args__ = (UniqueConstraint("project_code", name="uq_survey_project_assessment_project"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    project_code: str = Field(sa_column=_text(False, fk="project.code"))
    score: int = Field(sa_column=Column(Integer, nullable=False))
    comment: Optional[str] = Field(default=None, sa_column=_text())
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))


class Improvement(SQLModel, table=True):
    """An improvement item (改进项) opened by the annual survey for a customer's item scoring below the
    threshold, owned by the customer's team and tracked until the team closes it."""

    __tablename__ = "survey_improvement"
    __table_args__ = (UniqueConstraint("year", "customer_code", "category", "item", name="uq_survey_improvement_item"),
                      Index("ix_survey_improvement_team_status", "team_code", "status"))

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int = Field(sa_column=Column(Integer, nullable=False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    team_code: Optional[str] = Field(default=None, sa_column=_text())
    category: str = Field(sa_column=_text(False))
    item: str = Field(sa_column=_text(False))
    average: float = Field(sa_column=Column(Float, nullable=False))
    threshold: float = Field(sa_column=Column(Float, nullable=False))
    status: str = Field(sa_column=_text(False), description="open / closed")
    issue_id: Optional[int] = Field(default=None, sa_column=_int(), description="the ITR improvement issue, if ITR is installed")
    opened_us: int = Field(sa_column=_us())
    closed_us: Optional[int] = Field(default=None, sa_column=_us(True))
    closed_by: Optional[str] = Field(default=None, sa_column=_text())
    resolution: Optional[str] = Field(default=None, sa_column=_text())
    instance_id: int = Field(sa_column=_int(False, fk="flow_instance.id"))


class SurveyCallback(SQLModel, table=True):
    """One callback (回访) of a survey flow: after a project, or after a marketing activity.

    `reached = false` records an attempt that did not get through; only reached callbacks count
    for the same-contact gap (同一联系人10天内不重复回访).
    """

    __tablename__ = "survey_callback"
    __table_args__ = (Index("ix_survey_callback_contact_at", "contact_code", "at_us"),
                      Index("ix_survey_callback_instance", "instance_id"),
                      Index("ix_survey_callback_project", "project_code"))

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=_text(False), description="project / activity")
    instance_id: int = Field(sa_column=_int(False, fk="flow_instance.id"))
    project_code: Optional[str] = Field(default=None, sa_column=_text())
    activity_code: Optional[str] = Field(default=None, sa_column=_text())
    customer_code: str = Field(sa_column=_text(False))
    contact_code: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    reached: bool = Field(sa_column=Column(Boolean, nullable=False))
    product: Optional[int] = Field(default=None, sa_column=_int())
    solution: Optional[int] = Field(default=None, sa_column=_int())
    delivery: Optional[int] = Field(default=None, sa_column=_int())
    service_attitude: Optional[int] = Field(default=None, sa_column=_int())
    score: Optional[int] = Field(default=None, sa_column=_int(), description="activity callbacks: overall 1-5")
    comment: Optional[str] = Field(default=None, sa_column=_text())
    low_items: str = Field(default="[]", sa_column=_text(False), description="JSON list of items below the threshold")
    improvement_issue_id: Optional[int] = Field(default=None, sa_column=_int(),
                                                description="the ITR issue opened for the low score")


class SampleList(SQLModel, table=True):
    """A customer's sample list for the annual third-party survey (第三方满意度调查样本)."""

    __tablename__ = "survey_sample"
    __table_args__ = (UniqueConstraint("year", "customer_code", name="uq_survey_sample_year_customer"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int = Field(sa_column=Column(Integer, nullable=False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    status: str = Field(sa_column=_text(False), description="accepted / exported / published")
    required_size: int = Field(sa_column=Column(Integer, nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    source: str = Field(sa_column=_text(False), description="the file (or 'inline') the list came from")
    submitted_us: int = Field(sa_column=_us())
    submitted_by: str = Field(sa_column=_text(False))
    revision: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    exported_us: Optional[int] = Field(default=None, sa_column=_us(True))
    published_us: Optional[int] = Field(default=None, sa_column=_us(True))
    instance_id: int = Field(sa_column=_int(False, fk="flow_instance.id"))


class SampleEntry(SQLModel, table=True):
    """One contact of a sample list, with their level and how the survey firm reaches them."""

    __tablename__ = "survey_sample_entry"
    __table_args__ = (UniqueConstraint("sample_id", "contact_code", name="uq_survey_sample_entry_contact"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    sample_id: int = Field(sa_column=_int(False, fk="survey_sample.id"))
    row_no: int = Field(sa_column=Column(Integer, nullable=False))
    contact_code: str = Field(sa_column=_text(False, fk="contact.code"))
    level: str = Field(sa_column=_text(False), description="senior / middle / base")
    method: str = Field(sa_column=_text(False), description="face_to_face / phone / questionnaire")


class ResultImport(SQLModel, table=True):
    """One imported result file of the survey firm."""

    __tablename__ = "survey_result_import"

    id: Optional[int] = Field(default=None, primary_key=True)
    year: int = Field(sa_column=Column(Integer, nullable=False))
    source: str = Field(sa_column=_text(False))
    rows: int = Field(sa_column=Column(Integer, nullable=False))
    customers: str = Field(sa_column=_text(False), description="JSON list of customer codes")
    imported_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    instance_id: int = Field(sa_column=_int(False, fk="flow_instance.id"))


class SurveyResult(SQLModel, table=True):
    """One score of the third-party survey, with the customer's organisation and tier at import time
    (so the trend over years is not rewritten when a customer moves office or tier)."""

    __tablename__ = "survey_result"
    __table_args__ = (Index("ix_survey_result_year", "year", "category"),
                      Index("ix_survey_result_customer", "customer_code", "year"))

    id: Optional[int] = Field(default=None, primary_key=True)
    import_id: int = Field(sa_column=_int(False, fk="survey_result_import.id"))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    row_no: int = Field(sa_column=Column(Integer, nullable=False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    contact_code: Optional[str] = Field(default=None, sa_column=_text())
    category: str = Field(sa_column=_text(False), description="product / service / brand")
    item: str = Field(sa_column=_text(False), description="product line, service phase or brand aspect")
    score: int = Field(sa_column=Column(Integer, nullable=False))
    comment: Optional[str] = Field(default=None, sa_column=_text())
    tier: Optional[str] = Field(default=None, sa_column=_text())
    office_code: Optional[str] = Field(default=None, sa_column=_text())
    region_code: Optional[str] = Field(default=None, sa_column=_text())


SURVEY_TABLES = (ProjectDraw, SamplePeriod, ProjectAssessment, Improvement, SurveyCallback, SampleList, SampleEntry,
                 ResultImport, SurveyResult)
