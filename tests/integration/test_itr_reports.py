"""The ITR report service and pages on real databases (a SQLite file and PostgreSQL): the figures
read from the report counters equal a fresh scan of the rows after a full life cycle; the pages
show exactly the figures of `mcr itr report --json` (the real CLI, run as a subprocess on the same
database); the XLSX export holds the same numbers; a unit the principal does not cover is refused;
the flow pages draw every flow with its counts for overseers only."""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import NotVisible
from engine.runtime import Runtime
from flows.itr import service
from tests.conftest import ROOT
from tests.integration.test_itr_service import at, open_issue, resolved, sweep_until, to_handling
from tests.support.accounts import itr_runtime
from tests.support.principals import ENGINE, principal_of
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import signed_in

MCR = str(Path(sys.executable).with_name("mcr"))
STAFF = ("SZ-SUP", "SZ-AM1", "SZ-H1", "HQ-QA", "R-SUP", "GZ-SUP")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return itr_runtime(db, clock, *STAFF)



def life_cycle(rt: Runtime, clock: FakeClock) -> None:
    """Every kind of report event in week 2026-W48: valid, rejected, first dispatches and one correction,
    escalations granted / refused / overridden / automatic, closes with and without callbacks, a low
    score closed by QA, open issues with and without an owner."""
    hl = principal_of(rt, "SZ-HL")
    working = [to_handling(rt) for _ in range(5)]
    to_handling(rt, type="non_technical", title="付款争议")
    wrong = open_issue(rt, type="spare_parts", title="备件型号不符")
    service.dispatch(rt, wrong.id, principal=hl)
    handler = service.get_issue(rt, wrong.id, principal=ENGINE).handler
    service.redispatch(rt, wrong.id, principal=principal_of(rt, handler), queue="sales", reason="实为商务问题")
    dup = open_issue(rt, title="重复登记")
    service.reject(rt, dup.id, principal=hl, reason="与前一问题重复")
    open_issue(rt, type="complaint", title="投诉：无人接手")  # received, no owner yet
    first = working[0]
    service.escalate(rt, first.id, principal=principal_of(rt, first.handler), reason="no_owner")
    second = working[1]
    with pytest.raises(Exception):
        for w in working[1:]:  # the quota runs out: the first refusal stops the loop
            service.escalate(rt, w.id, principal=principal_of(rt, w.handler), reason="arbitration_needed")
    refused = [e for e in service.escalations(rt, principal=ENGINE) if e.decision == "refused"]
    assert refused, "the quota refused no escalation: the scenario lost its point"
    last = refused[-1].issue
    service.escalate(rt, last, principal=principal_of(rt, service.get_issue(rt, last, principal=ENGINE).handler),
                     reason="no_owner", override_by="SZ-SUP", override_why="客户投标在即")
    a = resolved(rt, severity="urgent")
    b = resolved(rt, severity="urgent", contact="K-BIG2")
    c = resolved(rt, customer="C-MID", contact="K-MID1", title="上门服务")
    for issue in (a, b, c):
        service.close(rt, issue.id, principal=hl)
    service.record_callback(rt, a.id, principal=principal_of(rt, "SZ-CC"), score=5)
    low = service.record_callback(rt, b.id, principal=principal_of(rt, "SZ-CC"), score=2)
    service.qa_decide(rt, low.qa_cases[0].id, principal=principal_of(rt, "SZ-QA"), decision="close",
                      accountable="SZ-H1")
    if service.get_issue(rt, c.id, principal=ENGINE).state == "callback_pending":
        service.record_callback(rt, c.id, principal=principal_of(rt, "SZ-CC"), score=4)
    to_handling(rt, severity="urgent", customer="C-MID", contact="K-MID1", title="紧急：超时")
    sweep_until(rt, clock, at("2026-11-26 14:40"))  # the urgent one breaches its time limit: automatic escalation
    assert second.id  # (kept for readability of the scenario above)


PERIODS = (dict(week="2026-W48", office="OFF-SZ"), dict(month="2026-11", region="R-SOUTH"), dict(month="2026-11"),
           dict(week="2026-W48", office="OFF-SZ", types=["technical", "complaint"]))


