"""Sales management: the annual launch, completion watch, reminders, the rhythm pages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
