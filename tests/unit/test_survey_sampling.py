"""Which closed projects get a satisfaction callback: big ones always, a seeded, reproducible 10 % of the rest;
and when the callbacks fall due (business days for projects, the 3-day activity limit across weekends)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from engine.calendar import builtin_registry
from engine.errors import InvalidRules
from engine.rules import load_rules_file
from flows.survey.deadlines import activity_due, project_due
from flows.survey.rules import ActivityCallbackRules, ProjectCallbackRules, SurveyRules
from flows.survey.sampling import (BIG_PROJECT, NO_CONTACT, NOT_SAMPLED, QUOTA_KEPT, SAMPLED, decide, draw_value,
                                   period_key)
from tests.conftest import ROOT

CAL = builtin_registry().get(None)  # CN, Asia/Shanghai


def local(when: datetime) -> str:
    return when.astimezone(CAL.tz).isoformat(timespec="minutes")


# ---------------------------------------------------------------------------------------------- sampling


def test_a_draw_depends_only_on_the_seed_and_the_project_code() -> None:
    assert draw_value(20260101, "P-OF04") == draw_value(20260101, "P-OF04")
    assert draw_value(20260101, "P-OF04") != draw_value(20260102, "P-OF04")
    assert draw_value(20260101, "P-OF04") != draw_value(20260101, "P-OF05")
    assert all(0.0 <= draw_value(7, f"P{i}") < 1.0 for i in range(2000))


def test_the_documented_draws_of_the_shipped_seed_do_not_change() -> None:
    # The audit trail (mcr survey sample-log) and the replay scenario rely on these numbers.
    assert round(draw_value(20260101, "P-OF04"), 6) == 0.031518
    assert round(draw_value(20260101, "P-OF30"), 6) == 0.929492


@pytest.mark.parametrize("level", ["company", "region"])
def test_region_level_and_above_are_always_called_back_whatever_their_draw(level: str) -> None:
    rules = ProjectCallbackRules(sample_rate=0.0)
    for code in ("P-REG", "P-CO", "X1", "X2"):
        d = decide(code, level, rules)
        assert d.selected and d.reason == BIG_PROJECT
        assert d.draw == draw_value(rules.seed, code) and d.rate == 0.0 and d.seed == rules.seed


def test_an_office_project_is_drawn_exactly_when_its_draw_is_below_the_rate_while_the_share_is_kept() -> None:
    rules = ProjectCallbackRules()
    for i in range(300):
        code = f"P-{i}"
        d = decide(code, "office", rules, period="2026-12", period_closed=10, period_selected=5)
        assert d.selected == (draw_value(rules.seed, code) < 0.10)
        assert d.reason == (SAMPLED if d.selected else NOT_SAMPLED)
        assert (d.period, d.coverage_done, d.coverage_base) == ("2026-12", 5, 10)


def _run(rules: ProjectCallbackRules, codes: list[str]) -> list[bool]:
    """Decide the projects one after the other in one period, counting as the service does."""
    closed = selected = 0
    out = []
    for code in codes:
        closed += 1
        d = decide(code, "office", rules, period="p", period_closed=closed, period_selected=selected)
        selected += d.selected
        out.append(d.selected)
    return out


def test_at_least_the_rate_of_the_smaller_projects_of_a_period_is_called_back_at_every_point() -> None:
    rules = ProjectCallbackRules()
    picks = _run(rules, [f"PRJ-{i:05d}" for i in range(5000)])
    for n in range(1, len(picks) + 1):
        assert sum(picks[:n]) * 10 >= n  # ≥ 10 % after every closing, not only on average
    assert 0.10 <= sum(picks) / len(picks) < 0.12


def test_exactly_ten_percent_keeps_the_share_and_the_eleventh_project_takes_the_next_slot() -> None:
    rules = ProjectCallbackRules(sample_rate=0.1)
    undrawn = [c for c in (f"Q{i}" for i in range(200)) if draw_value(rules.seed, c) >= 0.1][:11]
    reasons = []
    closed = selected = 0
    for code in undrawn:
        closed += 1
        d = decide(code, "office", rules, period="p", period_closed=closed, period_selected=selected)
        selected += d.selected
        reasons.append(d.reason)
    assert reasons[0] == QUOTA_KEPT                      # 0 of 1 would be below 10 %
    assert reasons[1:10] == [NOT_SAMPLED] * 9            # 1 of 10 is exactly 10 %: kept
    assert reasons[10] == QUOTA_KEPT                     # 1 of 11 is below: the next project takes the slot


def test_a_project_without_contacts_is_logged_and_passes_its_slot_on() -> None:
    rules = ProjectCallbackRules()
    d = decide("P-OF04", "office", rules, period="p", period_closed=1, period_selected=0, eligible=False)
    assert (d.selected, d.reason) == (False, NO_CONTACT)
    nxt = decide("P-OF01", "office", rules, period="p", period_closed=2, period_selected=0)
    assert (nxt.selected, nxt.reason) == (True, QUOTA_KEPT)


def test_the_same_seed_and_order_give_the_same_decisions() -> None:
    codes = [f"R{i}" for i in range(400)]
    assert _run(ProjectCallbackRules(seed=7), codes) == _run(ProjectCallbackRules(seed=7), codes)
    assert _run(ProjectCallbackRules(seed=7), codes) != _run(ProjectCallbackRules(seed=8), codes)


def test_a_rate_of_zero_or_one_samples_none_or_all() -> None:
    assert not any(_run(ProjectCallbackRules(sample_rate=0.0), [f"P{i}" for i in range(200)]))
    assert all(_run(ProjectCallbackRules(sample_rate=1.0), [f"P{i}" for i in range(200)]))


def test_the_always_levels_are_configurable() -> None:
    rules = ProjectCallbackRules(always_levels=["company"], sample_rate=0.0)
    assert decide("P", "company", rules).selected
    assert not decide("P", "region", rules).selected


@pytest.mark.parametrize("day, period, key", [
    (date(2026, 12, 31), "month", "2026-12"), (date(2027, 1, 1), "month", "2027-01"),
    (date(2026, 10, 1), "quarter", "2026-Q4"), (date(2026, 12, 28), "week", "2026-W53"),
    (date(2027, 1, 3), "week", "2026-W53"), (date(2026, 6, 1), "year", "2026")])
def test_the_period_of_a_closing_day(day: date, period: str, key: str) -> None:
    assert period_key(day, period) == key


# ---------------------------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize("ended, due, remind, escalate", [
    # Thursday: + 3 calendar days = Sunday, a day off -> Monday 18:00 (not Tuesday, as 3 business days would)
    (date(2026, 11, 19), "2026-11-23T18:00+08:00", "2026-11-23T09:00+08:00", "2026-11-24T18:00+08:00"),
    # Friday: + 3 = Monday
    (date(2026, 11, 20), "2026-11-23T18:00+08:00", "2026-11-23T09:00+08:00", "2026-11-24T18:00+08:00"),
    # Tuesday: + 3 = Friday, no weekend involved; escalation one business day later = Monday
    (date(2026, 11, 17), "2026-11-20T18:00+08:00", "2026-11-20T09:00+08:00", "2026-11-23T18:00+08:00"),
    # 30 Sep: + 3 = 3 Oct, inside the National Day holiday -> first working day, 8 Oct
    (date(2026, 9, 30), "2026-10-08T18:00+08:00", "2026-10-08T09:00+08:00", "2026-10-09T18:00+08:00"),
])
def test_the_activity_callback_limit_counts_calendar_days_and_moves_off_a_day_off(
        ended: date, due: str, remind: str, escalate: str) -> None:
    d = activity_due(ended, ActivityCallbackRules(), CAL)
    assert (local(d.due_at), local(d.remind_at), local(d.escalate_at)) == (due, remind, escalate)


def test_without_rolling_the_limit_may_fall_on_a_sunday() -> None:
    d = activity_due(date(2026, 11, 19), ActivityCallbackRules(roll_to_workday=False), CAL)
    assert local(d.due_at) == "2026-11-22T18:00+08:00"


def test_the_limit_can_be_counted_in_business_days_instead() -> None:
    d = activity_due(date(2026, 11, 19), ActivityCallbackRules(within="3 business days"), CAL)
    assert local(d.due_at) == "2026-11-24T18:00+08:00"  # Fri, Mon, Tue


def test_a_project_callback_is_due_n_business_days_after_assignment_with_a_reminder_before() -> None:
    assigned = datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)  # Thu 09:00 Shanghai
    d = project_due(assigned, ProjectCallbackRules(), CAL)
    assert local(d.due_at) == "2026-12-03T09:00+08:00"
    assert local(d.remind_at) == "2026-12-02T09:00+08:00"


# ---------------------------------------------------------------------------------------------- rules file


def test_the_shipped_rules_file_holds_exactly_the_defaults() -> None:
    assert load_rules_file(ROOT / "rules" / "survey.yaml", SurveyRules) == SurveyRules()


def test_a_bad_rules_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "survey.yaml"
    bad.write_text("annual:\n  levels: {senior: 0.5, middle: 0.3, base: 0.5}\nproject_callback:\n  sample_rate: 1.5\n",
                   encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_rules_file(bad, SurveyRules)
    text = str(err.value)
    assert f"{bad}:2:" in text and "add up to 1" in text
    assert f"{bad}:4:" in text


@pytest.mark.parametrize("text, line, words", [
    ("quality:\n  assessment_weight: 0.8\n  callback_weight: 0.3\n", 2, "add up to 1, they add up to 1.1"),
    ("quality:\n  assessment_weight: 1.2\n  callback_weight: -0.2\n", 3, "greater than or equal to 0"),
    ("project_callback:\n  due: 5 business days\n  remind_after: 5 business days\n", 2, "must be shorter than due"),
    ("project_callback:\n  period: fortnight\n", 2, "period"),
])
def test_contradicting_survey_rules_are_refused_at_load_with_the_line(tmp_path: Path, text: str, line: int,
                                                                      words: str) -> None:
    bad = tmp_path / "survey.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_rules_file(bad, SurveyRules)
    assert f"{bad}:{line}:" in str(err.value) and words in str(err.value)


def test_the_sample_size_follows_the_order_volume_table() -> None:
    annual = SurveyRules().annual
    assert annual.required_size(None) == 10
    assert annual.required_size(49_999_999) == 20
    assert annual.required_size(50_000_000) == 30
    assert annual.required_size(10**10) == 60
