"""Screenshots of the main pages for docs/web.md (zh-CN, Noto CJK fonts), from a real `mcr serve`:

    .venv/bin/python -m tests.browser.screenshots      # writes docs/img/web-*.png

Uses the browser tests' server and seed (tests/browser/conftest.py) and walks an issue to the
region so the pages have something to show."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, sign_in, start_server, stop_server
from tests.conftest import ROOT

OUT = ROOT / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mcr-shots-"))
    server = start_server(f"sqlite:///{work / 'mcr.db'}", work)
    base = server.url
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

            def page_for(emp: str, width: int = 1280, height: int = 860):  # type: ignore[no-untyped-def]
                ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                          device_scale_factor=1)
                p = ctx.new_page()
                sign_in(p, base, emp)
                return p

            anon = browser.new_context(viewport={"width": 1280, "height": 700}, locale="zh-CN").new_page()
            anon.goto(f"{base}/signin")
            anon.screenshot(path=str(OUT / "web-signin.png"))

            am = page_for("SZ-AM1")
            from tests.browser.test_issue_main_path import handler_of, open_issue
            issue = open_issue(am, base, "基站光模块温度告警，多站点业务中断")
            open_issue(am, base, "账单金额与合同不符", severity="normal")
            handler = page_for(handler_of(server, issue))
            handler.goto(f"{base}/inbox")
            handler.screenshot(path=str(OUT / "web-inbox.png"), full_page=True)
            handler.goto(f"{base}/issues/{issue}")
            handler.click("[data-testid=do-accept]")
            handler.wait_for_load_state()
            handler.click("[data-testid=open-note]")
            handler.fill("[data-testid=note-text]", "已联系客户，正在远程排查光模块")
            handler.click("[data-testid=do-note]")
            handler.wait_for_load_state()
            handler.wait_for_selector("[data-testid=diagram] svg")
            handler.screenshot(path=str(OUT / "web-issue.png"), full_page=True)
            handler.click("[data-testid=open-escalate]")
            handler.select_option("[data-testid=escalate-reason]", "arbitration_needed")
            handler.locator("details:has([data-testid=do-escalate])").screenshot(path=str(OUT / "web-escalate.png"))

            am.goto(f"{base}/customers/C-BIG")
            am.screenshot(path=str(OUT / "web-customer.png"), full_page=True)
            am.goto(f"{base}/contacts/K-BIG1")
            am.screenshot(path=str(OUT / "web-contact.png"), full_page=True)

            report_shots(page_for, base)

            phone = page_for("SZ-AM1", width=375, height=740)
            phone.goto(f"{base}/issues/{issue}")
            phone.click("label.navbutton")
            phone.screenshot(path=str(OUT / "web-phone.png"))
            browser.close()
    finally:
        stop_server(server)
    print(f"screenshots in {OUT}")


def report_shots(page_for: Any, base: str) -> None:
    """The ITR weekly report (charts drawn) and a flow's diagram with its instance counts."""
    boss = page_for("SZ-SUP", 1280, 900)
    boss.goto(f"{base}/itr/reports/weekly?unit=OFF-SZ&week=2026-W48")
    boss.wait_for_selector("[data-testid=chart-trend-rates] [data-drawn] svg")
    boss.screenshot(path=str(OUT / "web-itr-report.png"), full_page=True)
    qa = page_for("HQ-QA", 1280, 900)
    qa.goto(f"{base}/flows/itr_issue")
    qa.wait_for_selector("[data-testid=diagram] svg")
    qa.screenshot(path=str(OUT / "web-flow.png"), full_page=True)


if __name__ == "__main__":
    main()