def test_report_figures_kept_by_the_steps_equal_a_fresh_scan_of_the_rows(rt: Runtime, db: Database,
                                                                        clock: FakeClock) -> None:
    for args in PERIODS:  # the windows' counter rows exist before anything happens: the steps keep them
        service.report(rt, principal=ENGINE, **args)  # type: ignore[arg-type]
    life_cycle(rt, clock)
    kept = [service.report(rt, principal=ENGINE, **args).model_dump() for args in PERIODS]  # type: ignore[arg-type]
    with db.tx() as tx:
        assert tx.one("SELECT COUNT(*) FROM itr_counter WHERE metric LIKE 'r:%'")[0] > 0
        tx.execute("DELETE FROM itr_counter WHERE metric LIKE 'r:%'")
    scanned = [service.report(rt, principal=ENGINE, **args).model_dump() for args in PERIODS]  # type: ignore[arg-type]
    assert kept == scanned
    week = kept[0]
    assert week["new_valid_issues"] == 12 and week["rejected"] == 1
    assert (week["dispatch"]["dispatched"], week["dispatch"]["first_time_right"]) == (11, 10)
    assert week["escalations"] == {"granted": 1, "refused": 1, "overridden": 2, "automatic": 1}
    assert week["closure"]["closed"] == 3 and week["callbacks"]["urgent_called_back"] == 2
    assert week["callbacks"]["average_score"] == 3.5 and (week["open_issues"], week["unowned_open"]) == (9, 1)
    assert week["trend"][-1]["week"] == "2026-W48" and week["trend"][-1]["new_valid_issues"] == 12
    assert len(week["trend"]) == 8 and week["trend"][0]["week"] == "2026-W41"


def test_a_report_of_a_unit_the_principal_does_not_cover_is_refused_and_logged(rt: Runtime, db: Database) -> None:
    open_issue(rt)
    assert service.report(rt, principal=principal_of(rt, "SZ-SUP"), week="2026-W48", office="OFF-SZ").unit == "OFF-SZ"
    assert service.report(rt, principal=principal_of(rt, "R-SUP"), week="2026-W48", office="OFF-GZ").unit == "OFF-GZ"
    with pytest.raises(NotVisible, match="OFF-GZ"):
        service.report(rt, principal=principal_of(rt, "SZ-SUP"), week="2026-W48", office="OFF-GZ")
    with pytest.raises(NotVisible, match="R-SOUTH"):
        service.report(rt, principal=principal_of(rt, "SZ-SUP"), month="2026-11", region="R-SOUTH")
    with pytest.raises(NotVisible):
        service.weekly_check(rt, "2026-W48", principal=principal_of(rt, "SZ-SUP"))
    with db.read() as tx:
        assert [r[0] for r in tx.all("SELECT event FROM flow_refusal ORDER BY id")][-3:] == \
            ["report", "report", "weekly_check"]
    assert [u[0] for u in service.report_units(rt, principal=principal_of(rt, "SZ-SUP"))] == ["OFF-SZ"]
    assert signed_in(rt, "SZ-SUP").get("/itr/reports/weekly", params={"unit": "OFF-GZ"}).status_code == 403


def _page_figures(text: str) -> dict[str, Any]:
    found = re.findall(r'data-figure="([^"]+)" data-value=\'([^\']*)\'', text)
    assert found, "the page shows no figure"
    return {path: json.loads(html.unescape(value)) for path, value in found}


def _cli_report(db: Database, clock: FakeClock, *args: str) -> dict[str, Any]:
    env = {**os.environ, "MCR_DATABASE_URL": db.url, "MCR_FAKE_NOW": clock.now().isoformat(),
           "MCR_RULES_DIR": str(ROOT / "rules"), "MCR_LOCALE": "zh-CN"}
    done = subprocess.run([MCR, "itr", "report", *args, "--json"], env=env, capture_output=True, timeout=120,
                          cwd=str(ROOT))
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return json.loads(done.stdout)


def test_the_report_pages_show_the_figures_of_the_cli_report(rt: Runtime, db: Database, clock: FakeClock) -> None:
    from flows.itr.web.reports import FIGURES, value_at

    life_cycle(rt, clock)
    qa = signed_in(rt, "HQ-QA")
    for page_args, cli_args in ((("weekly", {"unit": "OFF-SZ", "week": "2026-W48"}), ("--week", "2026-W48", "--office", "OFF-SZ")),
                                (("monthly", {"unit": "R-SOUTH", "month": "2026-11"}), ("--month", "2026-11", "--region", "R-SOUTH"))):
        kind, params = page_args
        res = qa.get(f"/itr/reports/{kind}", params=params)
        assert res.status_code == 200, res.text[:800]
        shown = _page_figures(res.text)
        cli = _cli_report(db, clock, *cli_args)
        assert shown == {path: value_at(cli, path) for path, _k, _p in FIGURES}
        assert cli["new_valid_issues"] > 0 and shown["new_valid_issues"] == cli["new_valid_issues"]
        for rate in cli["self_resolution"]:
            assert f'data-unit="{rate["unit"]}"' in res.text
        for chart in ("chart-new-issues", "chart-self-resolution", "chart-escalations", "chart-trend-rates",
                      "chart-trend-issues"):
            assert f'data-testid="{chart}-table"' in res.text
        for point in cli["trend"]:
            assert f"<th scope=\"row\">{point['week']}</th>" in res.text


