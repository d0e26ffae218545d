"""The unit scorecard per period."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
