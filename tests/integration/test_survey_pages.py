"""The survey pages (/surveys) against real databases (SQLite file and PostgreSQL), signed in through the
sign-in form: a callback recorded from its page (a low score opens the ITR improvement issue), the sample
list's live check (size and level shares) and its submission, the results upload all or nothing, the report
with each chart's numbers as a table, project quality ratings and the improvement items closed by the team —
and every refusal decided by the service (a peer's customer 403, nothing written).

People (flows/survey/fixtures.py): E2 sales management; E5 supervisor of E6 (owns C1) and E7; E9 owns C2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.app import build_runtime
from engine.auth import accounts
from engine.clock import FakeClock
from engine.db import Database
from engine.runtime import Runtime
from engine.web import WebSettings, create_app
from flows.survey import quality, service
from flows.survey.fixtures import insert_org, standard_org
from tests.integration.test_survey_annual import C1_GOOD, C2_GOOD, RESULTS, rows
from tests.integration.test_survey_callbacks import instance, snapshot
from tests.support.accounts import PASSWORD
from tests.support.principals import principal_of

PEOPLE = ("E2", "E5", "E6", "E7", "E9")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    for emp in PEOPLE:
        accounts.add_account(db, emp, PASSWORD, clock=clock)
    return runtime


def browser(rt: Runtime, emp_no: str) -> tuple[TestClient, str]:
    """A browser of `emp_no` signed in through the form, and its session's CSRF token."""
    from engine.web.deps import PRESESSION_CSRF_COOKIE

    client = TestClient(create_app(rt, WebSettings()), base_url="http://127.0.0.1:8080")
    client.cookies.set(PRESESSION_CSRF_COOKIE, "pre")
    res = client.post("/signin", data={"emp_no": emp_no, "password": PASSWORD, "next": "/surveys", "csrf_token": "pre"},
                      follow_redirects=False)
    assert res.status_code == 303, res.text
    with rt.db.read() as tx:
        token = str(tx.one("SELECT csrf_token FROM auth_session WHERE emp_no = :e ORDER BY id DESC", {"e": emp_no})[0])
    return client, token


def test_a_callback_is_listed_for_its_owner_and_recorded_from_its_page(rt: Runtime, db: Database) -> None:
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    e6, token = browser(rt, "E6")
    page = e6.get("/surveys")
    assert page.status_code == 200 and f'data-testid="todo-{d.instance}"' in page.text
    e9, _ = browser(rt, "E9")
    assert f'todo-{d.instance}' not in e9.get("/surveys").text          # another team's callback is not listed
    assert e9.get(f"/surveys/callbacks/{d.instance}").status_code == 403  # nor readable by URL
    form = {"csrf_token": token, "client_event_id": "cb-1", "event": "record", "reached": "yes", "product": "4",
            "solution": "2", "delivery": "4", "service_attitude": "5", "comment": "方案需改进"}
    res = e6.post(f"/surveys/callbacks/{d.instance}", data=form, follow_redirects=False)
    assert res.status_code == 303
    again = e6.post(f"/surveys/callbacks/{d.instance}", data=form, follow_redirects=False)  # a double submit
    assert again.status_code in (303, 409)
    cb = instance(db, "project:P-REG")
    assert cb["state"] == "done" and cb["data"]["low_items"] == ["solution"] and cb["data"]["improvement_issue"]
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM survey_callback")[0] == 1
    shown = e6.get(f"/surveys/callbacks/{d.instance}?saved=1").text
    assert 'data-testid="saved"' in shown and f'/issues/{cb["data"]["improvement_issue"]}' in shown


def test_a_score_out_of_range_is_shown_on_the_form_and_nothing_is_written(rt: Runtime, db: Database) -> None:
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    e6, token = browser(rt, "E6")
    before = snapshot(db)
    res = e6.post(f"/surveys/callbacks/{d.instance}", data={
        "csrf_token": token, "event": "record", "reached": "yes", "product": "9", "solution": "4", "delivery": "4",
        "service_attitude": "4"})
    assert res.status_code == 422 and 'data-testid="problems"' in res.text and "9" in res.text
    assert snapshot(db) == before


