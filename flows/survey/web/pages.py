"""Survey pages: callbacks, the annual sample list, results import, the survey report."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
