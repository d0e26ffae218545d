"""Which closed projects get a satisfaction callback (抽样): every big project, a seeded sample of the rest.

The draw of a project is `sha256("<seed>:<project code>")` read as a number in [0, 1): it depends
on nothing but the seed and the code, so the same project always gets the same draw — rerunning,
replaying or auditing a decision gives the same answer, and no project's draw depends on which
other projects closed before it. A project is drawn when its draw is below the rate; projects of
the `always_levels` (region level and above, 地区部以上项目) are always called back, their draw
is recorded all the same. Pure functions: no database, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flows.survey.rules import ProjectCallbackRules

BIG_PROJECT = "big_project"
SAMPLED = "sampled"
NOT_SAMPLED = "not_sampled"


def draw_value(seed: int, project_code: str) -> float:
    """The project's draw in [0, 1), reproducible from the seed and the code alone."""
    digest = hashlib.sha256(f"{seed}:{project_code}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


@dataclass(frozen=True)
class Decision:
    project_code: str
    level: str
    selected: bool
    reason: str
    seed: int
    rate: float
    draw: float


def decide(project_code: str, level: str, rules: ProjectCallbackRules) -> Decision:
    """Call this project back or not, and why."""
    draw = draw_value(rules.seed, project_code)
    if level in rules.always_levels:
        return Decision(project_code, level, True, BIG_PROJECT, rules.seed, rules.sample_rate, draw)
    selected = draw < rules.sample_rate
    return Decision(project_code, level, selected, SAMPLED if selected else NOT_SAMPLED, rules.seed,
                    rules.sample_rate, draw)
