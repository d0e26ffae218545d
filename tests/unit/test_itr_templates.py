"""Every ITR mail template renders in zh-CN and en with the variables its action passes (StrictUndefined:
a missing variable fails here, not in a step at 3 a.m.)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.templates import render

TEMPLATES = Path(__file__).resolve().parents[2] / "flows" / "itr" / "templates"

DATA = {"title": "基站光模块告警", "description": "多个站点告警", "type": "technical", "severity": "urgent",
        "source": "hotline", "customer": "C-BIG", "customer_name": "鹏城电信", "contact": "K-BIG1",
        "contact_name": "张总", "queue": "technical", "sla": "4 business hours", "sla_due": "2026-11-26T14:30:00+08:00",
        "major_incident": True, "care_rep_name": "关怀代表", "office_name": "深圳代表处", "handler_name": "王工",
        "submitter_name": "热线坐席", "sla_hours": 4.0}
BASE = {"data": DATA, "instance": {"id": 7, "flow": "itr_issue", "state": "handling", "title": "客户问题处理"},
        "recipient_name": "王工", "status": "代表处处理中",
        "label": {"type": "技术问题", "severity": "紧急", "source": "服务热线"}}
REPORT = {"period": "2026-W48", "period_start": "2026-11-23T00:00:00+08:00", "period_end": "2026-11-30T00:00:00+08:00",
          "unit": "OFF-SZ", "unit_kind": "office", "unit_name": "深圳代表处", "types": ["non_technical"], "generated_at": "2026-11-30T09:00:00+08:00",
          "new_valid_issues": 3, "new_issues_by_type": {"technical": 2, "complaint": 1}, "rejected": 0,
          "dispatch": {"dispatched": 3, "first_time_right": 2, "accuracy": 0.6667},
          "closure": {"closed": 1, "on_time": 1, "timely_rate": 1.0},
          "self_resolution": [{"unit": "OFF-SZ", "kind": "office", "name": "深圳代表处", "issues": 3, "escalated": 1,
                               "self_resolution_rate": 0.6667, "quota": 0.2, "within_quota": False}],
          "escalations": {"granted": 1, "refused": 1, "overridden": 0, "automatic": 0},
          "callbacks": {"closed": 1, "called_back": 1, "coverage": 1.0, "urgent_closed": 0, "urgent_called_back": 0,
                        "urgent_coverage": None, "scores": 1, "average_score": 4.0},
          "qa_cases_open": 0, "open_issues": 2, "unowned_open": 0, "overdue_open": 1,
          "weekly_shortfalls": [{"week": "2026-W48", "office": "OFF-SZ", "team": "T-SZ1", "customer": "C-BIG",
                                 "valid_issues": 1, "required": 2}],
          "negative_scores": [{"week": "2026-W48", "office": "OFF-SZ", "team": "T-SZ2", "customer": "C-MID",
                               "issue": 5, "points": -1, "reason": "…"}]}

CASES = {
    "dispatched": [{"redispatch": False, "reason": "", "reopened": False},
                   {"redispatch": True, "reason": "实为商务问题", "reopened": False},
                   {"redispatch": False, "reason": "", "reopened": True}],
    "escalated": [{"from_level": "代表处", "to_level": "地区部", "reason": "无法确定责任人", "automatic": False, "note": "x"},
                  {"from_level": "office", "to_level": "region", "reason": "time limit", "automatic": True, "note": ""}],
    "resolved": [{"solution": "更换光模块"}],
    "callback_request": [{"reason": "紧急问题 100% 回访", "not_before": "", "gap_days": 10, "min_score": 3},
                         {"reason": "urgent", "not_before": "2026-12-04 10:00", "gap_days": 10, "min_score": 3}],
    "progress_report": [{"level": "代表处", "latest": "正在回退版本", "report_no": 2, "at": "2026-11-26 11:00 CST"}],
    "qa_case_opened": [{"case_id": 3, "kind": "low_score", "reason": "评分 2", "score": 2},
                       {"case_id": 4, "kind": "escalation_override", "reason": "超配额", "score": None}],
    "review_report": [{"report": REPORT, "kind": "weekly", "type_names": ["非技术问题"]},
                      {"report": {**REPORT, "weekly_shortfalls": [],
                                                                       "negative_scores": []}, "kind": "monthly"}],
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("template", sorted(CASES))
def test_template_renders_in_both_languages(template: str, locale: str) -> None:
    assert (TEMPLATES / f"{template}.{locale}.j2").is_file()
    for variables in CASES[template]:
        subject, body = render(TEMPLATES, template, locale, {**BASE, **variables})
        assert subject and "{{" not in subject + body and "{%" not in body
        if template != "review_report":  # every issue mail names the issue; all but the progress report its number
            assert "基站光模块告警" in subject, subject
            assert template == "progress_report" or "#7" in subject, subject


def test_review_report_lists_the_figures_and_shortfalls() -> None:
    _, body = render(TEMPLATES, "review_report", "zh-CN", {**BASE, "report": REPORT, "kind": "weekly",
                                                           "type_names": ["非技术问题"]})
    assert "2026-W48 “非技术问题”的问题处理情况" in body
    assert "分派一次准确率：2/3（67%）" in body
    assert "深圳代表处（OFF-SZ）：问题 3，升级 1，自行解决率 67%（升级上限 20%，超出）" in body
    assert "2026-W48 T-SZ1 客户 C-BIG：1" in body and "问题 #5：-1" in body
    _, en = render(TEMPLATES, "review_report", "en", {**BASE, "report": REPORT, "kind": "weekly"})
    assert "Dispatch first-time accuracy: 2/3 (67%)" in en and "EXCEEDED" in en


def test_progress_report_carries_status_and_latest_note() -> None:
    subject, body = render(TEMPLATES, "progress_report", "zh-CN", {**BASE, **CASES["progress_report"][0]})
    assert subject == "【重大事故进展通报 第2次】基站光模块告警"
    assert "处理状态：代表处处理中（代表处）" in body and "最新进展：正在回退版本" in body
