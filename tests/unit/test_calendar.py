"""Business calendars: worked examples of days, SLA arithmetic, DST and the YAML files."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine import calendar as calmod
from engine.calendar import (
    BusinessCalendar,
    BusinessTimeError,
    CalendarError,
    CalendarSpec,
    InvalidCalendarFile,
    NaiveDatetimeError,
    WorkingHours,
    builtin_registry,
    load_calendars,
)
from engine.errors import InvalidRules, MCRError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules" / "calendars"
DOC = ROOT / "docs" / "calendars.md"

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return builtin_registry().get(None)


@pytest.fixture(scope="module")
def shipped():
    return load_calendars(SHIPPED)


def local(cal: BusinessCalendar, instant: datetime) -> datetime:
    return instant.astimezone(cal.tz)


# --------------------------------------------------------------------------- working days


def test_saturday_make_up_workday_is_a_workday_in_china(cn: BusinessCalendar) -> None:
    assert date(2026, 2, 14).weekday() == 5
    assert cn.is_workday(date(2026, 2, 14))


def test_national_day_is_not_a_workday(cn: BusinessCalendar) -> None:
    assert all(not cn.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert cn.is_workday(date(2026, 10, 8))


def test_all_2026_make_up_workdays_of_china_are_workdays(cn: BusinessCalendar) -> None:
    make_up = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
               date(2026, 9, 20), date(2026, 10, 10)]
    assert all(d.weekday() >= 5 and cn.is_workday(d) for d in make_up)
    assert not cn.is_workday(date(2026, 2, 21))  # an ordinary Saturday stays off


def test_aware_datetime_counts_by_its_local_date(cn: BusinessCalendar) -> None:
    # 2026-10-08 20:00 UTC is already Friday 10-09 in Shanghai; 2026-09-30 20:00 UTC is 10-01.
    assert not cn.is_workday(datetime(2026, 9, 30, 20, tzinfo=UTC))
    assert cn.is_workday(datetime(2026, 9, 30, 10, tzinfo=UTC))


def test_29_february_is_an_ordinary_workday(cn: BusinessCalendar, shipped) -> None:
    assert cn.is_workday(date(2024, 2, 29))          # chinese_calendar year
    assert cn.is_workday(date(2028, 2, 29))          # holidays-package year
    berlin = shipped.get("DE-Berlin")
    assert berlin.is_workday(date(2028, 2, 29))
    due = berlin.add_business_days(datetime(2028, 2, 28, 10, tzinfo=BERLIN), 1)
    assert local(berlin, due) == datetime(2028, 2, 29, 10, tzinfo=BERLIN)
    due = cn.add_business_days(datetime(2028, 2, 29, 10, tzinfo=SH), 1)
    assert local(cn, due) == datetime(2028, 3, 1, 10, tzinfo=SH)


def test_roll_to_workday_both_directions(cn: BusinessCalendar) -> None:
    assert cn.roll_to_workday(date(2026, 10, 4), "forward") == date(2026, 10, 8)
    assert cn.roll_to_workday(date(2026, 10, 4), "backward") == date(2026, 9, 30)
    assert cn.next_workday(date(2026, 9, 20)) == date(2026, 9, 20)  # a workday is itself
    with pytest.raises(BusinessTimeError):
        cn.roll_to_workday(date(2026, 10, 4), "sideways")  # type: ignore[arg-type]


def test_berlin_has_its_own_holidays(shipped) -> None:
    berlin = shipped.get("DE-Berlin")
    assert not berlin.is_workday(date(2027, 3, 8))    # Women's Day, Berlin only
    assert not berlin.is_workday(date(2026, 4, 3))    # Good Friday
    assert not berlin.is_workday(date(2026, 10, 10))  # a Chinese 补班 Saturday means nothing here
    assert berlin.is_workday(date(2026, 10, 1))       # nor does China's National Day


def test_new_york_works_on_state_holidays_it_lists(shipped) -> None:
    ny = shipped.get("US-NewYork")
    assert ny.is_workday(date(2026, 2, 12))           # Lincoln's Birthday: listed as worked
    assert ny.is_workday(date(2026, 11, 3))           # Election Day: listed as worked
    assert not ny.is_workday(date(2026, 11, 26))      # Thanksgiving
    assert not ny.is_workday(date(2026, 7, 3))        # Independence Day (observed)


def test_make_up_workdays_are_read_from_holidays_package_names(monkeypatch) -> None:
    # Pretend chinese_calendar stops before 2026, as it will for 2027: the fallback must
    # still find 2026's 调休 days in the holidays package's "substituted from" names.
    real = calmod.chinese_calendar.is_workday

    def only_to_2025(d: date) -> bool:
        if d.year >= 2026:
            raise NotImplementedError("no available data")
        return real(d)

    calmod._china_year.cache_clear()
    monkeypatch.setattr(calmod.chinese_calendar, "is_workday", only_to_2025)
    try:
        cal = BusinessCalendar(CalendarSpec(name="CN", timezone="Asia/Shanghai", country="CN"))
        for d in (date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                  date(2026, 9, 20), date(2026, 10, 10)):
            assert cal.is_workday(d), d
        assert not cal.is_workday(date(2026, 2, 20))  # the day off substituted for 02-14
        assert not cal.is_workday(date(2026, 10, 7))
    finally:
        calmod._china_year.cache_clear()


def test_years_after_chinese_calendar_use_the_holidays_package(cn: BusinessCalendar) -> None:
    assert not cn.is_workday(date(2027, 10, 1))       # National Day
    assert not cn.is_workday(date(2027, 2, 8))        # Spring Festival
    assert cn.is_workday(date(2027, 3, 1))


def test_company_overrides_win_over_packages(tmp_path: Path) -> None:
    (tmp_path / "cn.yaml").write_text(
        "name: CN\ndefault: true\ntimezone: Asia/Shanghai\ncountry: CN\n"
        "extra_holidays: [2026-12-31]\n", encoding="utf-8")
    (tmp_path / "cn-workdays.yaml").write_text(
        "kind: overrides\ncountry: CN\nextra_workdays: [2026-10-02, 2027-02-20]\n"
        "extra_holidays: [2026-10-09]\n", encoding="utf-8")
    cal = load_calendars(tmp_path).get("CN")
    assert cal.is_workday(date(2026, 10, 2))          # package holiday, company works
    assert cal.is_workday(date(2027, 2, 20))          # a Saturday make-up day for 2027
    assert not cal.is_workday(date(2026, 10, 9))      # company day off
    assert not cal.is_workday(date(2026, 12, 31))     # from the calendar file itself
    assert cal.spec.extra_workdays == [date(2026, 10, 2), date(2027, 2, 20)]


# --------------------------------------------------------------------------- business days


def test_two_business_days_from_friday_count_the_sunday_make_up_workday(cn: BusinessCalendar) -> None:
    start = datetime(2026, 9, 18, 15, tzinfo=SH)      # Friday; Sunday 09-20 is a 补班 day
    assert local(cn, cn.add_business_days(start, 1)) == datetime(2026, 9, 20, 15, tzinfo=SH)
    assert local(cn, cn.add_business_days(start, 2)) == datetime(2026, 9, 21, 15, tzinfo=SH)


def test_business_days_skip_the_national_day_week(cn: BusinessCalendar) -> None:
    start = datetime(2026, 9, 30, 10, tzinfo=SH)
    assert local(cn, cn.add_business_days(start, 1)) == datetime(2026, 10, 8, 10, tzinfo=SH)
    assert local(cn, cn.add_business_days(start, 3)) == datetime(2026, 10, 10, 10, tzinfo=SH)


def test_friday_afternoon_plus_two_business_days_is_tuesday_same_time(cn: BusinessCalendar) -> None:
    due = cn.add_business_days(datetime(2026, 3, 6, 15, tzinfo=SH), 2)
    assert due == datetime(2026, 3, 10, 7, tzinfo=UTC)  # Tuesday 15:00 in Shanghai
    assert due.tzinfo is UTC


def test_after_hours_start_counts_from_next_morning(cn: BusinessCalendar) -> None:
    friday_evening = datetime(2026, 3, 6, 20, tzinfo=SH)
    assert local(cn, cn.add_business_days(friday_evening, 1)) == datetime(2026, 3, 10, 9, tzinfo=SH)
    lunch = datetime(2026, 3, 6, 12, 30, tzinfo=SH)
    assert local(cn, cn.add_business_days(lunch, 1)) == datetime(2026, 3, 9, 13, 30, tzinfo=SH)
    closing = datetime(2026, 3, 6, 18, tzinfo=SH)    # the end of the day is not working time
    assert local(cn, cn.add_business_days(closing, 1)) == datetime(2026, 3, 10, 9, tzinfo=SH)
    assert local(cn, cn.add_business_days(friday_evening, 0)) == datetime(2026, 3, 9, 9, tzinfo=SH)


def test_start_in_another_zone_is_converted_first(cn: BusinessCalendar) -> None:
    start = datetime(2026, 3, 6, 7, tzinfo=UTC)       # Friday 15:00 in Shanghai
    assert cn.add_business_days(start, 2) == datetime(2026, 3, 10, 7, tzinfo=UTC)


def test_business_days_across_the_berlin_dst_switch_keep_local_time(shipped) -> None:
    berlin = shipped.get("DE-Berlin")
    due = berlin.add_business_days(datetime(2026, 3, 27, 10, tzinfo=BERLIN), 1)
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)  # 10:00 CEST, not 10:00 CET


def test_negative_or_fractional_days_are_refused(cn: BusinessCalendar) -> None:
    start = datetime(2026, 3, 6, 15, tzinfo=SH)
    with pytest.raises(BusinessTimeError, match="negative"):
        cn.add_business_days(start, -1)
    with pytest.raises(BusinessTimeError, match="whole number"):
        cn.add_business_days(start, 1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- business hours


def test_business_hours_skip_lunch_night_and_weekend(cn: BusinessCalendar) -> None:
    start = datetime(2026, 3, 6, 17, tzinfo=SH)       # Friday
    assert local(cn, cn.add_business_hours(start, 1)) == datetime(2026, 3, 6, 18, tzinfo=SH)
    assert local(cn, cn.add_business_hours(start, 3)) == datetime(2026, 3, 9, 11, tzinfo=SH)
    assert local(cn, cn.add_business_hours(start, 4.5)) == datetime(2026, 3, 9, 14, tzinfo=SH)
    assert local(cn, cn.add_business_hours(start, 0.5)) == datetime(2026, 3, 6, 17, 30, tzinfo=SH)
    assert cn.add_business_hours(start, 0) == start


def test_business_hours_across_the_berlin_spring_dst_switch(shipped) -> None:
    berlin = shipped.get("DE-Berlin")
    friday = datetime(2026, 3, 27, 16, tzinfo=BERLIN)  # CET (+01:00); Sunday 03-29 jumps to CEST
    due = berlin.add_business_hours(friday, 2)
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)  # Monday 10:00 CEST
    assert berlin.business_seconds_between(friday, due) == 2 * 3600


def test_business_hours_across_the_berlin_autumn_dst_switch(shipped) -> None:
    berlin = shipped.get("DE-Berlin")
    friday = datetime(2026, 10, 23, 16, tzinfo=BERLIN)  # CEST; Sunday 10-25 falls back to CET
    assert berlin.add_business_hours(friday, 2) == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_business_hours_across_the_new_york_dst_switch(shipped) -> None:
    ny = shipped.get("US-NewYork")
    friday = datetime(2026, 3, 6, 16, tzinfo=NEW_YORK)  # EST; Sunday 03-08 jumps to EDT
    assert ny.add_business_hours(friday, 2) == datetime(2026, 3, 9, 14, tzinfo=UTC)


def test_business_seconds_between_counts_only_working_time(cn: BusinessCalendar) -> None:
    friday = datetime(2026, 9, 18, 15, tzinfo=SH)
    monday = datetime(2026, 9, 21, 15, tzinfo=SH)
    # Fri 15-18 (3 h) + Sun 补班 (7.5 h) + Mon 9-12, 13:30-15 (4.5 h)
    assert cn.business_seconds_between(friday, monday) == 15 * 3600
    assert cn.business_seconds_between(monday, friday) == -15 * 3600
    assert cn.business_seconds_between(friday, friday) == 0


def test_bad_hours_are_refused(cn: BusinessCalendar) -> None:
    start = datetime(2026, 3, 6, 15, tzinfo=SH)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(BusinessTimeError):
            cn.add_business_hours(start, bad)


# --------------------------------------------------------------------------- naive datetimes


def test_naive_datetimes_are_refused_everywhere(cn: BusinessCalendar) -> None:
    naive = datetime(2026, 3, 6, 15)
    aware = datetime(2026, 3, 6, 15, tzinfo=SH)
    calls = [
        lambda: cn.add_business_days(naive, 1),
        lambda: cn.add_business_hours(naive, 1),
        lambda: cn.business_seconds_between(naive, aware),
        lambda: cn.business_seconds_between(aware, naive),
        lambda: cn.is_workday(naive),
        lambda: cn.next_workday(naive),
        lambda: cn.roll_to_workday(naive, "backward"),
        lambda: cn.next_working_instant(naive),
    ]
    for call in calls:
        with pytest.raises(NaiveDatetimeError, match="no time zone") as info:
            call()
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, MCRError)


def test_a_date_where_a_datetime_is_needed_is_refused(cn: BusinessCalendar) -> None:
    with pytest.raises(BusinessTimeError, match="aware datetime"):
        cn.add_business_days(date(2026, 3, 6), 1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- registry and files


def test_shipped_calendars_load_with_cn_as_default(shipped) -> None:
    assert shipped.names == ["CN", "DE-Berlin", "US-NewYork"]
    assert shipped.default_name == "CN"
    assert shipped.get(None) is shipped.get("CN")
    assert shipped.get("DE-Berlin").tz == ZoneInfo("Europe/Berlin")
    assert shipped.get("CN").spec.hours == [WorkingHours(start=time(9), end=time(12)),
                                            WorkingHours(start=time(13, 30), end=time(18))]


def test_builtin_registry_needs_no_files() -> None:
    reg = builtin_registry()
    assert reg.names == ["CN"] and reg.default_name == "CN"
    assert reg.get(None).spec.timezone == "Asia/Shanghai"


def test_unknown_calendar_name_lists_the_known_ones(shipped) -> None:
    with pytest.raises(CalendarError) as info:
        shipped.get("CN-Mars")
    message = str(info.value)
    assert "CN-Mars" in message
    assert "CN, DE-Berlin, US-NewYork" in message


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(InvalidCalendarFile) as info:
        load_calendars(folder)
    assert isinstance(info.value, InvalidRules) and isinstance(info.value, CalendarError)
    return str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: X\ntimezone: Asia/Shanghai\ncountry: [CN\n")
    message = load_error(tmp_path)
    assert re.search(rf"^{re.escape(str(path))}:\d+: YAML syntax error", message, re.M)


def test_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "mars.yaml",
                 "name: Mars\ntimezone: Mars/Olympus_Mons\ncountry: CN\n")
    assert f"{path}:2: timezone: unknown IANA time zone 'Mars/Olympus_Mons'" in load_error(tmp_path)


def test_bad_working_interval_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\nhours:\n"
                 "  - '09:00-12:00'\n  - '18:00-13:30'\n")
    message = load_error(tmp_path)
    assert f"{path}:6: hours.1: start 18:00 must be before end 13:30" in message


def test_unquoted_sexagesimal_time_gets_a_helpful_message(tmp_path: Path) -> None:
    path = write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\nhours:\n"
                 "  - {start: '09:00', end: 13:30}\n")
    message = load_error(tmp_path)
    assert f"{path}:5: hours.0.end:" in message and "quote times" in message


def test_mapping_form_of_hours_with_quotes_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\nhours:\n"
          "  - {start: '08:30', end: '17:00'}\n")
    assert load_calendars(tmp_path).get("CN").spec.hours == [WorkingHours(start=time(8, 30),
                                                                          end=time(17))]


def test_unknown_field_and_missing_field_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\nweekends: [6]\n")
    path2 = write(tmp_path, "de.yaml", "name: DE\ncountry: DE\n")
    message = load_error(tmp_path)
    assert f"{path}:4: weekends: unknown field" in message
    assert f"{path2}:1: timezone: required field is missing" in message


def test_two_defaults_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: A\ndefault: true\ntimezone: Asia/Shanghai\ncountry: CN\n")
    path = write(tmp_path, "b.yaml", "name: B\ndefault: true\ntimezone: Europe/Berlin\ncountry: DE\n")
    assert f"{path}:2: default: 'B' is marked default, but so is 'A'" in load_error(tmp_path)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: A\ndefault: true\ntimezone: Asia/Shanghai\ncountry: CN\n")
    path = write(tmp_path, "b.yaml", "name: A\ntimezone: Europe/Berlin\ncountry: DE\n")
    assert f"{path}:1: name: calendar 'A' is already defined" in load_error(tmp_path)


def test_override_for_unknown_calendar_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\n")
    path = write(tmp_path, "extra.yaml", "kind: overrides\ncalendars:\n  - CN\n  - CN-Mars\n"
                 "extra_holidays: [2026-12-24]\n")
    assert f"{path}:4: calendars.1: unknown calendar 'CN-Mars'; known calendars: CN" in load_error(tmp_path)


def test_day_both_off_and_on_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "cn.yaml", "name: CN\ntimezone: Asia/Shanghai\ncountry: CN\n"
                 "extra_holidays: [2026-12-24]\nextra_workdays: [2026-12-24]\n")
    assert f"{path}:5: extra_workdays: listed both" in load_error(tmp_path)


def test_unknown_working_holiday_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "ny.yaml", "name: NY\ntimezone: America/New_York\ncountry: US\n"
                 "subdivision: NY\nworking_holidays:\n  - Lincolns Birthday\n")
    assert f"{path}:6: working_holidays.0: the holidays package has no holiday" in load_error(tmp_path)


def test_unknown_subdivision_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "de.yaml", "name: DE\ntimezone: Europe/Berlin\ncountry: DE\n"
                 "subdivision: XX\n")
    assert f"{path}:4: subdivision: unknown subdivision 'XX' of DE" in load_error(tmp_path)


def test_all_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: A\ntimezone: Nowhere/Land\ncountry: CN\n")
    write(tmp_path, "b.yaml", "name: B\ntimezone: Asia/Shanghai\ncountry: ZZ\n")
    message = load_error(tmp_path)
    assert "a.yaml:2:" in message and "b.yaml:3:" in message


def test_missing_folder_is_a_calendar_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="does not exist"):
        load_calendars(tmp_path / "nope")


# --------------------------------------------------------------------------- performance


def test_warm_cache_needs_no_package_lookups(monkeypatch, cn: BusinessCalendar) -> None:
    start = datetime(2026, 11, 20, 10, tzinfo=SH)
    cn.add_business_days(start, 60)  # warms 2026 and 2027

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("package looked up on a warm cache")

    monkeypatch.setattr(calmod.chinese_calendar, "is_workday", forbidden)
    monkeypatch.setattr(calmod.holidays_pkg, "country_holidays", forbidden)
    monkeypatch.setattr(calmod, "_statutory_year", forbidden)
    for n in range(1, 61):
        assert cn.add_business_days(start, n) > start


# --------------------------------------------------------------------------- the user doc


def test_yaml_examples_in_the_doc_load(tmp_path: Path) -> None:
    """Every ```yaml block of docs/calendars.md that starts with `# file: x.yaml` is valid."""
    blocks = re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    for name, body in blocks:
        write(tmp_path, name, body)
    reg = load_calendars(tmp_path)
    assert reg.default_name == "CN"
    assert timedelta(0) < timedelta(seconds=reg.get(None).business_seconds_between(
        datetime(2026, 3, 9, 9, tzinfo=SH), datetime(2026, 3, 9, 18, tzinfo=SH)))


def test_holiday_source_tells_real_from_projected_chinese_years(cn: BusinessCalendar, shipped) -> None:
    assert cn.holiday_source(2026) == "chinese_calendar"
    assert cn.holiday_source(2027) == "holidays"
    assert shipped.get("DE-Berlin").holiday_source(2026) == "holidays"


def test_python_example_in_the_doc_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert blocks
    monkeypatch.chdir(ROOT)
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})
