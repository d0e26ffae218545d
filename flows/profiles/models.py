"""The profiles tables (SQLModel): one CP or VP per customer and year with its content, the review
rounds each kept, and one customer-watch run per period with its report.

Written inside the flow step's own transaction (`ctx.tx.run(...)`) or, for a watch run, in the
run's own transaction; never through a second session during a step. Master data is referred to
by business keys (customer code, `emp_no`). Instants are integer microseconds UTC (`*_us`);
content, comments and reports are JSON text read whole.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import int_col as _int, text_col as _text, us_col as _us


class ProfileDoc(SQLModel, table=True):
    """A customer's CP (客户企业档案) or VP (供应商档案) of one year: its sections as last saved."""

    __tablename__ = "profile_doc"
    __table_args__ = (UniqueConstraint("customer_code", "kind", "year", name="uq_profile_doc_year"),
                      Index("ix_profile_doc_instance", "instance_id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    kind: str = Field(sa_column=_text(False), description="CP or VP")
    year: int = Field(sa_column=Column(Integer, nullable=False))
    instance_id: int = Field(sa_column=_int(False, fk="flow_instance.id"))
    status: str = Field(sa_column=_text(False), description="drafting / in_review / accepted")
    round: int = Field(default=0, sa_column=Column(Integer, nullable=False), description="review rounds so far")
    content: str = Field(default="{}", sa_column=_text(False), description="JSON {section: {field: value}}")
    updated_us: int = Field(sa_column=_us())
    updated_by: str = Field(sa_column=_text(False))
    accepted_us: Optional[int] = Field(default=None, sa_column=_us(True))


class ProfileReview(SQLModel, table=True):
    """One review round of a profile: who reviewed, the comments per section, and the decision."""

    __tablename__ = "profile_review"
    __table_args__ = (UniqueConstraint("doc_id", "round", name="uq_profile_review_round"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    doc_id: int = Field(sa_column=_int(False, fk="profile_doc.id"))
    round: int = Field(sa_column=Column(Integer, nullable=False))
    reviewer_emp_no: str = Field(sa_column=_text(False))
    decision: str = Field(sa_column=_text(False), description="send_back / accept")
    comments: str = Field(default="{}", sa_column=_text(False), description="JSON {section: [text, ...]}")
    at_us: int = Field(sa_column=_us())


class WatchRun(SQLModel, table=True):
    """One customer-watch run (跟踪与监控客户策略) for a period: the report, kept as it was computed."""

    __tablename__ = "watch_run"
    __table_args__ = (UniqueConstraint("period", name="uq_watch_run_period"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    period: str = Field(sa_column=_text(False), description="2027-Q1, 2027-03, 2027-H1 or 2027")
    first_month: str = Field(sa_column=_text(False))
    last_month: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    report: str = Field(default="{}", sa_column=_text(False))
