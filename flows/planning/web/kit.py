"""The planning kit in the browser: forms, drafts, sections, upload/download, supervisor review, budget roll-up."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
