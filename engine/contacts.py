"""The same-contact rule across flows (同一联系人10天内不重复回访, SPEC §5 and §9).

A customer contact must not be called back twice within the gap (`callback_gap_days` in
rules/masterdata.yaml, 10 days by default), whichever process makes the call: the ITR callback
before closing an issue, the post-project callback, the callback after a marketing activity.
This module is the one place that applies the rule; every flow family that makes such calls
names a *callback source* in its plugin (`Plugin.callbacks`, engine/plugins.py): a module with

* `last_reached(tx, contact_code) -> datetime | None` — its latest call that reached the contact
  (an attempt nobody answered bothered nobody);
* optionally `planned(tx, contact_code, *, exclude_instance=None) -> list[datetime]` — due times of
  its calls assigned but not made yet, so two flows do not plan calls to the same person in the
  same days (a planned call counts as made at its due time).

Only installed families are asked, so a build without one of them simply has fewer sources.
This module only reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator, Optional

from engine import plugins


def _sources() -> Iterator[Any]:
    for plugin in plugins.plugins():
        if plugin.callbacks:
            yield plugins.resolve(plugin.callbacks)


def last_callback_at(tx: Any, contact_code: str) -> Optional[datetime]:
    """When `contact_code` was last reached by a callback of any flow, or None."""
    found = [at for source in _sources() if (at := source.last_reached(tx, contact_code)) is not None]
    return max(found) if found else None


def planned_callbacks(tx: Any, contact_code: str, *, exclude_instance: Optional[int] = None) -> list[datetime]:
    """Due times of the callbacks of any flow already assigned to the contact and not made yet."""
    out: list[datetime] = []
    for source in _sources():
        planned = getattr(source, "planned", None)
        if planned is not None:
            out += planned(tx, contact_code, exclude_instance=exclude_instance)
    return sorted(out)


def next_allowed_at(tx: Any, contact_code: str, gap_days: int, *, include_planned: bool = False,
                    exclude_instance: Optional[int] = None) -> Optional[datetime]:
    """The first instant the contact may be called back again, or None if they may be called now
    (never called, or the gap is 0). With `include_planned`, a callback already assigned counts
    as made at its due time (the latest moment it will be made)."""
    if gap_days <= 0:
        return None
    last = last_callback_at(tx, contact_code)
    candidates = [last + timedelta(days=gap_days)] if last is not None else []
    if include_planned:
        candidates += [due + timedelta(days=gap_days)
                       for due in planned_callbacks(tx, contact_code, exclude_instance=exclude_instance)]
    return max(candidates) if candidates else None

