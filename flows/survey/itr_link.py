"""Opening an improvement issue (改进问题) in ITR from a low satisfaction score.

The issue is opened inside the survey step's own transaction, through ITR's public service
`open_issue_in(ctx, **fields) -> issue id` found in the plugin registry (engine/plugins.py), so
the callback, its low items and the ITR issue are written together or not at all. The survey never
imports ITR: a build without the ITR family records the low items with the callback and opens
nothing (the report still lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import plugins
from engine.i18n import label
from flows.survey.rules import ImprovementIssue


def itr_installed(runtime: Any) -> bool:
    """The ITR family is installed and this runtime loaded its flows."""
    itr = plugins.get("itr")
    return itr is not None and any(plugins.owner_of(Path(d.source_file)) == itr
                                   for d in runtime.definitions.by_key.values() if d.source_file)


def improvement_fields(*, project: str, project_name: str, customer: str, contact: str, owner: str,
                       low: dict[str, int], comment: str | None, callback_instance: int,
                       policy: ImprovementIssue, locale: str) -> dict[str, Any]:
    items_zh = "、".join(f"{label('survey.item', k, 'zh-CN')} {v} 分" for k, v in low.items())
    items_en = ", ".join(f"{label('survey.item', k, 'en')} {v}" for k, v in low.items())
    if locale == "en":
        title = f"Satisfaction callback low score: project {project} ({items_en})"
        description = (f"Post-project satisfaction callback #{callback_instance} of project {project} {project_name}: "
                       f"low score(s) {items_en}." + (f" Customer's comment: {comment}" if comment else ""))
    else:
        title = f"满意度回访低分：项目 {project}（{items_zh}）"
        description = (f"项目 {project} {project_name} 的结束满意度回访 #{callback_instance}：低分项 {items_zh}。"
                       + (f"客户意见：{comment}" if comment else ""))
    return {"customer": customer, "contact": contact, "type": policy.type, "severity": policy.severity,
            "source": policy.source, "title": title, "description": description, "submitter": owner,
            "locale": locale}


def annual_improvement_fields(*, year: int, customer: str, contact: str, owner: str, category: str, item: str,
                              average: float, threshold: float, item_id: int, policy: ImprovementIssue,
                              locale: str) -> dict[str, Any]:
    from flows.survey.results import category_label

    name = category_label(category, item, "en" if locale == "en" else "zh-CN")
    if locale == "en":
        title = f"Annual survey {year}: {name} averages {average} (below {threshold:g}) at {customer}"
        description = (f"Improvement item #{item_id} of the annual satisfaction survey {year}: customer {customer}, "
                       f"{name} averages {average}, below {threshold:g}. Owned by the customer's team until closed.")
    else:
        title = f"{year} 年度满意度调查：{customer} 的「{name}」平均 {average} 分（低于 {threshold:g}）"
        description = (f"{year} 年度满意度调查改进项 #{item_id}：客户 {customer} 的「{name}」平均 {average} 分，"
                       f"低于 {threshold:g} 分。由客户所属团队负责改进直至关闭。")
    return {"customer": customer, "contact": contact, "type": policy.type, "severity": policy.severity,
            "source": policy.source, "title": title, "description": description, "submitter": owner,
            "locale": locale}


def open_improvement(ctx: Any, fields: dict[str, Any]) -> int | None:
    """Open the ITR improvement issue in this step's transaction; None when ITR is not installed
    (its family absent from the registry, or its flows not loaded by this runtime)."""
    open_issue_in = plugins.service("itr", "open_issue_in")
    if open_issue_in is None or not itr_installed(ctx.runtime):
        return None
    return int(open_issue_in(ctx, **fields))
