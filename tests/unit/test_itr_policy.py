"""ITR policy as pure functions, at its edges: the quota exactly at 20 %, windows, callback sampling
(reproducible, ≥ 10 %, the 10-day rule), SLA arithmetic in business time, ISO weeks, the rules file,
and the Chinese tokenizer of the case library."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import load_calendars
from engine.errors import InvalidRules
from engine.masterdata.settings import load_masterdata_rules
from flows.itr.policy import (CallbackInputs, check_quota, closes_with_score, contact_free, decide_callback, draw,
                              is_major_issue, month_bounds, parse_week, previous_month, previous_week,
                              self_resolution_rate, sla_due, sla_text, week_bounds, week_of, window_bounds)
from flows.itr.rules import ItrRules, load_itr_rules
from flows.itr.search import document_tokens, tokenize

SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture(scope="module")
def cn():
    return load_calendars(ROOT / "rules" / "calendars").get("CN")


# ---------------------------------------------------------------------------------------------- quota


def test_escalating_exactly_at_the_office_quota_is_allowed() -> None:
    assert check_quota(1, 10, 0.20).allowed            # 2 of 10 = 20 %
    assert check_quota(1, 10, 0.20).rate_after == Fraction(1, 5)


def test_escalating_above_the_office_quota_is_refused() -> None:
    assert not check_quota(2, 10, 0.20).allowed        # 3 of 10 = 30 %
    assert not check_quota(0, 4, 0.20).allowed         # 1 of 4 = 25 %
    assert check_quota(0, 5, 0.20).allowed             # 1 of 5 = 20 %


def test_region_quota_is_ten_percent_and_exact() -> None:
    assert check_quota(0, 10, 0.10).allowed
    assert not check_quota(1, 10, 0.10).allowed
    assert check_quota(2, 30, 0.10).allowed            # 3 of 30 = 10 % exactly, no float noise


def test_quota_text_names_the_figures() -> None:
    assert check_quota(2, 10, 0.2).describe() == "3/10 = 30.0% (limit 20%)"


def test_self_resolution_rate() -> None:
    assert self_resolution_rate(10, 2) == 0.8 and self_resolution_rate(0, 0) is None


@pytest.mark.parametrize("window, at, start, end", [
    ("quarter", "2026-11-26 09:00", "2026-10-01 00:00", "2027-01-01 00:00"),
    ("quarter", "2026-10-01 00:00", "2026-10-01 00:00", "2027-01-01 00:00"),
    ("quarter", "2026-09-30 23:59", "2026-07-01 00:00", "2026-10-01 00:00"),
    ("month", "2026-02-14 12:00", "2026-02-01 00:00", "2026-03-01 00:00"),
    ("half_year", "2026-11-26 09:00", "2026-07-01 00:00", "2027-01-01 00:00"),
    ("year", "2026-11-26 09:00", "2026-01-01 00:00", "2027-01-01 00:00"),
])
def test_calendar_windows_follow_the_office_local_calendar(window: str, at: str, start: str, end: str) -> None:
    s, e = window_bounds(window, sh(at), SH)
    assert (s, e) == (sh(start), sh(end))


def test_a_rolling_window_is_the_last_n_days() -> None:
    now = sh("2026-11-26 09:00")
    s, e = window_bounds("90 days", now, SH)
    assert s == now - timedelta(days=90) and e > now


# ---------------------------------------------------------------------------------------------- callback sampling


def inputs(**kw) -> CallbackInputs:
    base = dict(urgent=False, draw=0.5, min_rate=0.10, urgent_rate=1.0, coverage_done=5, coverage_base=10,
                last_callback=None, now=sh("2026-11-26 09:00"), gap_days=10, owed_by=None)
    base.update(kw)
    return CallbackInputs(**base)


def test_the_draw_is_reproducible_per_seed_and_issue() -> None:
    assert draw(20260101, 17) == draw(20260101, 17)
    assert draw(20260101, 17) != draw(20260102, 17)
    values = [draw(7, i) for i in range(2000)]
    assert all(0 <= v < 1 for v in values) and 0.45 < sum(values) / len(values) < 0.55


def test_urgent_issues_are_always_called_back() -> None:
    d = decide_callback(inputs(urgent=True, draw=0.999))
    assert (d.required, d.reason) == (True, "urgent")


def test_urgent_issue_of_a_contact_called_nine_days_ago_waits_for_the_gap() -> None:
    now = sh("2026-11-26 09:00")
    d = decide_callback(inputs(urgent=True, last_callback=now - timedelta(days=9), now=now))
    assert (d.required, d.reason, d.not_before) == (True, "urgent_after_gap", now + timedelta(days=1))


def test_contact_gap_nine_days_blocks_ten_days_frees() -> None:
    now = sh("2026-11-26 09:00")
    assert not contact_free(now - timedelta(days=9, hours=23, minutes=59), now, 10)
    assert contact_free(now - timedelta(days=10), now, 10)
    blocked = decide_callback(inputs(draw=0.01, last_callback=now - timedelta(days=9), now=now))
    assert (blocked.required, blocked.reason, blocked.carry_pending) == (False, "contact_called_recently", True)
    free = decide_callback(inputs(draw=0.01, last_callback=now - timedelta(days=10), now=now))
    assert (free.required, free.reason) == (True, "sampled")


def test_a_slot_blocked_by_the_gap_passes_to_the_next_eligible_issue() -> None:
    d = decide_callback(inputs(draw=0.9, owed_by=41))
    assert (d.required, d.reason, d.carried_from) == (True, "carried_over", 41)
    # ... but not to one whose contact is blocked too: the slot stays owed.
    now = sh("2026-11-26 09:00")
    still = decide_callback(inputs(draw=0.01, owed_by=41, last_callback=now - timedelta(days=1), now=now))
    assert (still.required, still.carry_pending) == (False, False)


def test_coverage_below_the_minimum_requires_a_callback() -> None:
    d = decide_callback(inputs(draw=0.9, coverage_done=0, coverage_base=1))
    assert (d.required, d.reason) == (True, "coverage_below_minimum")
    assert decide_callback(inputs(draw=0.9, coverage_done=1, coverage_base=10)).reason == "not_sampled"
    assert decide_callback(inputs(draw=0.9, coverage_done=1, coverage_base=11)).reason == "coverage_below_minimum"


def test_sampling_keeps_at_least_ten_percent_called_back_at_every_step() -> None:
    done = 0
    for n in range(1, 501):
        d = decide_callback(inputs(draw=draw(99, n), coverage_done=done, coverage_base=n))
        done += d.required
        assert Fraction(done, n) >= Fraction(1, 10)
    assert done < 500 * 0.3  # a sample, not everybody


def test_close_needs_a_score_of_three() -> None:
    assert closes_with_score(3, 3) and not closes_with_score(2, 3)


# ---------------------------------------------------------------------------------------------- SLA in business time


def test_sla_text() -> None:
    assert sla_text(16) == "16 business hours" and sla_text(2.5) == "2.5 business hours"


def test_sla_spanning_a_weekend(cn) -> None:
    # Fri 16:00 + 4 business hours: 2 h on Friday, 2 h on Monday morning.
    assert sla_due(cn, sh("2026-11-27 16:00"), 4) == sh("2026-11-30 11:00")


def test_sla_spanning_the_national_holiday(cn) -> None:
    # Wed 30 Sep 16:00 + 4 h: 2 h that day, 1–7 Oct are public holidays, 2 h on Thu 8 Oct.
    assert sla_due(cn, sh("2026-09-30 16:00"), 4) == sh("2026-10-08 11:00")


def test_sla_counts_the_make_up_workday(cn) -> None:
    # Sat 10 Oct 2026 is a 调休 make-up workday: Fri 9 Oct 16:00 + 4 h ends on Saturday 11:00.
    assert sla_due(cn, sh("2026-10-09 16:00"), 4) == sh("2026-10-10 11:00")


def test_sla_skips_the_lunch_break(cn) -> None:
    assert sla_due(cn, sh("2026-11-26 11:00"), 2) == sh("2026-11-26 14:30")


# ---------------------------------------------------------------------------------------------- weeks, months


def test_iso_weeks_and_months() -> None:
    assert parse_week("2026-W48") == (2026, 48)
    assert week_bounds("2026-W48", SH) == (sh("2026-11-23 00:00"), sh("2026-11-30 00:00"))
    assert week_of(sh("2026-11-29 23:59"), SH) == "2026-W48"
    assert previous_week(sh("2026-11-30 09:00"), SH) == "2026-W48"
    assert month_bounds("2026-12", SH) == (sh("2026-12-01 00:00"), sh("2027-01-01 00:00"))
    assert previous_month(sh("2027-01-01 09:00"), SH) == "2026-12"
    for bad in ("2026-48", "2026-W54", "W48"):
        with pytest.raises(ValueError):
            parse_week(bad)


def test_major_issue_or_complaint() -> None:
    kw = dict(severities=["urgent", "major"], types=["complaint"], count_major_incident=True)
    assert is_major_issue(severity="major", type="technical", major_incident=False, **kw)
    assert is_major_issue(severity="minor", type="complaint", major_incident=False, **kw)
    assert is_major_issue(severity="minor", type="technical", major_incident=True, **kw)
    assert not is_major_issue(severity="normal", type="technical", major_incident=False, **kw)


# ---------------------------------------------------------------------------------------------- rules file


def test_shipped_rules_have_the_spec_numbers() -> None:
    r = load_itr_rules(ROOT / "rules")
    assert (r.quota.office, r.quota.region, r.quota.window) == (0.20, 0.10, "quarter")
    assert (r.callback.min_rate, r.callback.urgent, r.callback.close_min_score) == (0.10, 1.0, 3)
    assert load_masterdata_rules(ROOT / "rules").callback_gap_days == 10  # the same-contact gap, for every flow
    assert (r.weekly_quota.revenue_line_usd, r.weekly_quota.min_valid_issues) == (50_000_000, 2)
    assert r.dispatch.by_type["non_technical"] == "sales"
    assert ItrRules() == ItrRules.model_validate({})  # defaults when the file is missing


def test_a_bad_rules_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "itr.yaml").write_text("quota:\n  office: 0.2\n  region: 1.5\n  window: fortnight\n"
                                       "sla:\n  contracts:\n    X: {blocker: 1}\n"
                                       "reviews:\n  weekly_types: [hardware]\n", encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_itr_rules(tmp_path)
    text = str(err.value)
    assert "itr.yaml:3: quota.region" in text
    assert "itr.yaml:4: quota.window" in text and "fortnight" in text
    assert "unknown severity blocker" in text
    assert "itr.yaml:9: reviews.weekly_types" in text and "unknown issue type hardware" in text


# ---------------------------------------------------------------------------------------------- search tokens


def test_chinese_is_indexed_as_bigrams_and_single_characters() -> None:
    toks = tokenize("光模块告警")
    assert {"光模", "模块", "块告", "告警", "光"} <= set(toks)
    assert set(tokenize("光模块告警", for_query=True)) == {"光模", "模块", "块告", "告警"}
    assert set(tokenize("光", for_query=True)) == {"光"}


def test_latin_words_and_full_width_forms_fold_together() -> None:
    assert tokenize("ＯＮＵ 掉线 onu-2") == tokenize("onu 掉线 ONU 2")


def test_title_tokens_weigh_more() -> None:
    w = document_tokens("告警", "告警")
    assert w["告警"] == 4


