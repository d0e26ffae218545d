"""rules/profiles.yaml and the CP/VP content rules without a database: the VP's weights must sum to
100 (refused at load with file:line), the weighted comparison and gaps, the fishbone order, the watch
periods and the value-return curve."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.errors import InvalidRules
from engine.rules import load_rules_file, rules_dir
from flows.profiles import sections
from flows.profiles.rules import ProfilesRules, load_profiles_rules
from flows.profiles.service import launch_day, years_open_on
from flows.profiles.watch import BadPeriod, expected_revenue, parse_period, period_ended_before


def test_the_shipped_criteria_are_the_books_thirteen_weights_summing_to_100() -> None:
    rules = load_profiles_rules()
    assert [c.weight for c in rules.vp.criteria] == [9, 5, 9, 7, 3, 20, 4, 3, 8, 15, 10, 5, 2]
    assert rules.refresh.tiers == ["S", "A"] and rules.refresh.launch == "12-01"


def test_weights_that_do_not_sum_to_100_are_refused_at_load_with_file_and_line(tmp_path: Path) -> None:
    text = (rules_dir() / "profiles.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "profiles.yaml"
    bad.write_text(text.replace("zh: 价格, en: price, weight: 8", "zh: 价格, en: price, weight: 9"), encoding="utf-8")
    # the criteria list starts on the line of its first item: that is where the sum is reported
    line = next(i for i, l in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if "brand_recognition" in l)
    with pytest.raises(InvalidRules) as err:
        load_rules_file(bad, ProfilesRules)
    assert f"{bad}:{line}" in str(err.value) and "sum to 101, not 100" in str(err.value)


def test_more_than_two_compared_competitors_is_refused_by_the_rules_too(tmp_path: Path) -> None:
    bad = tmp_path / "profiles.yaml"
    bad.write_text("vp:\n  max_competitors: 3\n", encoding="utf-8")
    with pytest.raises(InvalidRules, match=r"profiles.yaml:2: vp.max_competitors"):
        load_rules_file(bad, ProfilesRules)


def test_weighted_totals_and_the_gap_per_criterion_follow_the_weights() -> None:
    rules = load_profiles_rules()
    content = {"overview": {"comparison": {"competitors": ["甲"], "scores": {
        "us": {"solution_capability": 10, "price": 5}, "甲": {"solution_capability": 5, "price": 10}}}}}
    table = sections.comparison_table(content, rules)
    row = {r["key"]: r for r in table["criteria"]}
    assert row["solution_capability"]["weighted"] == {"us": 20.0, "甲": 10.0}
    assert row["solution_capability"]["gap"] == {"甲": 10.0}
    assert row["price"]["gap"] == {"甲": -4.0}
    assert table["totals"] == {"us": 24.0, "甲": 18.0} and table["gap"] == {"甲": 6.0}


def test_a_score_outside_the_scale_and_an_unlocked_competitor_are_refused_naming_the_field() -> None:
    rules = load_profiles_rules()
    with pytest.raises(sections.ProfileInvalid, match=r"overview.comparison.competitors.*丁"):
        sections.check_comparison({"competitors": ["丁"]}, rules=rules, locked=["甲"], where="overview.comparison")
    with pytest.raises(sections.ProfileInvalid, match=r"overview.comparison.scores.us.quality"):
        sections.check_comparison({"competitors": [], "scores": {"us": {"quality": 11}}}, rules=rules, locked=[],
                                  where="overview.comparison")


def test_the_fishbone_top_is_ordered_by_total_score_then_decision_support_then_code() -> None:
    assessed = {"K1": ("甲", 2026, {"acceptance": 2, "decision_support": 1}),
                "K2": ("乙", 2026, {"acceptance": 1, "decision_support": 2}),
                "K3": ("丙", 2026, {"acceptance": 3, "decision_support": None}),
                "K4": ("丁", 2026, {"acceptance": -1})}
    assert sections.top_contacts(assessed, 3) == ["K2", "K1", "K3"]
    assert sections.fishbone_differences(["K1", "K4"], ["K1", "K2"], {"K2": "乙", "K4": "丁"}) == (["乙"], ["丁"])


def test_the_profiles_launch_on_1_december_and_catch_up_for_seven_days_only() -> None:
    rules = load_profiles_rules()
    assert launch_day(2027, rules) == date(2026, 12, 1)
    assert years_open_on(date(2026, 11, 30), rules) == []
    assert years_open_on(date(2026, 12, 1), rules) == [2027]
    assert years_open_on(date(2026, 12, 8), rules) == [2027]
    assert years_open_on(date(2026, 12, 9), rules) == []
    assert years_open_on(date(2027, 2, 3), rules) == []


def test_watch_periods_and_the_period_that_just_ended() -> None:
    q = parse_period("2027-Q1")
    assert (q.first_month, q.last_month, q.previous().key) == ("2027-01", "2027-03", "2026-Q4")
    assert parse_period("2027-H2").previous().key == "2027-H1"
    assert parse_period("2027-01").previous().key == "2026-12"
    assert period_ended_before(date(2027, 1, 1), "quarter").key == "2026-Q4"
    assert period_ended_before(date(2027, 2, 1), "quarter") is None
    assert period_ended_before(date(2027, 2, 1), "month").key == "2027-01"
    with pytest.raises(BadPeriod):
        parse_period("2027-Q5")


def test_the_curve_interpolates_years_2_and_4_and_holds_year_5_after() -> None:
    curve = (2024, 100, 300, 500)
    assert [expected_revenue(curve, y) for y in range(2023, 2031)] == [None, 100, 200, 300, 400, 500, 500, 500]
