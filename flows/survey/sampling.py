"""Which closed projects get a satisfaction callback (抽样): every big project, and at least the rate
(10 %) of the smaller projects closed in each period (a month by default).

The draw of a project is `sha256("<seed>:<project code>")` read as a number in [0, 1): it depends
on nothing but the seed and the code, so the same project always gets the same draw. A smaller
project is called back when

1. its draw is below the rate (`sampled`); or
2. without it the period's share of smaller projects called back would fall below the rate
   (`quota_kept`): the share counts every smaller project closed in the period, this one included,
   so the first one of a period is always called back, 10 closed with 1 called back is exactly 10 %
   and the 11th is called back again — the same way ITR's callback policy keeps its ≥ 10 % by
   choosing the next eligible issue.

A project that cannot be called back (its customer has no contact) is logged `no_contact`: it counts
in the period's closed projects and its slot passes to the next eligible project. Projects of the
`always_levels` (region level and above, 地区部以上项目) are always called back and are not part of
the share. Given the same seed and the same order of closing, the decisions are the same (replay).
Pure functions: no database, no clock — the period's counts are passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from flows.survey.rules import ProjectCallbackRules

BIG_PROJECT = "big_project"
SAMPLED = "sampled"
QUOTA_KEPT = "quota_kept"
NOT_SAMPLED = "not_sampled"
NO_CONTACT = "no_contact"
HISTORY = "history"  # closed before the daily sweep first ran: history, not called back (flows/survey/batches.py)
REASONS = (BIG_PROJECT, SAMPLED, QUOTA_KEPT, NOT_SAMPLED, NO_CONTACT, HISTORY)


def draw_value(seed: int, project_code: str) -> float:
    """The project's draw in [0, 1), reproducible from the seed and the code alone."""
    digest = hashlib.sha256(f"{seed}:{project_code}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def period_key(day: date, period: str) -> str:
    """The sampling period a local date falls in: `2026-12`, `2026-Q4`, `2026-W49` or `2026`."""
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == "week":
        iso = day.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    return str(day.year)


@dataclass(frozen=True)
class Decision:
    project_code: str
    level: str
    selected: bool
    reason: str
    seed: int
    rate: float
    draw: float
    period: str | None = None
    coverage_done: int = 0   # smaller projects of the period called back before this one
    coverage_base: int = 0   # smaller projects of the period closed, this one included


def is_big(level: str, rules: ProjectCallbackRules) -> bool:
    return level in rules.always_levels


def decide(project_code: str, level: str, rules: ProjectCallbackRules, *, period: str | None = None,
           period_closed: int = 1, period_selected: int = 0, eligible: bool = True) -> Decision:
    """Call this project back or not, and why. `period_closed` counts the smaller projects of the period
    closed so far including this one, `period_selected` those of them called back (before this one)."""
    draw = draw_value(rules.seed, project_code)
    base = dict(seed=rules.seed, rate=rules.sample_rate, draw=draw, period=period)
    if is_big(level, rules):
        return Decision(project_code, level, True, BIG_PROJECT, **base)
    counts = dict(coverage_done=period_selected, coverage_base=period_closed)
    if not eligible:
        return Decision(project_code, level, False, NO_CONTACT, **base, **counts)
    if draw < rules.sample_rate:
        return Decision(project_code, level, True, SAMPLED, **base, **counts)
    if period_closed > 0 and Fraction(period_selected, period_closed) < Fraction(str(rules.sample_rate)):
        return Decision(project_code, level, True, QUOTA_KEPT, **base, **counts)
    return Decision(project_code, level, False, NOT_SAMPLED, **base, **counts)
