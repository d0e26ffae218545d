"""The unit scorecard page in a real browser (SQLite): the office head sees their office's figures
with both charts drawn and their numbers as tables, the region head switches between the offices
they cover, and a handler who covers no unit gets the empty page."""

from __future__ import annotations

import re
from typing import Any, Callable

from tests.browser.conftest import LiveServer, as_user


def test_the_scorecard_page_shows_figures_and_charts_and_switches_units(server: LiveServer,
                                                                       new_page: Callable[..., Any]) -> None:
    base = server.url
    head = as_user(new_page, server, "SZ-SUP")
    head.goto(f"{base}/inbox")
    head.click("a[href='/itr/scorecard']")
    head.wait_for_url(re.compile(r"/itr/scorecard$"))
    assert "深圳代表处（OFF-SZ）2026-Q4" in head.locator("[data-testid=scorecard-heading]").inner_text()
    assert head.locator("[data-testid=scorecard] tbody tr").count() == 9
    for chart in ("itr-scorecard-rates", "itr-scorecard-escalations"):
        head.wait_for_selector(f"#{chart} svg", state="attached")  # ECharts drew it (SVG renderer)
        assert head.locator(f"[data-testid={chart}-table] tbody tr").count() == 3  # one row per month

    region = as_user(new_page, server, "R-SUP")
    region.goto(f"{base}/itr/scorecard")
    options = region.locator("select[name=unit] option").all_inner_texts()
    assert any("OFF-GZ" in o for o in options) and any("R-SOUTH" in o for o in options)
    region.select_option("select[name=unit]", "OFF-GZ")
    region.fill("input[name=period]", "2026-11")
    region.click("[data-testid=scorecard-form] button[type=submit]")
    region.wait_for_url(re.compile(r"unit=OFF-GZ"))
    assert "广州代表处（OFF-GZ）2026-11" in region.locator("[data-testid=scorecard-heading]").inner_text()

    handler = as_user(new_page, server, "GZ-H1")
    handler.goto(f"{base}/itr/scorecard")
    assert handler.locator("[data-testid=scorecard-none]").count() == 1
    assert handler.locator("a[href='/itr/scorecard']").count() == 0  # not in their top bar either
