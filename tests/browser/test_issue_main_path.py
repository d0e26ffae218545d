"""The main path of an issue in a real browser, on a SQLite file and once on PostgreSQL: the
submitter opens it, the office handler sees it in their queue (a handler of another office does
not), accepts and escalates with a reason (the form shows the quota), the region's handler finds
it in their inbox and resolves it, the submitter closes, the care representative records the
callback, and the issue is closed — every step visible in the page's history."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from tests.browser.conftest import LiveServer, as_user


def _issue_id(page: Any) -> int:
    m = re.search(r"/issues/(\d+)", page.url)
    assert m, page.url
    return int(m.group(1))


def open_issue(page: Any, base: str, title: str, *, severity: str = "urgent", customer: str = "C-BIG",
               contact: str = "K-BIG1") -> int:
    page.goto(f"{base}/issues/new")
    page.select_option("[data-testid=pick-customer]", customer)
    # htmx fills the contact picker with the contacts this person may see
    page.wait_for_selector(f"[data-testid=pick-contact] option[value={contact}]", state="attached")
    page.select_option("[data-testid=pick-contact]", contact)
    page.fill("[data-testid=issue-title]", title)
    page.select_option("select[name=type]", "technical")
    page.select_option("select[name=severity]", severity)
    page.click("[data-testid=do-open]")
    page.wait_for_url(re.compile(r"/issues/\d+$"))
    return _issue_id(page)


def handler_of(server: LiveServer, issue_id: int) -> str:
    with server.db.read() as tx:
        return str(tx.one("SELECT handler_emp_no FROM itr_issue WHERE id = :i", {"i": issue_id})[0])


def main_path(server: LiveServer, new_page: Callable[..., Any]) -> None:
    base = server.url
    submitter = as_user(new_page, server, "SZ-AM1")
    issue = open_issue(submitter, base, "基站光模块告警（浏览器）")
    assert server.state(issue) == "dispatched"
    office_handler = handler_of(server, issue)
    assert office_handler in ("SZ-H1", "SZ-H2")

    # the office handler: in their queue and inbox; a handler of another office sees neither
    handler = as_user(new_page, server, office_handler)
    handler.goto(f"{base}/queues/OFF-SZ")
    assert handler.locator(f"[data-testid=issues] a[href='/issues/{issue}']").count() >= 1
    handler.goto(f"{base}/inbox")
    handler.locator(f"[data-testid=inbox] a[href$='/issues/{issue}']").first.click()
    handler.wait_for_url(re.compile(rf"/issues/{issue}$"))
    other = as_user(new_page, server, "GZ-H1")
    other.goto(f"{base}/queues/OFF-GZ")
    assert other.locator(f"a[href='/issues/{issue}']").count() == 0
    resp = other.goto(f"{base}/issues/{issue}")
    assert resp is not None and resp.status == 403

    # accept, then escalate: the form shows the unit's self-resolution rate and what is left
    handler.click("[data-testid=do-accept]")
    handler.wait_for_load_state()
    assert server.state(issue) == "handling"
    handler.click("[data-testid=open-escalate]")
    quota = handler.locator("[data-testid=quota]")
    assert quota.is_visible()
    remaining = int(handler.locator("[data-testid=quota-remaining]").inner_text().strip())
    handler.select_option("[data-testid=escalate-reason]", "arbitration_needed")
    if remaining <= 0:  # the office's quota is used up: an override (who, why) is asked for
        handler.fill("input[name=override_by]", "SZ-SUP")
        handler.fill("textarea[name=override_why]", "客户高层投诉，需地区部仲裁")
    handler.click("[data-testid=do-escalate]")
    handler.wait_for_load_state()
    assert server.state(issue) == "escalated_region", handler.content()[:2000]

    # the region's handler finds it in their inbox and resolves it
    region = as_user(new_page, server, "R-H1")
    region.goto(f"{base}/inbox")
    link = region.locator(f"[data-testid=inbox] a[href$='/issues/{issue}']")
    assert link.count() == 1
    link.click()
    region.wait_for_selector("[data-testid=diagram] svg")  # Mermaid drew the flow, current state marked
    assert region.locator("[data-testid=diagram] svg .current").count() >= 1
    region.click("[data-testid=open-resolve]")
    region.fill("[data-testid=case-search]", "光模块")  # the case library answers as one types
    region.locator("[data-testid=case-hits] [data-case-code]").first.click()
    assert region.locator("[data-testid=case-code]").input_value().startswith("G-")
    region.fill("textarea[name=solution]", "更换光模块并调整散热")
    region.click("[data-testid=do-resolve]")
    region.wait_for_load_state()
    assert server.state(issue) == "resolved"

    # only the submitter may close: the handler is not offered "close"
    region.goto(f"{base}/issues/{issue}")
    assert region.locator("[data-testid=do-close]").count() == 0
    submitter.goto(f"{base}/issues/{issue}")
    submitter.click("[data-testid=do-close]")
    submitter.wait_for_load_state()
    assert server.state(issue) == "callback_pending"  # urgent: every one is called back

    care = as_user(new_page, server, "SZ-CC")
    care.goto(f"{base}/issues/{issue}")
    care.click("[data-testid=open-callback]")
    care.select_option("[data-testid=callback-score]", "5")
    care.click("[data-testid=do-callback]")
    care.wait_for_load_state()
    assert server.state(issue) == "closed"
    history = care.locator("[data-testid=history] li")
    assert history.count() >= 6
    assert care.locator("[data-testid=no-actions]").is_visible()


def test_issue_goes_from_office_to_region_and_closes_after_a_callback_sqlite(server: LiveServer,
                                                                             new_page: Callable[..., Any]) -> None:
    main_path(server, new_page)


def test_issue_goes_from_office_to_region_and_closes_after_a_callback_postgres(pg_server: LiveServer,
                                                                               new_page: Callable[..., Any]) -> None:
    main_path(pg_server, new_page)


def test_peer_contact_by_url_is_refused_and_audited(server: LiveServer, new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, server, "SZ-AM1")
    resp = page.goto(f"{server.url}/contacts/K-MID1")  # 陈经理's contact: a peer's record
    assert resp is not None and resp.status == 403
    assert "K-MID1" not in page.locator("main").inner_text() or "孙经理" not in page.content()
    own = page.goto(f"{server.url}/contacts/K-BIG1")
    assert own is not None and own.status == 200
    # the customer list holds only what 李经理 may see, and narrows as he types
    page.goto(f"{server.url}/customers")
    listed = page.locator("[data-testid=customers] tbody tr")
    assert "C-BIG" in listed.first.inner_text() and "C-MID" not in page.locator("main").inner_text()
    page.fill("[data-testid=customer-search]", "不存在的客户")
    page.wait_for_selector("[data-testid=customers]", state="detached")
    qa = as_user(new_page, server, "HQ-QA")
    qa.goto(f"{server.url}/audit?key=K-MID1&outcome=refused")
    rows = qa.locator("[data-testid=audit] tbody tr")
    assert "SZ-AM1" in rows.first.inner_text()


def test_form_without_its_csrf_token_is_refused_and_changes_nothing(server: LiveServer,
                                                                    new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, server, "SZ-AM1")
    issue = open_issue(page, server.url, "CSRF 检查", severity="normal")
    before = server.history_count(issue)
    page.click("[data-testid=open-note]")
    page.fill("[data-testid=note-text]", "不应被记录")
    page.evaluate("document.querySelectorAll('form input[name=csrf_token]').forEach(e => e.remove())")
    page.click("[data-testid=do-note]")
    page.wait_for_load_state()
    assert "安全令牌" in page.content()
    assert server.history_count(issue) == before


def test_form_submitted_twice_is_applied_once(server: LiveServer, new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, server, "SZ-AM1")
    issue = open_issue(page, server.url, "重复提交检查", severity="normal")
    page.click("[data-testid=open-note]")
    page.fill("[data-testid=note-text]", "只记录一次")
    form = page.locator("form[action$='/note']")
    fields = {n: form.locator(f"[name={n}]").input_value() for n in ("csrf_token", "client_event_id", "text")}
    first = page.request.post(f"{server.url}/issues/{issue}/note", form=fields, max_redirects=0)
    second = page.request.post(f"{server.url}/issues/{issue}/note", form=fields, max_redirects=0)
    assert first.status == 303 and second.status == 303
    assert server.history_count(issue, "note") == 1

    # the open-issue form sent twice: one issue, both answers lead to it
    page.goto(f"{server.url}/issues/new")
    token = page.locator("input[name=csrf_token]").first.input_value()
    nonce = page.locator("input[name=client_event_id]").first.input_value()
    fields = {"csrf_token": token, "client_event_id": nonce, "customer": "C-BIG", "contact": "K-BIG1",
              "title": "双击提交的问题", "type": "technical", "severity": "normal", "source": "hotline"}
    answers = [page.request.post(f"{server.url}/issues/new", form=fields, max_redirects=0) for _ in range(2)]
    assert [a.status for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    with server.db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM itr_issue WHERE title = :t", {"t": "双击提交的问题"})[0] == 1


def test_refusals_are_pages_in_the_users_language_and_the_language_choice_is_kept(
        server: LiveServer, new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, server, "SZ-AM2")
    missing = page.goto(f"{server.url}/issues/999999")
    assert missing is not None and missing.status == 404
    assert "找不到" in page.locator("[data-testid=error-page]").inner_text()

    issue = open_issue(page, server.url, "语言与拒绝页面", severity="normal", customer="C-MID", contact="K-MID1")
    page.locator("form.locale-form button").click()  # English, saved on the account
    page.wait_for_load_state()
    assert "What you can do now" in page.content()
    # closing an issue that is not resolved: refused in English, nothing changed
    before = server.history_count(issue)
    token = page.locator("input[name=csrf_token]").first.input_value()
    refused = page.request.post(f"{server.url}/issues/{issue}/close",
                                form={"csrf_token": token, "client_event_id": "close-too-early"}, max_redirects=0)
    assert refused.status == 409
    assert "Not allowed in this state" in refused.text()
    assert server.history_count(issue) == before and server.state(issue) == "dispatched"

    again = as_user(new_page, server, "SZ-AM2")  # a new session keeps the choice
    assert "My work" in again.locator("nav").inner_text()
    again.locator("form.locale-form button").click()
    again.wait_for_load_state()
    assert "我的待办" in again.locator("nav").inner_text()


def test_phone_width_nav_is_usable_and_the_body_does_not_overflow(server: LiveServer,
                                                                  new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, server, "SZ-AM1", width=375, height=740)
    issue = open_issue(page, server.url, "手机上登记的问题", severity="normal")
    for path in ("/inbox", "/customers", "/customers/C-BIG", "/issues", "/issues/new", f"/issues/{issue}",
                 "/contacts/K-BIG1"):
        page.goto(server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} overflows the 375 px body by {overflow} px"
    nav_link = page.locator("#mainnav a[href='/customers']")
    assert not nav_link.is_visible()  # collapsed behind the menu button
    page.click("label.navbutton")
    assert nav_link.is_visible()
    nav_link.click()
    page.wait_for_url(re.compile(r"/customers$"))
