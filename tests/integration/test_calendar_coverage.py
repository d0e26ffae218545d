"""Calendar coverage: chinese-calendar knows China's official schedule only up to a year; a coming
year without official data and without an override in rules/calendars/ is warned about, weeks
ahead, by `mcr calendars check` and at `mcr serve` start — never silently projected."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

from engine.calendar import china_official_through, coverage_gaps, load_calendars
from engine.clock import SystemClock
from engine.db import Database
from tests.conftest import ROOT, TEST_FLOWS

RULES = ROOT / "rules"
LAST = china_official_through()  # 2026 with chinese-calendar 1.11
NEXT = LAST + 1


def rules_copy(tmp_path: Path, extra_workdays: list[str] | None = None) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    if extra_workdays is not None:
        (folder / "calendars" / "cn-workdays.yaml").write_text(
            "kind: overrides\ncountry: CN\nextra_workdays: [" + ", ".join(extra_workdays) + "]\nextra_holidays: []\n",
            encoding="utf-8")
    return folder


def test_the_coming_year_without_official_data_is_a_gap_weeks_ahead_but_not_months_before() -> None:
    registry = load_calendars(RULES / "calendars")
    december = date(LAST, 12, 4)
    gaps = coverage_gaps(registry, december, weeks=8)
    assert [(g.calendar, g.year) for g in gaps] == [("CN", NEXT)]  # US and German holidays are rules, not decrees
    assert coverage_gaps(registry, date(LAST, 6, 1), weeks=8) == []
    assert coverage_gaps(registry, december, weeks=2) == []  # 2 weeks from 4 Dec is still this year


def test_a_year_with_official_data_copied_into_the_overrides_is_covered(tmp_path: Path) -> None:
    folder = rules_copy(tmp_path, [f"{NEXT}-02-07"])  # a 补班 Saturday from the notice
    registry = load_calendars(folder / "calendars")
    assert coverage_gaps(registry, date(LAST, 12, 4), weeks=8) == []
    assert registry.get("CN").is_workday(date(NEXT, 2, 7))


def _mcr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=120)


def test_calendars_check_warns_in_the_users_language_and_exits_1(tmp_path: Path) -> None:
    # Ten years ahead always reaches a year no chinese-calendar release knows yet.
    env = {"MCR_RULES_DIR": str(rules_copy(tmp_path))}
    res = _mcr("calendars", "check", "--weeks", "520", env=env)
    assert res.returncode == 1
    first = res.stderr.splitlines()[0]
    assert first.startswith("警告: 日历 CN 的") and "cn-workdays.yaml" in first and "Traceback" not in res.stderr
    res_en = _mcr("calendars", "check", "--weeks", "520", env={**env, "MCR_LOCALE": "en"})
    assert "has no official holiday schedule" in res_en.stderr


def test_calendars_check_is_quiet_and_exits_0_when_every_year_is_covered(tmp_path: Path) -> None:
    env = {"MCR_RULES_DIR": str(rules_copy(tmp_path)), "MCR_CALENDAR_WARN_WEEKS": "0"}
    today = SystemClock().now().date()  # the command reads the system clock; only this year is looked at
    if today.year > LAST:
        env["MCR_RULES_DIR"] = str(rules_copy(tmp_path / "x", [f"{today.year}-01-01"]))
    res = _mcr("calendars", "check", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "所有日历在检查期内都有官方节假日安排或公司调整"


def test_serve_warns_at_start_about_a_coming_year_without_official_data(db: Database, tmp_path: Path) -> None:
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_CALENDAR_WARN_WEEKS="520",
               MCR_RULES_DIR=str(rules_copy(tmp_path)), MCR_MAIL_DIR=str(tmp_path / "mail"),
               PREFECT_HOME=str(tmp_path / "prefect"), MCR_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", "0"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "mcr 已启动" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=30)  # keep draining the pipe while it stops
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert any(f"日历 CN 的 {NEXT} 年没有官方节假日安排" in line for line in lines), "".join(lines)


def test_docs_say_how_to_add_the_coming_year() -> None:
    doc = (ROOT / "docs" / "calendars.md").read_text(encoding="utf-8")
    assert "mcr calendars check" in doc and "MCR_CALENDAR_WARN_WEEKS" in doc
