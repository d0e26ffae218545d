"""A visit logged from the daily care digest's link, in the real browser: the digest goes through
a real SMTP server (aiosmtpd on loopback, delivered by `mcr serve`'s own mail thread), the test
reads the link out of the mail, opens it signed out, signs in, is taken back to the link, logs the
visit with one click, and the visit is in the database. The care page shows the owner's clocks."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Callable, Iterator

import pytest

from engine.auth.principal import Principal
from engine.clock import FakeClock
from tests.browser.conftest import FAKE_NOW, PASSWORD, LiveServer, as_user, start_server, stop_server
from tests.support.serve import wait_for
from tests.support.smtp import RecordingSMTPServer


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def care_server(tmp_path_factory: pytest.TempPathFactory, smtp: RecordingSMTPServer) -> Iterator[LiveServer]:
    work = tmp_path_factory.mktemp("serve-care")
    live = start_server(f"sqlite:///{work / 'mcr.db'}", work, MCR_SMTP_URL=smtp.url, MCR_RESCAN_S="1")
    yield live
    stop_server(live)


def send_digest(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """K-BIG1 (S: every 7 days) was last visited on 10 Nov: today's (26 Nov) scan reminds SZ-AM1."""
    from flows.planning.care import log_visit, run_care_scan
    from flows.planning.sample import planning_runtime

    monkeypatch.setenv("MCR_BASE_URL", server.url)  # the mail is rendered here, with the server's address
    clock = FakeClock(datetime.fromisoformat(FAKE_NOW))
    rt = planning_runtime(server.db, clock, sample=False)
    log_visit(server.db, clock, "K-BIG1", principal=Principal.engine("test"), on=date(2026, 11, 10), by="SZ-AM1")
    run_care_scan(rt, date(2026, 11, 26))


def visit_link(smtp: RecordingSMTPServer, server: LiveServer) -> str:
    with server.db.read() as tx:
        to = tx.one("SELECT email FROM employee WHERE emp_no = 'SZ-AM1'")[0]
    wait_for(lambda: any(to in str(m["To"]) for m in list(smtp.messages)), server.process, timeout=60)
    [mail] = [m for m in smtp.messages if to in str(m["To"])]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(re.escape(server.url) + r"/care/visit/[\w-]+", body)
    return link


def test_a_visit_is_logged_from_the_digest_mails_link_after_signing_in(
        care_server: LiveServer, smtp: RecordingSMTPServer, new_page: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    send_digest(care_server, monkeypatch)
    link = visit_link(smtp, care_server)
    assert link.endswith("/care/visit/K-BIG1")
    page = new_page()
    page.goto(link)
    assert "/signin" in page.url  # signed out: sign in first …
    page.fill("input[name=emp_no]", "SZ-AM1")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.url == link  # … and back to the link
    assert "逾期" in page.inner_text("[data-testid=visit-facts]")
    page.click("[data-testid=log-visit]")  # one click
    page.wait_for_url(re.compile(r"done=logged"))
    assert "2026-11-26" in page.inner_text("[data-testid=recent-visits]") or \
        "2026年11月26日" in page.inner_text("[data-testid=recent-visits]")
    with care_server.db.read() as tx:
        rows = tx.all("SELECT contact_code, emp_no, visit_date, place FROM care_visit WHERE visit_date >= '2026-11-26'")
    assert [(c, e, str(d)[:10], p) for c, e, d, p in rows] == [("K-BIG1", "SZ-AM1", "2026-11-26", "office")]


def test_the_care_page_shows_the_owners_contacts_and_hides_a_peers_visit_page(
        care_server: LiveServer, new_page: Callable[..., Any]) -> None:
    page = as_user(new_page, care_server, "SZ-AM1")
    page.goto(f"{care_server.url}/care")
    table = page.inner_text("[data-testid=care-cadence]")
    assert "张总" in table and "孙经理" not in table  # K-MID1 belongs to a peer
    peer = as_user(new_page, care_server, "SZ-AM2")
    resp = peer.goto(f"{care_server.url}/care/visit/K-BIG1")
    assert resp is not None and resp.status == 403