def _picks(picks: list[tuple[int, str]], token: str, customer: str = "C1", **extra: str) -> dict[str, Any]:
    """The editor's form: a ticked `pick` per contact and its `method_<code>`."""
    method = {"面访": "face_to_face", "电话": "phone", "问卷": "questionnaire"}
    out: dict[str, Any] = {"csrf_token": token, "pick": [], **extra}
    for i, m in picks:
        code = f"{customer}-K{i:02d}"
        out["pick"].append(code)
        out[f"method_{code}"] = method[m]
    return out


def test_the_sample_list_check_follows_the_edit_and_a_good_list_is_saved(rt: Runtime, db: Database) -> None:
    e6, token = browser(rt, "E6")
    page = e6.get("/surveys/samples/C1?year=2026")
    assert page.status_code == 200 and 'data-testid="pick-C1-K01"' in page.text
    skewed = [(i, "面访") for i in range(1, 9)] + [(i, "问卷") for i in range(21, 33)]   # 8 senior of 20: 40 %
    check = e6.post("/surveys/samples/C1/check?year=2026", data=_picks(skewed, token),
                    headers={"HX-Request": "true"})
    assert check.status_code == 200
    assert 'data-testid="ratio-warning-senior"' in check.text and 'data-testid="ratio-warning-middle"' in check.text
    assert re.search(r'data-testid="check-size"[^>]*>\s*\S+: <b>20</b> / 30', check.text)
    good = e6.post("/surveys/samples/C1/check?year=2026", data=_picks(C1_GOOD, token))
    assert "ratio-warning" not in good.text and 'data-testid="check-ok"' in good.text
    before = snapshot(db)
    refused = e6.post("/surveys/samples/C1?year=2026", data=_picks(skewed, token))
    assert refused.status_code == 422 and 'data-testid="problems"' in refused.text
    assert snapshot(db) == before
    saved = e6.post("/surveys/samples/C1?year=2026", data=_picks(C1_GOOD, token, client_event_id="s-1"), follow_redirects=False)
    assert saved.status_code == 303
    with db.read() as tx:
        assert tx.one("SELECT size, status FROM survey_sample WHERE customer_code = 'C1' AND year = 2026") == (30, "accepted")
    e9, token9 = browser(rt, "E9")
    assert e9.get("/surveys/samples/C1?year=2026").status_code == 403      # a peer's customer
    assert e9.post("/surveys/samples/C1/check?year=2026", data=_picks(C1_GOOD, token9)).status_code == 403


def _exported(rt: Runtime, tmp_path: Path) -> Path:
    service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    service.submit_sample_list(rt, "C2", 2026, principal=principal_of(rt, "E9"), rows=rows("C2", C2_GOOD))
    service.export_samples(rt, 2026, tmp_path / "s.xlsx", principal=principal_of(rt, "E2"))
    body = ["customer_code,contact_code,category,item,score,comment"]
    body += [",".join("" if v is None else str(v) for v in r) for r in RESULTS]
    path = tmp_path / "results.csv"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return path


def test_results_are_uploaded_by_sales_management_all_or_nothing(rt: Runtime, db: Database, tmp_path: Path) -> None:
    path = _exported(rt, tmp_path)
    e6, token6 = browser(rt, "E6")
    refused = e6.post("/surveys/results", data={"csrf_token": token6, "year": "2026"},
                      files={"file": ("results.csv", path.read_bytes(), "text/csv")})
    assert refused.status_code == 403
    e2, token = browser(rt, "E2")
    bad = path.read_text(encoding="utf-8") + "C1,C1-K01,产品,路由器,6,\n"
    before = snapshot(db)
    res = e2.post("/surveys/results", data={"csrf_token": token, "year": "2026"},
                  files={"file": ("results.csv", bad.encode("utf-8"), "text/csv")})
    assert res.status_code == 422 and "results.csv:10:" in res.text and "得分「6」无效" in res.text
    assert snapshot(db) == before
    ok = e2.post("/surveys/results", data={"csrf_token": token, "year": "2026", "client_event_id": "r-1"},
                 files={"file": ("results.csv", path.read_bytes(), "text/csv")})
    assert ok.status_code == 200 and 'data-testid="imported"' in ok.text
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM survey_result")[0] == 8
        items = tx.all("SELECT customer_code, category, item, average, team_code, status FROM survey_improvement "
                       "ORDER BY customer_code")
    # One improvement item per customer and item below 3, owned by the customer's team.
    assert items == [("C1", "service", "after_sale", 2.0, "T1", "open"), ("C2", "service", "after_sale", 1.0, "T2", "open")]


