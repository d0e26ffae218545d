"""The fair quota (a minimum allowance beside the share) and tier-dependent ITR defaults at their edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidRules
from flows.itr.policy import allowed_escalations, check_quota, within_quota
from flows.itr.rules import ItrRules, QueueOrderRules, SlaRules, load_itr_rules

ROOT = Path(__file__).resolve().parents[2]


def test_the_first_escalation_of_one_issue_is_within_a_minimum_of_one_but_not_without_it() -> None:
    assert not check_quota(0, 1, 0.20).allowed                          # 1/1 = 100 % — the old behaviour
    one = check_quota(0, 1, 0.20, minimum=1)
    assert one.allowed and one.basis == "minimum" and not one.within_share
    assert not check_quota(1, 2, 0.20, minimum=1).allowed               # the second is 2/2, past both


def test_the_share_still_allows_more_than_the_minimum_once_a_unit_has_enough_issues() -> None:
    assert check_quota(1, 10, 0.20, minimum=1).basis == "share"         # 2/10 = exactly 20 %
    assert not check_quota(2, 10, 0.20, minimum=1).allowed              # 3/10
    assert check_quota(2, 10, 0.20, minimum=3).basis == "minimum"       # 3 always allowed
    assert check_quota(2, 10, 0.20, minimum=3).describe() == "3/10 = 30.0% (limit 20%, 3 always allowed)"


@pytest.mark.parametrize("escalated_before, issues, minimum", [(0, 1, 0), (0, 1, 1), (1, 2, 1), (1, 10, 1), (2, 10, 1),
                                                                 (2, 10, 3), (0, 5, 0), (3, 20, 2), (4, 20, 2)])
def test_a_period_is_within_quota_exactly_when_each_of_its_escalations_was_allowed_one_by_one(
        escalated_before: int, issues: int, minimum: int) -> None:
    # The report's and the scorecard's "within quota" is the escalate step's rule summed up: the
    # unit's escalations after this one are within quota iff the step would have granted this one.
    assert within_quota(issues, escalated_before + 1, 0.20, minimum) == check_quota(escalated_before, issues, 0.20,
                                                                                    minimum).allowed


def test_within_quota_counts_the_minimum_allowance_not_the_share_alone() -> None:
    assert within_quota(1, 1, 0.20, minimum=1) and not within_quota(1, 1, 0.20, minimum=0)   # 1/1 = 100 %
    assert within_quota(10, 2, 0.20, minimum=1) and not within_quota(10, 3, 0.20, minimum=1)  # exactly 20 %, then 30 %
    assert within_quota(0, 0, 0.10, minimum=0)                                                # no issues, no escalation


@pytest.mark.parametrize("issues, share, minimum, allowed", [
    (0, 0.20, 0, 0), (1, 0.20, 0, 0), (1, 0.20, 1, 1), (5, 0.20, 0, 1), (10, 0.20, 1, 2), (14, 0.20, 1, 2),
    (15, 0.20, 1, 3), (10, 0.10, 0, 1), (30, 0.10, 2, 3), (4, 0.10, 2, 2)])
def test_escalations_allowed_are_the_larger_of_the_share_and_the_minimum(issues: int, share: float, minimum: int,
                                                                         allowed: int) -> None:
    assert allowed_escalations(issues, share, minimum) == allowed
    # ... and that is exactly where check_quota stops allowing one more
    assert all(check_quota(n, max(issues, 1), share, minimum).allowed for n in range(allowed))
    assert not check_quota(allowed, max(issues, 1), share, minimum).allowed or issues == 0


def test_a_contract_overrides_the_tier_and_the_tier_the_default_per_severity() -> None:
    sla = SlaRules(tiers={"S": {"normal": 24}, "C": {"normal": 56}}, contracts={"GOLD": {"normal": 30}})
    assert (sla.hours("normal", None, "S"), sla.basis("normal", None, "S")) == (24, "tier")
    assert (sla.hours("normal", None, "C"), sla.hours("normal", None, "B")) == (56, 40)
    assert (sla.hours("normal", "GOLD", "S"), sla.basis("normal", "GOLD", "S")) == (30, "contract")
    assert (sla.hours("urgent", "GOLD", "S"), sla.basis("urgent", "GOLD", "S")) == (4, "default")


def test_the_queue_ranks_tiers_in_the_configured_order_with_unknown_tiers_last() -> None:
    order = QueueOrderRules(tiers=["S", "A", "B", "C"])
    assert [order.rank(t) for t in ("S", "C", None, "Z")] == [0, 3, 4, 4]


def test_the_shipped_rules_keep_20_and_10_percent_allow_one_escalation_per_window_and_give_s_a_faster_limit() -> None:
    rules = load_itr_rules(ROOT / "rules")
    assert (rules.quota.office, rules.quota.region) == (0.20, 0.10)
    # Fair to small numbers by default: the first escalation of a window (1/1 = 100 %) needs no override.
    assert (rules.quota.minimum("office"), rules.quota.minimum("region")) == (1, 1)
    assert (ItrRules().quota.minimum("office"), ItrRules().quota.minimum("region")) == (1, 1)
    assert rules.sla.hours("normal", None, "S") < rules.sla.hours("normal", None, "B") < rules.sla.hours("normal", None, "C")
    assert rules.queue_order.tiers == ["S", "A", "B", "C"]


@pytest.mark.parametrize("text, where", [
    ("quota:\n  region: 1.01\n", ":2: quota.region: Value error, 1.01 is not a share"),
    ("quota:\n  office: -0.1\n", ":2: quota.office: Value error, -0.1 is not a share"),
    ("quota:\n  min_allowed:\n    region: -2\n", ":3: quota.min_allowed.region: Value error, -2 is negative"),
    ("sla:\n  tiers:\n    Z: {normal: 8}\n", ":3: sla.tiers: Value error, unknown tier Z"),
    ("sla:\n  tiers:\n    S: {normal: 0}\n", ":3: sla.tiers: Value error, tier S: time limits must be greater than zero"),
    ("queue_order:\n  tiers: [S, X]\n", ":2: queue_order.tiers: Value error, unknown tier X"),
])
def test_contradictory_itr_rules_are_refused_at_load_naming_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    (tmp_path / "itr.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_itr_rules(tmp_path)
    assert f"{tmp_path / 'itr.yaml'}{where}" in str(err.value)
