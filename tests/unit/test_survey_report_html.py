"""The survey report page is a Jinja2 template with autoescape: text from the data (item labels,
office names) can never become markup, and the page stays self-contained."""

from __future__ import annotations

from typing import Any

from flows.survey.report import render_html

EVIL = "<script>alert('x')</script>"


def report(label: str) -> dict[str, Any]:
    entry = {"key": "k", "label": label, "average": 2.5, "count": 4, "low_share": 0.5}
    groups = {k: [entry] for k in ("by_category", "by_phase", "by_product", "by_brand", "by_region", "by_office",
                                   "by_tier")}
    return {"year": 2026, "average": 2.5, "responses": 4, "customers": 1, "contacts": 2, "low_share": 0.5,
            "low_score_below": 3, "lowest_items": [entry], "trend": [{"year": 2026, "average": 2.5, "count": 4,
                                                                       "by_category": {}}],
            "callbacks": {"projects": {"count": 1, "low": 1, "improvement_issues": 1, "by_item": [entry]},
                          "activities": {"count": 0, "average": None}}, **groups}


def test_labels_from_the_data_are_escaped_everywhere_they_appear() -> None:
    page = render_html(report(EVIL), "zh-CN")
    assert "<script" not in page
    assert "&lt;script&gt;" in page  # the table cell, escaped by the template
    assert page.startswith("<!DOCTYPE html>") and "2026 年客户满意度分析" in page and "50%" in page


def test_the_english_page_says_the_same_in_english() -> None:
    page = render_html(report("service · after-sale"), "en")
    assert '<html lang="en">' in page and "Customer satisfaction 2026" in page and "2.50" in page
