"""ITR's callbacks, as a source of the same-contact rule (engine/contacts.py applies it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from engine.clock import from_us


def last_reached(tx: Any, contact_code: str) -> Optional[datetime]:
    """The latest ITR callback (before closing an issue) that reached the contact."""
    row = tx.one("SELECT MAX(at_us) FROM itr_callback WHERE contact_code = :c AND reached = :yes",
                 {"c": contact_code, "yes": True})
    return from_us(row[0]) if row and row[0] is not None else None
