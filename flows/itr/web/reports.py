"""ITR report pages (weekly office, monthly region/HQ) with charts and XLSX export."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
