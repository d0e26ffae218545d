"""The ITR weekly report page in a real browser: the figures it shows are those of
`mcr itr report --json` for the same office and week (the real CLI on the server's database and
clock), and its charts are drawn by the vendored ECharts (`[data-drawn]`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

from tests.browser.conftest import FAKE_NOW, MCR, LiveServer, as_user
from tests.browser.test_issue_main_path import open_issue
from tests.conftest import ROOT


def cli(server: LiveServer, *args: str) -> Any:
    env = {**os.environ, "MCR_DATABASE_URL": server.db.url, "MCR_FAKE_NOW": FAKE_NOW, "MCR_LOCALE": "zh-CN",
           "MCR_RULES_DIR": str(ROOT / "rules"), "MCR_MAIL_DIR": str(Path(server.log).parent / "mail")}
    done = subprocess.run([MCR, *args], env=env, capture_output=True, timeout=120, cwd=str(Path(server.log).parent))
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return json.loads(done.stdout)


def test_the_weekly_page_shows_the_figures_of_the_cli_report_with_its_charts_drawn(
        new_page: Callable[..., Any], server: LiveServer) -> None:
    am = as_user(new_page, server, "SZ-AM1")
    open_issue(am, server.url, "报表：基站告警")
    open_issue(am, server.url, "报表：账单疑问", severity="normal")
    page = as_user(new_page, server, "SZ-SUP")
    page.goto(f"{server.url}/itr/reports/weekly?unit=OFF-SZ&week=2026-W48")
    page.wait_for_selector("[data-testid=chart-new-issues] [data-drawn]")
    page.wait_for_selector("[data-testid=chart-trend-rates] [data-drawn] svg")
    shown = {el.get_attribute("data-figure"): json.loads(el.get_attribute("data-value"))
             for el in page.locator("[data-figure]").all()}
    report = cli(server, "itr", "report", "--week", "2026-W48", "--office", "OFF-SZ", "--json")
    assert report["new_valid_issues"] >= 2
    for path, value in shown.items():
        want: Any = report
        for part in path.split("."):
            want = want[part]
        assert value == want, path
    assert page.locator("[data-figure=new_valid_issues]").inner_text() == str(report["new_valid_issues"])
    rows = page.locator("[data-testid=chart-trend-issues-table] tbody tr")
    assert rows.count() == len(report["trend"]) and rows.last.locator("th").inner_text() == "2026-W48"
