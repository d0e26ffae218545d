"""Care: today's reminders, coming dates, visit cadence, visits, handovers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
