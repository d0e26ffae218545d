"""Pure date rules of planning and care: the kit deadline in business-calendar terms, reminder
instants, lunar festivals, 29 February birthdays, periods, visit cadences, rotation flags."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.calendar import BusinessCalendar, CalendarSpec, builtin_registry
from engine.timespec import parse_anchor
from flows.planning.dates import (birthday_in_year, cadence_days_for, check_due, festivals_in,
                                  festivals_to_remind, half_of, kit_deadline, kit_schedule, lunar_to_solar,
                                  previous_period, quarter_bounds, quarter_key, rotation_flag_day, visit_status,
                                  week_key)
from flows.planning.rules import CareRules, CompanyDate, FestivalRules, KitRules, VisitRules

CN = builtin_registry().get(None)


def cn_with(**overrides: object) -> BusinessCalendar:
    spec = CalendarSpec(name="CN-test", timezone="Asia/Shanghai", country="CN", **overrides)  # type: ignore[arg-type]
    return BusinessCalendar(spec)


# ----------------------------------------------------------------------------------------- kit deadline


def test_deadline_is_31_march_when_it_is_a_workday() -> None:
    assert kit_deadline(2027, KitRules(), CN) == date(2027, 3, 31)  # a Wednesday


def test_deadline_on_a_saturday_moves_to_the_last_workday_before() -> None:
    assert date(2029, 3, 31).weekday() == 5
    assert kit_deadline(2029, KitRules(), CN) == date(2029, 3, 30)


def test_deadline_on_a_sunday_can_be_configured_to_move_forward() -> None:
    rules = KitRules(deadline="03-28", deadline_roll="next_workday")  # Sun 28 Mar 2027
    assert kit_deadline(2027, rules, CN) == date(2027, 3, 29)


def test_deadline_on_a_make_up_workday_stays() -> None:
    cal = cn_with(extra_workdays=[date(2029, 3, 31)])  # a 调休 Saturday declared a workday
    assert kit_deadline(2029, KitRules(), cal) == date(2029, 3, 31)


def test_kit_schedule_is_due_at_six_and_escalates_7_days_after() -> None:
    # The reminders are the flow's own list timer (tests/unit/test_timer_forms.py checks their instants).
    s = kit_schedule(2027, KitRules(), CN)
    assert s.deadline_at.astimezone(CN.tz) == datetime(2027, 3, 31, 18, 0, tzinfo=CN.tz)
    assert s.escalate_at.astimezone(CN.tz) == datetime(2027, 4, 7, 18, 0, tzinfo=CN.tz)


def test_a_deadline_on_a_make_up_saturday_stays_in_the_schedule() -> None:
    s = kit_schedule(2026, KitRules(deadline="02-28"), CN)
    assert s.deadline == date(2026, 2, 28)


def test_check_due_counts_a_make_up_saturday_as_a_workday() -> None:
    # 2026: 1–8 Oct off (National Day and Mid-Autumn), Sat 10 Oct a make-up workday (调休): the 10
    # business days from Thu 1 Oct are 9, 10, 12, 13, 14, 15, 16, 19, 20, 21 Oct (22 Oct without 调休).
    start = datetime(2026, 10, 1, 9, 0, tzinfo=CN.tz)
    due = check_due(start, 10, CN)
    assert due.astimezone(CN.tz) == datetime(2026, 10, 21, 9, 0, tzinfo=CN.tz)
    # the flows' reminder timers: "{item} business days before data.due_at" for the rules items [3, 1]
    reminders = [parse_anchor(f"{n} business days before data.due_at").resolve({"due_at": due.isoformat()}, start,
                                                                                CN, CN.tz) for n in (3, 1)]
    assert [r.astimezone(CN.tz).date() for r in reminders if r] == [date(2026, 10, 16), date(2026, 10, 20)]


# ----------------------------------------------------------------------------------------- festivals


@pytest.mark.parametrize(("year", "spring", "dragon_boat", "mid_autumn"), [
    (2026, date(2026, 2, 17), date(2026, 6, 19), date(2026, 9, 25)),
    (2027, date(2027, 2, 6), date(2027, 6, 9), date(2027, 9, 15)),
    (2028, date(2028, 1, 26), date(2028, 5, 28), date(2028, 10, 3)),
])
def test_lunar_festivals_are_computed_not_hard_coded(year: int, spring: date, dragon_boat: date,
                                                     mid_autumn: date) -> None:
    assert lunar_to_solar(year, 1, 1) == spring
    assert lunar_to_solar(year, 5, 5) == dragon_boat
    assert lunar_to_solar(year, 8, 15) == mid_autumn
    by_name = {f.name: f.day for f in festivals_in(year, FestivalRules())}
    assert (by_name["spring_festival"], by_name["dragon_boat"], by_name["mid_autumn"]) == (spring, dragon_boat,
                                                                                          mid_autumn)


def test_festival_reminders_fall_days_before_even_across_the_new_year() -> None:
    rules = FestivalRules(company=[CompanyDate(name="founding", zh="司庆", en="Founding day", day="01-02",
                                               days_before=2)])
    assert [f.name for f in festivals_to_remind(date(2027, 2, 3), rules)] == ["spring_festival"]  # 3 days before
    assert [f.name for f in festivals_to_remind(date(2026, 12, 31), rules)] == ["founding"]
    assert festivals_to_remind(date(2027, 2, 4), rules) == []


def test_a_one_off_company_date_is_reminded_in_its_year_only() -> None:
    rules = FestivalRules(lunar=[], company=[CompanyDate(name="expo", zh="展会", en="Expo", on=date(2027, 5, 20))])
    assert [f.day for f in festivals_in(2027, rules)] == [date(2027, 5, 20)]
    assert festivals_in(2028, rules) == []


# ----------------------------------------------------------------------------------------- birthdays


def test_a_29_february_birthday_is_remembered_on_28_february_in_common_years() -> None:
    born = date(1976, 2, 29)
    assert birthday_in_year(born, 2027) == date(2027, 2, 28)
    assert birthday_in_year(born, 2028) == date(2028, 2, 29)
    assert birthday_in_year(born, 2027, "mar1") == date(2027, 3, 1)
    assert birthday_in_year(date(1980, 3, 15), 2027) == date(2027, 3, 15)


# ----------------------------------------------------------------------------------------- periods


def test_periods() -> None:
    assert quarter_key(date(2027, 5, 3)) == "2027-Q2"
    assert quarter_bounds(date(2027, 5, 3)) == (date(2027, 4, 1), date(2027, 6, 30))
    assert (half_of(date(2027, 6, 30)), half_of(date(2027, 7, 1))) == ("H1", "H2")
    assert week_key(date(2027, 1, 4)) == "2027-W01"
    assert [previous_period(p) for p in ("2027-Q1", "2027-Q3", "2027-H1", "2027-H2", "2027", "2027-01")] == \
        ["2026-Q4", "2027-Q2", "2026-H2", "2027-H1", "2026", "2026-12"]


# ----------------------------------------------------------------------------------------- visits, rotation


def test_visit_is_overdue_the_day_after_it_falls_due_and_escalated_after_the_grace() -> None:
    last = date(2027, 3, 1)
    assert visit_status(last, 7, date(2027, 3, 8), 7).remind_owner is False  # due today
    st = visit_status(last, 7, date(2027, 3, 9), 7)
    assert (st.due, st.overdue_days, st.remind_owner, st.escalate) == (date(2027, 3, 8), 1, True, False)
    assert visit_status(last, 7, date(2027, 3, 15), 7).escalate is False
    assert visit_status(last, 7, date(2027, 3, 16), 7).escalate is True


def test_a_logged_visit_resets_the_clock() -> None:
    assert visit_status(date(2027, 3, 1), 14, date(2027, 3, 20), 7).remind_owner is True
    assert visit_status(date(2027, 3, 18), 14, date(2027, 3, 20), 7).remind_owner is False


def test_cadence_per_tier_comes_from_care_rules_then_tier_rules() -> None:
    tiers = {"S": 7, "A": 14, "B": 30, "C": None}
    assert cadence_days_for("A", CareRules(), tiers) == 14
    assert cadence_days_for("C", CareRules(), tiers) is None
    assert cadence_days_for("A", CareRules(visits=VisitRules(days_by_tier={"A": 10})), tiers) == 10


def test_rotation_is_flagged_a_quarter_before_four_years() -> None:
    end, flag = rotation_flag_day(date(2023, 6, 1), 4, 91)
    assert (end, flag) == (date(2027, 6, 1), date(2027, 3, 2))
    assert rotation_flag_day(date(2024, 2, 29), 4, 0)[0] == date(2028, 2, 29)
    assert rotation_flag_day(date(2024, 2, 29), 3, 0)[0] == date(2027, 2, 28)
