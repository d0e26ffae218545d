from __future__ import annotations

from typing import Optional

from sqlmodel import Field, SQLModel


class SampleNote(SQLModel, table=True):
    __tablename__ = "sample_family_note"

    id: Optional[int] = Field(default=None, primary_key=True)
    text: str
