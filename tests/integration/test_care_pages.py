"""The care pages' service on real databases (SQLite and PostgreSQL): what the owner and their chain
see (reminders, visit clocks overdue first, handovers), the visit page for the owner only, visits
logged once with their place, the office/private ratio, handovers accepted by the new owner, the
pre-visit brief from ITR's public service, the digest's visit link delivered to a real SMTP server,
a first scan over old data reminding nothing, and a PBC that cannot be read refused at import."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected, MCRError, NotPermitted
from engine.mailers import SmtpMailer
from engine.masterdata.importer import import_table
from engine.masterdata.replay import rows_table
from engine.notify import OutboxSender
from flows.planning.care import (accept_handover, care_items, care_overview, log_visit, run_care_scan, visit_form,
                                 visit_ratio)
from flows.planning.handover import contact_moved
from tests.support.accounts import itr_runtime
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))
TODAY = date(2026, 11, 26)
ENGINE = Principal.engine("test")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=SH))  # a Thursday; the organisation is imported now
    return itr_runtime(db, clock, extra_flows=("flows/planning",))


def visited(rt: Any, contact: str, on: date, by: str, place: str | None = None) -> dict[str, Any]:
    return log_visit(rt.db, rt.clock, contact, principal=ENGINE, on=on, by=by, place=place)


def test_the_owner_sees_their_contacts_overdue_first_and_the_supervisor_sees_both_teams(rt: Any) -> None:
    run_care_scan(rt, TODAY)  # the first scan starts the clocks (nothing is overdue on it)
    visited(rt, "K-BIG1", date(2026, 11, 10), "SZ-AM1")  # S: every 7 days → due 17 Nov, 9 days overdue
    am1 = care_overview(rt, principal=principal_of(rt, "SZ-AM1"))
    assert [(r.contact, r.overdue_days) for r in am1.cadences] == [("K-BIG1", 9), ("K-BIG2", 0)]
    assert {i.contact for i in am1.reminders if i.kind == "visit"} == {"K-BIG1"}
    am2 = care_overview(rt, principal=principal_of(rt, "SZ-AM2"))
    assert {r.contact for r in am2.cadences} == {"K-MID1", "K-MID2"}  # a peer's contacts are not there
    sup = care_overview(rt, principal=principal_of(rt, "SZ-SUP"))
    assert [r.contact for r in sup.cadences][0] == "K-BIG1" and {r.contact for r in sup.cadences} >= \
        {"K-BIG1", "K-BIG2", "K-MID1", "K-MID2"}
    assert all(r.may_log for r in sup.cadences)


def test_a_peer_cannot_open_the_visit_page_of_another_owners_contact_and_the_refusal_is_audited(
        rt: Any, db: Database) -> None:
    assert visit_form(rt, "K-BIG1", principal=principal_of(rt, "SZ-AM1")).row.contact == "K-BIG1"
    with pytest.raises(NotPermitted):
        visit_form(rt, "K-BIG1", principal=principal_of(rt, "SZ-AM2"))
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM masterdata_audit WHERE action = 'visit_form' AND entity_key = 'K-BIG1' "
                      "AND actor = 'SZ-AM2' AND NOT allowed")[0] == 1


def test_a_visit_logged_twice_on_the_same_day_is_recorded_once_with_its_place(rt: Any, db: Database) -> None:
    am1 = principal_of(rt, "SZ-AM1")
    first = log_visit(rt.db, rt.clock, "K-BIG1", principal=am1, on=TODAY, place="private")
    again = log_visit(rt.db, rt.clock, "K-BIG1", principal=am1, on=TODAY, place="private")
    assert (first["duplicate"], again["duplicate"], first["next_due"]) == (False, True, "2026-12-03")
    with db.read() as tx:
        rows = tx.all("SELECT contact_code, emp_no, visit_date, place FROM care_visit")
    assert [(c, e, str(d)[:10], p) for c, e, d, p in rows] == [("K-BIG1", "SZ-AM1", "2026-11-26", "private")]
    with pytest.raises(MCRError, match="lobby"):
        log_visit(rt.db, rt.clock, "K-BIG1", principal=am1, on=TODAY, place="lobby")


def test_the_office_private_ratio_counts_the_principal_and_those_below_only(rt: Any) -> None:
    visited(rt, "K-BIG1", date(2026, 11, 2), "SZ-AM1", "office")
    visited(rt, "K-BIG1", date(2026, 11, 3), "SZ-AM1", "office")
    visited(rt, "K-BIG2", date(2026, 11, 4), "SZ-AM1", "private")
    visited(rt, "K-MID1", date(2026, 11, 5), "SZ-AM2", "office")
    visited(rt, "K-MID1", date(2026, 11, 6), "SZ-AM2")
    with rt.db.session() as s:
        mine = visit_ratio(s, date(2026, 11, 1), TODAY, principal=principal_of(s, "SZ-AM1"))
        chain = visit_ratio(s, date(2026, 11, 1), TODAY, principal=principal_of(s, "SZ-SUP"))
    assert (mine["office"], mine["private"], mine["unknown"]) == (2, 1, 0)
    assert mine["office_share"] == pytest.approx(2 / 3)
    assert (chain["office"], chain["private"], chain["unknown"], chain["total"]) == (3, 1, 1, 5)


def test_only_the_new_owner_accepts_a_handover_once_and_the_previous_owner_introduces(rt: Any) -> None:
    h = contact_moved(rt, "K-BIG1", reason="promotion", principal=principal_of(rt, "SZ-SUP"), to="SZ-AM2")
    assert h.instance_id is not None
    with pytest.raises(NotPermitted):
        accept_handover(rt, h.instance_id, principal=principal_of(rt, "SZ-AM1"))
    new_owner = principal_of(rt, "SZ-AM2")
    [row] = care_overview(rt, principal=new_owner).handovers
    assert (row.may_accept, row.may_introduce) == (True, False)
    assert accept_handover(rt, h.instance_id, principal=new_owner) is True
    assert accept_handover(rt, h.instance_id, principal=new_owner) is False
    [row] = care_overview(rt, principal=new_owner).handovers
    assert (row.accepted_by, row.may_accept) == ("SZ-AM2", False)
    [prev] = care_overview(rt, principal=principal_of(rt, "SZ-AM1")).handovers
    assert (prev.may_accept, prev.may_introduce) == (False, True)


def test_the_visit_reminder_carries_the_pre_visit_brief_and_the_digest_links_to_the_visit_page(
        rt: Any, db: Database, smtp_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.itr.service import open_issue, record_callback  # noqa: F401 - ITR's own service opens the issue

    monkeypatch.setenv("MCR_BASE_URL", "http://care.example:8080")
    issue = open_issue(rt, principal=principal_of(rt, "SZ-AM1"), customer="C-BIG", contact="K-BIG1",
                       type="technical", severity="major", source="hotline", title="基站光模块告警未解决")
    run_care_scan(rt, TODAY)
    visited(rt, "K-BIG1", date(2026, 11, 10), "SZ-AM1")
    with rt.db.session() as s:
        [item] = [i for i in care_items(s, date(2026, 11, 27)) if i.kind == "visit" and i.contact == "K-BIG1"]
    brief = item.extra["brief"]
    assert brief["open_total"] == 1 and brief["issues"][0]["id"] == issue.id
    assert brief["issues"][0]["title"] == "基站光模块告警未解决"
    run_care_scan(rt, date(2026, 11, 27))
    OutboxSender(db, SmtpMailer("127.0.0.1", smtp_server.port, timeout=5), rt.clock,
                 sender_address="mcr@example.com", worker_id="care-test").deliver_due_sync()
    with db.read() as tx:
        owner_mail = tx.one("SELECT email FROM employee WHERE emp_no = 'SZ-AM1'")[0]
    [mail] = [m for m in smtp_server.messages if "客户关怀" in str(m["Subject"]) and owner_mail in str(m["To"])]
    body = mail.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"http://care\.example:8080/care/visit/[\w-]+", body)
    assert links == ["http://care.example:8080/care/visit/K-BIG1"]
    assert "基站光模块告警未解决" in body


def test_a_first_scan_over_contacts_imported_long_ago_reminds_no_visit(rt: Any) -> None:
    # Imported on 26 Nov, care switched on on 20 Jan: nothing is overdue on the first day, the S
    # contacts (every 7 days) fall due one period after it.
    first = run_care_scan(rt, date(2027, 1, 20))
    with rt.db.read() as tx:
        kinds = {r[0] for r in tx.all("SELECT kind FROM care_reminder")}
    assert first.items == 0 or "visit" not in kinds
    with rt.db.session() as s:
        assert not [i for i in care_items(s, date(2027, 1, 27)) if i.kind == "visit"]
        due = [i for i in care_items(s, date(2027, 1, 28)) if i.kind == "visit"]
    assert {(i.contact, i.day) for i in due} >= {("K-BIG1", "2027-01-27"), ("K-BIG2", "2027-01-27")}


def test_a_pbc_that_cannot_be_read_is_refused_at_import_naming_file_row_and_column(rt: Any, db: Database) -> None:
    rows = [{"code": "K-BIG1", "customer": "C-BIG", "name": "张总", "owner": "SZ-AM1", "visit_pbc": "每周拜访3次"},
            {"code": "K-BIG2", "customer": "C-BIG", "name": "黄工", "owner": "SZ-AM1", "visit_pbc": "经常去看看"}]
    with db.session() as s, pytest.raises(ImportRejected) as refused:
        import_table(s, "contacts", rows_table("contacts.xlsx", rows), clock=rt.clock, principal=ENGINE)
    text = str(refused.value)
    assert "contacts.xlsx" in text and "经常去看看" in text and "3" in text and "PBC" in text
    with db.read() as tx:  # nothing half-written: the good row is not in either
        assert tx.one("SELECT COUNT(*) FROM contact WHERE visit_pbc IS NOT NULL")[0] == 0
    with db.session() as s:
        import_table(s, "contacts", rows_table("contacts.xlsx", rows[:1]), clock=rt.clock, principal=ENGINE)
        s.commit()
    with db.read() as tx:
        assert tx.one("SELECT visit_pbc FROM contact WHERE code = 'K-BIG1'")[0] == '{"visits": 3, "days": 7}'


# ---------------------------------------------------------------------------------------------- the pages


def signed_in(rt: Any, emp_no: str) -> Any:
    from fastapi.testclient import TestClient

    from engine.web import WebSettings, create_app

    client = TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080")
    client.cookies.set("mcr_csrf", "pre-session-token-for-tests")
    answer = client.post("/signin", data={"emp_no": emp_no, "password": "correct horse 9", "next": "/care",
                                          "csrf_token": "pre-session-token-for-tests"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    return client


def token_of(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def test_the_new_owner_accepts_and_the_previous_owner_introduces_from_the_care_page(
        rt: Any, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.auth import accounts

    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    for emp in ("SZ-AM1", "SZ-AM2"):
        accounts.add_account(db, emp, "correct horse 9", clock=rt.clock)
    h = contact_moved(rt, "K-BIG1", reason="promotion", principal=principal_of(rt, "SZ-SUP"), to="SZ-AM2")
    new, prev = signed_in(rt, "SZ-AM2"), signed_in(rt, "SZ-AM1")
    page = new.get("/care")
    assert page.status_code == 200 and f'data-testid="accept-{h.instance_id}"' in page.text
    assert f'data-testid="introduce-{h.instance_id}"' not in page.text
    done = new.post(f"/care/handovers/{h.instance_id}/accept",
                    data={"csrf_token": token_of(page.text), "client_event_id": "a-1"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/care?done=accepted"
    page = prev.get("/care")
    assert f'data-testid="accept-{h.instance_id}"' not in page.text  # the previous owner never accepts
    bad = prev.post(f"/care/handovers/{h.instance_id}/introduce",
                    data={"csrf_token": token_of(page.text), "client_event_id": "i-0", "date": "2026-13-40"})
    assert bad.status_code == 422 and "2026-13-40" in bad.text
    introduced = prev.post(f"/care/handovers/{h.instance_id}/introduce", follow_redirects=False,
                           data={"csrf_token": token_of(page.text), "client_event_id": "i-1", "note": "饭局引荐"})
    assert introduced.status_code == 303
    with db.read() as tx:
        assert tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": h.instance_id})[0] == "done"
    assert new.post("/care/visit/K-BIG1", data={"client_event_id": "v-1"}).status_code == 403  # no CSRF token


def test_the_itr_brief_is_read_only_for_those_who_may_see_the_customer(rt: Any) -> None:
    from engine import plugins
    from engine.errors import NotVisible

    brief = plugins.service("itr", "customer_brief")  # the public entry point care uses
    with rt.db.session() as s:
        assert brief(s, "C-BIG", principal=principal_of(s, "SZ-AM1")).open_total == 0
        assert brief(s, "C-BIG", principal=principal_of(s, "SZ-SUP")).customer == "C-BIG"
        with pytest.raises(NotVisible):
            brief(s, "C-BIG", principal=principal_of(s, "SZ-AM2"))


def test_the_care_page_speaks_english_to_an_english_reader(rt: Any, db: Database) -> None:
    from engine.auth import accounts

    accounts.add_account(db, "SZ-AM1", "correct horse 9", clock=rt.clock)
    with db.tx() as tx:
        tx.execute("UPDATE employee SET locale = 'en' WHERE emp_no = 'SZ-AM1'")
    run_care_scan(rt, TODAY)
    visited(rt, "K-BIG1", date(2026, 11, 10), "SZ-AM1", "office")
    client = signed_in(rt, "SZ-AM1")
    page = client.get("/care")
    assert page.status_code == 200
    assert "Visit cadence" in page.text and "9 day(s) overdue" in page.text and "拜访节奏" not in page.text
    visit = client.get("/care/visit/K-BIG1")
    assert visit.status_code == 200 and "Before the visit" in visit.text
