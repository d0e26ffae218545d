"""Screenshots of the main pages for docs/web.md (zh-CN, Noto CJK fonts), from a real `mcr serve`:

    .venv/bin/python -m tests.browser.screenshots      # writes docs/img/web-*.png
    .venv/bin/python -m tests.browser.screenshots kit  # only the planning kit page (web-planning-kit.png)

Uses the browser tests' server and seed (tests/browser/conftest.py) and walks an issue to the
region so the pages have something to show."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, sign_in, start_server, stop_server
from tests.conftest import ROOT

OUT = ROOT / "docs" / "img"


def planning_kit(server: Any, page_for: Callable[..., Any]) -> None:
    """The kit page of a team (docs/web.md): the assessment with one score outside the scale marked on
    its field, the objectives and plan still to come, the workbook's download and upload beside."""
    from tests.browser.test_planning_kit import TEAM, YEAR, issue_team_kit

    kit = issue_team_kit(server)
    team = page_for("SZ-AM1", height=1000)
    team.goto(f"{server.url}/planning/kits/{kit}")
    team.fill("[data-testid=assessment-0-acceptance]", "7")
    team.fill("[data-testid=assessment-0-acceptance_evidence]", "参加公司总部参观")
    team.fill("[data-testid=assessment-0-decision_support]", "1")
    team.fill("[data-testid=assessment-0-decision_support_evidence]", "技术交流会上支持我方方案")
    team.click("[data-testid=submit-assessment]")
    team.wait_for_load_state()
    team.screenshot(path=str(OUT / "web-planning-kit.png"), full_page=True)
    assert f"{TEAM}" in team.content() and str(YEAR) in team.content()


def main(only: Optional[list[str]] = None) -> None:
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

            if only == ["kit"]:
                planning_kit(server, page_for)
                browser.close()
                return
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

            care_shots(server, page_for("SZ-AM1"), base)
            report_shots(page_for, base)

            survey_shots(server, page_for)

            phone = page_for("SZ-AM1", width=375, height=740)
            phone.goto(f"{base}/issues/{issue}")
            phone.click("label.navbutton")
            phone.screenshot(path=str(OUT / "web-phone.png"))
            planning_kit(server, page_for)
            browser.close()
    finally:
        stop_server(server)
    print(f"screenshots in {OUT}")


def care_shots(server: Any, page: Any, base: str) -> None:
    """/care and a visit page (docs/care.md, docs/web.md): K-BIG1 last visited on 10 Nov (overdue),
    an office and a private visit this month, a handover from SZ-AM2 to SZ-AM1 to accept."""
    from datetime import date, datetime

    from engine.auth.principal import Principal, load_principal
    from engine.clock import FakeClock
    from flows.planning.care import log_visit, run_care_scan
    from flows.planning.handover import contact_moved
    from flows.planning.sample import planning_runtime
    from tests.browser.conftest import FAKE_NOW

    clock = FakeClock(datetime.fromisoformat(FAKE_NOW))
    rt = planning_runtime(server.db, clock, sample=False)
    engine = Principal.engine("screenshots")
    log_visit(server.db, clock, "K-BIG1", principal=engine, on=date(2026, 11, 10), by="SZ-AM1", place="office")
    log_visit(server.db, clock, "K-BIG2", principal=engine, on=date(2026, 11, 20), by="SZ-AM1", place="private")
    with server.db.session() as s:
        sup = load_principal(s, "SZ-SUP", via="cli")
    contact_moved(rt, "K-MID1", reason="department", principal=sup, to="SZ-AM1")
    from flows.itr.service import open_issue

    with server.db.session() as s:
        am1 = load_principal(s, "SZ-AM1", via="cli")
    from engine.app import load_calendar_registry
    from engine.definition import load_definitions
    from engine.runtime import Runtime
    from tests.conftest import ROOT as _ROOT

    itr = Runtime(server.db, load_definitions(_ROOT / "flows" / "itr"), clock=clock,
                  calendars=load_calendar_registry(), worker_id="screenshots")
    open_issue(itr, principal=am1, customer="C-BIG", contact="K-BIG1", type="non_technical", severity="normal",
               source="hotline", title="账单金额与合同不符，客户要求复核")
    run_care_scan(rt, date(2026, 11, 26))
    page.goto(f"{base}/care")
    page.wait_for_selector("[data-testid=care-ratio] canvas, [data-testid=care-ratio] svg", timeout=10_000)
    page.screenshot(path=str(OUT / "web-care.png"), full_page=True)
    page.goto(f"{base}/care/visit/K-BIG1")
    page.screenshot(path=str(OUT / "web-care-visit.png"), full_page=True)


