"""`mcr survey …` through typer's CliRunner on both databases, and once as a real process: the commands
call the service, print Chinese by default and English with MCR_LOCALE=en, and every refusal is an
`MCRError` (one line, exit 1 from `mcr`), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.db import Database
from engine.errors import ImportRejected
from flows.survey.errors import InvalidScore, NoCallbackNeeded
from flows.survey.fixtures import insert_org, standard_org
from tests.conftest import ROOT

runner = CliRunner()


def _app() -> Any:
    from engine import cli

    if not any(g.name == "survey" for g in cli.app.registered_groups):
        cli._register_plugins()
    return cli.app


@pytest.fixture
def mcr(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    insert_org(db, standard_org())
    app = _app()

    def run(*args: str, **env: str) -> Any:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        result = runner.invoke(app, list(args))
        for k in env:
            monkeypatch.delenv(k)
        return result
    return run


def test_project_closed_and_the_sample_log(mcr: Any) -> None:
    res = mcr("survey", "project-closed", "P-REG")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "项目 P-REG：地区部以上项目，全部回访（抽样值 0.0288，比例 10%）→ 回访流程 #1，状态 pending"
    res = mcr("survey", "project-closed", "P-OF01", MCR_LOCALE="en")
    assert res.output.strip() == ("project P-OF01: not drawn, called back to keep the period's share "
                                  "(draw 0.1516, rate 10%) -> callback #2, state pending")
    res = mcr("survey", "project-closed", "P-OF02", MCR_LOCALE="en")
    assert res.output.strip() == "project P-OF02: not drawn (draw 0.7509, rate 10%); no callback"
    log = json.loads(mcr("survey", "sample-log", "--json").output)
    assert [(r["project"], r["selected"], r["reason"]) for r in log] == [("P-OF02", False, "not_sampled"),
                                                                        ("P-OF01", True, "quota_kept"),
                                                                        ("P-REG", True, "big_project")]
    text = mcr("survey", "sample-log").output
    assert "P-REG\t地区部级\t✓ 地区部以上项目，全部回访\tdraw=0.028770 rate=0.1 seed=20260101\t#1" in text


def test_recording_a_callback_with_a_low_score_reports_the_itr_issue(mcr: Any) -> None:
    mcr("survey", "project-closed", "P-REG")
    res = mcr("survey", "callback", "record", "--as", "E6", "--project", "P-REG", "--product", "4", "--solution", "2",
              "--delivery", "4", "--attitude", "5", "--comment", "方案需改进")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ["回访已记录：#1 (done)", "低分项 解决方案：已在 ITR 中开立改进问题 #2"]
    listed = json.loads(mcr("survey", "callback", "list", "--json").output)
    assert listed[0]["scores"] == {"product": 4, "solution": 2, "delivery": 4, "service_attitude": 5}
    header, _rule, *rows = mcr("survey", "callback", "list").output.splitlines()
    assert header.split() == ["时间", "实例", "项目/活动", "联系人", "接通", "评分", "意见"]
    assert len(rows) == 1 and rows[0].split()[1:3] == ["#1", "P-REG"] and rows[0].rstrip().endswith("方案需改进")


def test_an_invalid_score_is_an_mcr_error_not_a_traceback(mcr: Any) -> None:
    mcr("survey", "project-closed", "P-REG")
    res = mcr("survey", "callback", "record", "--as", "E6", "--project", "P-REG", "--product", "7", "--solution", "2",
              "--delivery", "4", "--attitude", "5")
    assert res.exit_code != 0 and isinstance(res.exception, InvalidScore)
    assert str(res.exception) == "「产品」的得分「7」无效：须为 1–5 的整数"


def test_activity_ended_and_its_callbacks(mcr: Any) -> None:
    res = mcr("survey", "activity-ended", "A1")
    assert res.output.strip() == "活动 A1 的回访 #1：3 位客户，须在 2026-11-23 18:00 前完成"
    res = mcr("survey", "activity-ended", "A2", MCR_LOCALE="en")
    assert isinstance(res.exception, NoCallbackNeeded)
    assert "activity A2 is of type 'company_visit', which needs no callback" in str(res.exception)
    res = mcr("survey", "callback", "record", "--as", "E6", "--activity", "A1", "--contact", "C1-K01", "--score", "5")
    assert res.output.strip() == "回访已记录：#1 (pending)"


def test_the_annual_survey_from_list_to_report(mcr: Any, tmp_path: Path) -> None:
    picks = ([(i, "面访") for i in range(1, 7)] + [(i, "电话") for i in range(9, 18)]
             + [(i, "问卷") for i in range(21, 36)])
    csv = tmp_path / "c1.csv"
    csv.write_text("联系人编码,调查方式\n" + "".join(f"C1-K{i:02d},{m}\n" for i, m in picks), encoding="utf-8")
    res = mcr("survey", "sample", "check", str(csv), "--customer", "C1", "--year", "2026")
    assert res.output.strip() == "样本清单检查通过：客户 C1，2026 年，30 人（规定至少 30 人；高层 6、中层 9、基层 15）"
    res = mcr("survey", "sample", "import", str(csv), "--as", "E6", "--customer", "C1", "--year", "2026")
    assert res.output.strip() == "样本清单已接收：客户 C1，2026 年，30 人（第 1 版）"
    header, _rule, *rows = mcr("survey", "sample", "list", "--year", "2026").output.splitlines()
    assert header.split() == ["客户", "客户名称", "状态", "人数/规定", "各层人数", "版本"]
    assert [r.split() for r in rows] == [["C1", "深圳移动", "已接收", "30/30", "高层", "6", "中层", "9", "基层", "15", "v1"]]
    out = tmp_path / "firm.xlsx"
    res = mcr("survey", "sample", "export", str(out), "--year", "2026", "--as", "E2")
    assert res.output.strip() == f"已导出 1 份样本清单（30 人）到 {out}"
    from openpyxl import load_workbook

    wb = load_workbook(out)
    wb["结果模板"].append([2026, "C1", None, "C1-K01", "服务", "售后", 2, "慢"])
    wb["结果模板"].append([2026, "C1", None, "C1-K09", "产品", "路由器", 4, None])
    wb.save(tmp_path / "results.xlsx")
    res = mcr("survey", "results", "import", str(tmp_path / "results.xlsx"), "--year", "2026", "--as", "E2")
    assert res.output.strip() == "已导入并发布 2 条结果（1 个客户）：C1", res.output
    html = tmp_path / "report.html"
    res = mcr("survey", "report", "--year", "2026", "--html", str(html))
    assert res.output.splitlines()[:3] == [f"报告已写入 {html}", "2026 年平均 3.00 分（2 条评分，1 个客户）；最低的评价项：",
                                          "  2.00\t服务 · 售后\t(n=1)"]
    assert "<svg" in html.read_text(encoding="utf-8")
    data = json.loads(mcr("survey", "report", "--year", "2026", "--json").output)
    assert data["average"] == 3.0 and data["by_phase"][0]["key"] == "after_sale"


def test_a_refused_sample_file_lists_every_problem(mcr: Any, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("联系人编码,调查方式\nC1-K01,电话\nC1-K01,电话\n", encoding="utf-8")
    res = mcr("survey", "sample", "import", str(csv), "--as", "E6", "--customer", "C1", "--year", "2026")
    assert isinstance(res.exception, ImportRejected)
    lines = str(res.exception).splitlines()
    assert lines == [f"导入被拒绝：{csv} 有 5 个问题，未写入任何数据",
                     f"{csv}:3: 第 3 行，列「联系人编码/contact_code」：联系人 C1-K01 重复（第 2 行已列出）；同一联系人只能出现一次",
                     f"{csv}:0: 样本数量 1 人，少于规定的 30 人（年订货额 USD 50,000,000）",
                     f"{csv}:0: 高层占比 100.0%（1/1），规定为 20% ± 5%（15%–25%）",
                     f"{csv}:0: 中层占比 0.0%（0/1），规定为 30% ± 5%（25%–35%）",
                     f"{csv}:0: 基层占比 0.0%（0/1），规定为 50% ± 5%（45%–55%）"]


def test_mcr_prints_a_refusal_on_one_line_and_exits_1(tmp_path: Path) -> None:
    env = dict(os.environ, MCR_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
               PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("MCR_LOCALE", None)
    closed = [sys.executable, "-m", "engine.cli", "survey", "project-closed", "P-NONE"]
    # Before `mcr init` there is no database, and a flow command does not create one.
    res = subprocess.run(closed, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stderr.strip().startswith("错误: 没有数据库文件")
    assert not (tmp_path / "cli.db").exists()
    assert subprocess.run([sys.executable, "-m", "engine.cli", "init"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120).returncode == 0
    res = subprocess.run(closed, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip() == "错误: 未知项目「P-NONE」（主数据中没有）"
    assert "Traceback" not in res.stderr