def _row_within_quota(page: str, unit: str) -> bool:
    row = re.search(rf'<tr class="([^"]*)" data-unit="{unit}">', page)
    assert row, f"the page has no row for {unit}"
    return row[1] != "overdue"


def test_the_report_page_the_cli_report_and_the_scorecard_agree_on_within_quota_with_the_minimum_allowance(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    from flows.itr import scorecard as sc

    sup = principal_of(rt, "SZ-SUP")
    first, second = to_handling(rt), to_handling(rt)
    # 1 escalation of 2 issues = 50 %, past the 20 % share but the one always allowed (min_allowed: 1).
    assert service.escalate(rt, first.id, principal=sup, reason="no_owner").decision == "granted"
    verdicts = []
    for expected in (True, False):
        page = signed_in(rt, "SZ-SUP").get("/itr/reports/monthly", params={"unit": "OFF-SZ", "month": "2026-11"})
        assert page.status_code == 200, page.text[:800]
        report = _cli_report(db, clock, "--month", "2026-11", "--office", "OFF-SZ")
        cli = {r["unit"]: r for r in report["self_resolution"]}
        card = sc.scorecard(rt, principal=sup, unit="OFF-SZ", period="2026-11")
        verdicts.append((_row_within_quota(page.text, "OFF-SZ"), cli["OFF-SZ"]["within_quota"],
                         card.quota.within_quota))
        assert (cli["OFF-SZ"]["allowed"], cli["OFF-SZ"]["min_allowed"]) == (card.quota.allowed, 1) == (1, 1)
        if expected:  # then 2 of 2: past the share and the minimum, overridden
            service.escalate(rt, second.id, principal=sup, reason="no_owner", override_by="SZ-SM",
                             override_why="客户高层要求")
    assert verdicts == [(True, True, True), (False, False, False)]


def test_the_xlsx_export_holds_the_figures_of_the_report(rt: Runtime, clock: FakeClock) -> None:
    from openpyxl import load_workbook

    from flows.itr.web.reports import FIGURES, value_at

    life_cycle(rt, clock)
    res = signed_in(rt, "SZ-SUP").get("/itr/reports/weekly.xlsx", params={"unit": "OFF-SZ", "week": "2026-W48"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(res.content))
    want = service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ").model_dump(mode="json")
    got = {row[0]: row[2] for row in wb["figures"].iter_rows(min_row=5, values_only=True) if row[0]}
    for path, _key, _kind in FIGURES:
        assert got[path] == value_at(want, path), path
    for ty, n in want["new_issues_by_type"].items():
        assert got[f"new_issues_by_type.{ty}"] == n
    rates = list(wb["self_resolution"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[3], r[4]) for r in rates] == [(r["unit"], r["issues"], r["escalated"]) for r in want["self_resolution"]]
    trend = list(wb["trend"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1]) for r in trend] == [(p["week"], p["new_valid_issues"]) for p in want["trend"]]


def test_a_bad_week_on_the_page_is_a_clear_422(rt: Runtime) -> None:
    res = signed_in(rt, "SZ-SUP").get("/itr/reports/weekly", params={"unit": "OFF-SZ", "week": "2026-W99"})
    assert res.status_code == 422 and "2026-W99" in res.text


def test_the_weekly_page_defaults_to_the_principals_office_and_this_week(rt: Runtime) -> None:
    open_issue(rt)
    res = signed_in(rt, "SZ-SUP").get("/itr/reports/weekly")
    assert res.status_code == 200 and "深圳" in res.text and 'value="2026-W48"' in res.text
    assert _page_figures(res.text)["new_valid_issues"] == 1


def test_flow_pages_draw_every_flow_with_counts_for_overseers_only(rt: Runtime) -> None:
    open_issue(rt)
    open_issue(rt)
    qa = signed_in(rt, "HQ-QA")
    listing = qa.get("/flows")
    assert listing.status_code == 200 and 'href="/flows/itr_issue"' in listing.text
    assert 'data-flow-total="itr_issue">2<' in listing.text
    one = qa.get("/flows/itr_issue")
    assert one.status_code == 200 and '<pre class="mermaid">' in one.text
    assert 'data-state="received">2<' in one.text and "(2)&#34; as received" in one.text.replace('"', "&#34;")
    other = signed_in(rt, "SZ-AM1").get("/flows/itr_issue")
    assert other.status_code == 200 and '<pre class="mermaid">' in other.text
    assert "data-state=" not in other.text and "data-flow-total" not in signed_in(rt, "SZ-AM1").get("/flows").text
    assert qa.get("/flows/no_such_flow").status_code == 404


class _Undo(Exception):
    """Raised to roll a recomputation back: it must leave the kept counter rows as they were."""


def _fresh(rt: Runtime, db: Database, published: dict[str, Any], kind: str) -> dict[str, Any]:
    """The report the review published, recomputed from the rows alone: every report counter row
    deleted, the windows scanned again, then all of it rolled back."""
    from datetime import datetime

    from flows.itr.reports import build_report
    from flows.itr.rules import ItrRules

    rules = rt.current_rules().get("itr.yaml", ItrRules)
    types = rules.reviews.weekly_types if kind == "weekly" else rules.reviews.monthly_types
    got: dict[str, Any] = {}
    with pytest.raises(_Undo):
        with db.tx() as tx:
            tx.execute("DELETE FROM itr_counter WHERE metric LIKE 'r:%'")
            got = build_report(tx, rt, rules, period=published["period"], unit_code=published["unit"],
                               now=datetime.fromisoformat(published["generated_at"]),
                               kind="week" if kind == "weekly" else "month", types=types).model_dump(mode="json")
            raise _Undo
    return got


def _reviews(db: Database) -> dict[str, dict[str, Any]]:
    with db.read() as tx:
        return {str(s): json.loads(d) for s, d in tx.all("SELECT subject, data FROM flow_instance "
                                                          "WHERE flow = 'itr_review'")}


def _cells(db: Database) -> set[tuple[str, int, int]]:
    with db.read() as tx:
        return {(str(u), int(s), int(e)) for u, s, e in tx.all("SELECT unit_code, start_us, end_us FROM itr_counter "
                                                              "WHERE metric = 'r:seeded'")}


def test_reviews_keep_their_windows_counter_rows_make_only_the_new_week_and_equal_a_fresh_scan(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    from engine.clock import to_us
    from flows.itr.policy import week_bounds
    from tests.integration.test_itr_service import SHANGHAI

    from engine.launches import run_due_launches

    life_cycle(rt, clock)
    clock.set(at("2026-11-30 09:00"))
    run_due_launches(rt)  # the weekly review of 2026-W48
    first = _reviews(db)
    assert first and all(s.startswith("weekly:2026-W48:") for s in first)
    for published in first.values():
        assert published["report"] == _fresh(rt, db, published["report"], published["kind"])
    kept = _cells(db)
    w48 = tuple(to_us(b) for b in week_bounds("2026-W48", SHANGHAI))
    assert ("OFF-SZ", *w48) in kept and ("R-SOUTH", *w48) in kept  # the office's and its region's week
    assert len({c for c in kept if c[0] == "OFF-SZ"}) == 8  # the office's trend weeks, W41..W48

    clock.set(at("2026-12-02 10:00"))
    to_handling(rt, type="non_technical", title="发票抬头错误")
    clock.set(at("2026-12-07 09:00"))
    run_due_launches(rt, only={"itr_review:weekly_office_review"})  # 2026-W49
    w49 = tuple(to_us(b) for b in week_bounds("2026-W49", SHANGHAI))
    assert _cells(db) - kept == {("OFF-SZ", *w49), ("R-SOUTH", *w49)}  # the week just ended alone
    run_due_launches(rt)  # the monthly review of 2026-11 too
    later = {s: r for s, r in _reviews(db).items() if s not in first}
    assert {s.split(":")[0] for s in later} == {"weekly", "monthly"}
    for published in later.values():
        assert published["report"] == _fresh(rt, db, published["report"], published["kind"])
    assert kept <= _cells(db)


def test_a_step_in_flight_while_its_window_is_made_is_counted_on_postgresql(rt: Runtime, db: Database,
                                                                            clock: FakeClock) -> None:
    import threading
    import time

    from engine.clock import to_us
    from flows.itr import counters
    from flows.itr.policy import week_bounds, week_of
    from tests.integration.test_itr_service import SHANGHAI

    if not db.is_pg:
        pytest.skip("SQLite writers are serial: no step is in flight while a window's rows are made")
    cell = ("OFF-SZ", *(to_us(b) for b in week_bounds(week_of(clock.now(), SHANGHAI), SHANGHAI)))
    seeder = threading.Thread(target=lambda: _seed(db, cell))
    with db.tx():  # a step in flight: its issue written and counted (into no row yet), not committed
        open_issue(rt)
        seeder.start()  # makes the week's rows meanwhile, from its own connection
        time.sleep(1.0)
    seeder.join()
    with db.tx() as tx:
        kept = counters.report_cells(tx, [cell])[cell]
        tx.execute("DELETE FROM itr_counter WHERE metric LIKE 'r:%'")
        assert kept == counters.report_cells(tx, [cell])[cell]
        assert sum(kept["valid"].values()) == 1


def _seed(db: Database, cell: tuple[str, int, int]) -> None:
    from flows.itr import counters

    with db.tx() as tx:
        counters.seed_cells(tx, [cell])
