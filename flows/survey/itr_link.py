"""Opening an improvement issue (改进问题) in ITR from a low satisfaction score.

The issue is opened inside the survey step's own transaction, through ITR's own entry point
`flows.itr.service.open_issue_in(ctx, **fields) -> issue id`, so the callback, its low items and
the ITR issue are written together or not at all. A build without the ITR module records the
low items with the callback and opens nothing (the report still lists them).
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.i18n import label
from flows.survey.rules import ImprovementIssue


def _open_issue_in() -> Any:
    try:
        module = importlib.import_module("flows.itr.service")
    except ModuleNotFoundError as exc:
        if exc.name in ("flows.itr", "flows.itr.service"):
            return None
        raise
    return getattr(module, "open_issue_in", None)


def itr_installed(runtime: Any) -> bool:
    """The ITR flow is loaded (with or without its `open_issue_in` entry point)."""
    from engine.errors import UnknownFlow

    try:
        runtime.definitions.get("itr_issue")
    except UnknownFlow:
        return False
    return True


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


def open_improvement(ctx: Any, fields: dict[str, Any]) -> int | None:
    """Open the ITR improvement issue in this step's transaction; None when ITR is not installed.

    Through `flows.itr.service.open_issue_in` when ITR provides it; otherwise (an ITR build without
    that entry point) by starting an `itr_issue` instance with the fields as its data."""
    if not itr_installed(ctx.runtime):
        return None
    entry = _open_issue_in()
    if entry is not None:
        return int(entry(ctx, **fields))
    return ctx.start("itr_issue", dict(fields), subject=f"survey-improvement:{ctx.instance_id}")
