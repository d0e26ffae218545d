"""The kit page's drafts (草稿) — migration flows/planning/migrations/0008_planning_kit_draft.py.

`planning_kit_draft` holds what a team typed into one section of its kit page (or brought in by a
workbook upload) and has not submitted: one row per kit instance and section, the rows as JSON in
the shared row model (`flows.planning.workbook.raw_from_rows`). A draft records nothing: the
sections, objectives and activities are written only by the kit flow's steps when a section is
submitted. Unique per instance and section, so a save replaces the one draft by construction.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import text_col as _text, us_col as _us


class KitDraft(SQLModel, table=True):
    """One section's draft of one kit."""

    __tablename__ = "planning_kit_draft"
    __table_args__ = (UniqueConstraint("instance_id", "section", name="uq_planning_kit_draft_section"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    instance_id: int = Field(sa_column=Column(Integer, nullable=False))
    section: str = Field(sa_column=_text(False), description="assessment | objectives | plan")
    rows: str = Field(sa_column=_text(False), description="JSON list of rows keyed by column key")
    source: str = Field(sa_column=_text(False), description="form | api | the uploaded workbook's name")
    actor: str = Field(sa_column=_text(False))
    updated_us: int = Field(sa_column=_us())