def test_the_report_draws_each_chart_with_its_numbers_and_is_for_company_wide_readers(
        rt: Runtime, db: Database, tmp_path: Path) -> None:
    service.import_results(rt, 2026, principal=principal_of(rt, "E2"), file=_exported(rt, tmp_path))
    e2, _ = browser(rt, "E2")
    page = e2.get("/surveys/report?year=2026")
    assert page.status_code == 200 and "/static/vendor/echarts.min.js" in page.text
    table = re.search(r'data-testid="survey-by-category-table">(.*?)</table>', page.text, re.S)
    assert table is not None
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table.group(1))
    assert cells[cells.index("服务") + 1] == "2.75" and cells[cells.index("品牌") + 1] == "5.0"
    e6, _ = browser(rt, "E6")
    assert e6.get("/surveys/report?year=2026").status_code == 403   # an account manager: not the company report
    e5, _ = browser(rt, "E5")
    assert e5.get("/surveys/report?year=2026").status_code == 200   # a supervisor


def test_project_quality_weighs_the_assessment_and_the_callback_and_items_are_closed_by_the_team(
        rt: Runtime, db: Database, tmp_path: Path) -> None:
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    service.record_callback(rt, principal=principal_of(rt, "E6"), instance=d.instance,
                            scores={"product": 4, "solution": 4, "delivery": 3, "service_attitude": 5})
    only_callback = quality.project_quality(rt, "P-REG", principal=principal_of(rt, "E5"))
    assert (only_callback["callback"], only_callback["rating"], only_callback["complete"]) == (4.0, 4.0, False)
    e6, token = browser(rt, "E6")
    assert e6.post("/surveys/quality/P-REG", data={"csrf_token": token, "score": "2"},
                   follow_redirects=False).status_code == 303
    q = quality.project_quality(rt, "P-REG", principal=principal_of(rt, "E6"))
    assert (q["assessment"], q["callback"], q["rating"], q["complete"]) == (2.0, 4.0, 2.6, True)  # 0.7×2 + 0.3×4
    page = e6.get("/surveys/quality").text
    assert re.search(r'data-testid="rating-P-REG">2.6<', page)
    e9, token9 = browser(rt, "E9")
    assert e9.post("/surveys/quality/P-REG", data={"csrf_token": token9, "score": "5"}).status_code == 403
    assert "P-REG" not in e9.get("/surveys/quality").text
    service.import_results(rt, 2026, principal=principal_of(rt, "E2"), file=_exported(rt, tmp_path))
    item = next(i for i in quality.improvements(rt, principal=principal_of(rt, "E6")) if i["customer"] == "C1")
    assert [i["customer"] for i in quality.improvements(rt, principal=principal_of(rt, "E6"))] == ["C1"]
    assert e9.post(f"/surveys/improvements/{item['id']}/close",
                   data={"csrf_token": token9, "resolution": "x"}).status_code == 403
    res = e6.post(f"/surveys/improvements/{item['id']}/close", data={"csrf_token": token, "resolution": "备件前置到深圳仓"},
                  follow_redirects=False)
    assert res.status_code == 303
    closed = next(i for i in quality.improvements(rt, principal=principal_of(rt, "E5")) if i["id"] == item["id"])
    assert (closed["status"], closed["closed_by"], closed["resolution"]) == ("closed", "E6", "备件前置到深圳仓")
    again = e6.post(f"/surveys/improvements/{item['id']}/close", data={"csrf_token": token, "resolution": "再关一次"})
    assert again.status_code == 409 or again.status_code == 422