def care_main() -> None:
    """Only the care pages' screenshots: `.venv/bin/python -m tests.browser.screenshots care`."""
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mcr-shots-"))
    server = start_server(f"sqlite:///{work / 'mcr.db'}", work)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                                       device_scale_factor=1).new_page()
            sign_in(page, server.url, "SZ-AM1")
            care_shots(server, page, server.url)
            browser.close()
    finally:
        stop_server(server)
    print(f"screenshots in {OUT}")


def planning_manage_screens() -> None:
    """Sales management's launch (teams and why; the finished launch's task states) and the completion
    page after one team completed its kit: docs/img/web-planning-launch.png, web-planning-progress.png.
    Alone: `.venv/bin/python -m tests.browser.screenshots planning`."""
    from datetime import datetime

    from engine.auth import accounts
    from engine.clock import FakeClock
    from tests.browser.conftest import FAKE_NOW, PASSWORD
    from tests.browser.test_planning_launch import YEAR, complete_kit, launch_and_wait

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mcr-shots-planning-"))
    server = start_server(f"sqlite:///{work / 'mcr.db'}", work, PREFECT_HOME=str(work / "prefect"),
                          MCR_KIT_DIR=str(work / "kits"))
    accounts.add_account(server.db, "HQ-SM", PASSWORD, clock=FakeClock(datetime.fromisoformat(FAKE_NOW)))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN").new_page()
            sign_in(page, server.url, "HQ-SM")
            page.goto(f"{server.url}/planning/launch?year={YEAR}")
            page.screenshot(path=str(OUT / "web-planning-launch.png"), full_page=True)
            launch_and_wait(page, server.url)
            page.screenshot(path=str(OUT / "web-planning-launch-progress.png"), full_page=True)
            complete_kit(server, work)
            page.goto(f"{server.url}/planning/progress?year={YEAR}")
            page.wait_for_selector("[data-testid=progress-chart] svg")
            page.screenshot(path=str(OUT / "web-planning-progress.png"), full_page=True)
            browser.close()
    finally:
        stop_server(server)


def survey_shots(server: Any, page_for: Any) -> None:
    """docs/img/web-surveys*.png: the callbacks, a callback's form, the sample list with its live check, the report."""
    from datetime import datetime

    from engine.app import build_runtime
    from engine.clock import FakeClock
    from flows.survey import service
    from tests.browser.conftest import FAKE_NOW
    from tests.browser.test_surveys import SAMPLE_CONTACTS
    from flows.survey.fixtures import insert_org
    from tests.support.principals import principal_of

    base = server.url
    insert_org(server.db, SAMPLE_CONTACTS)
    rt = build_runtime(server.db, clock=FakeClock(datetime.fromisoformat(FAKE_NOW)), migrate=False)
    d = service.project_closed(rt, "P-BIG-REG", principal=principal_of(rt, "SZ-AM1"))
    am = page_for("SZ-AM1")
    am.goto(f"{base}/surveys")
    am.screenshot(path=str(OUT / "web-surveys.png"), full_page=True)
    am.goto(f"{base}/surveys/callbacks/{d.instance}")
    am.screenshot(path=str(OUT / "web-survey-callback.png"), full_page=True)
    owner = page_for("SZ-AM2")
    owner.goto(f"{base}/surveys/samples/C-MID?year=2026")
    for n in range(1, 10):
        owner.check(f"[data-testid=pick-K-MIDS{n:02d}]")
    owner.wait_for_selector("[data-testid=check-size]:has-text('9 / 20')")
    owner.screenshot(path=str(OUT / "web-survey-samples.png"), full_page=True)
    boss = page_for("SZ-SUP")
    boss.goto(f"{base}/surveys/report")
    boss.screenshot(path=str(OUT / "web-survey-report.png"), full_page=True)


def surveys_only() -> None:
    """`python -m tests.browser.screenshots surveys`: only the survey pages' screenshots."""
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mcr-shots-"))
    server = start_server(f"sqlite:///{work / 'mcr.db'}", work)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

            def page_for(emp: str, width: int = 1280, height: int = 860):  # type: ignore[no-untyped-def]
                p = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN").new_page()
                sign_in(p, server.url, emp)
                return p

            survey_shots(server, page_for)
            browser.close()
    finally:
        stop_server(server)


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
    import sys

    args = sys.argv[1:]
    if args == ["care"]:
        care_main()
    elif args == ["planning"]:
        planning_manage_screens()
    elif args == ["surveys"]:
        surveys_only()
    else:
        main(args or None)
        if not args:  # main() includes the care and survey pages
            planning_manage_screens()
