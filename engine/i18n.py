"""User-facing words of the CLI and reports: Simplified Chinese by default, English with MCR_LOCALE=en."""

from __future__ import annotations

import os

CATALOG: dict[str, dict[str, str]] = {
    "error": {"zh-CN": "错误", "en": "error"},
    "flows_ok": {"zh-CN": "流程定义校验通过：{files} 个文件，{flows} 个流程，{states} 个状态，{transitions} 个迁移",
                 "en": "flow definitions valid: {files} file(s), {flows} flow(s), {states} states, {transitions} transitions"},
    "db_upgraded": {"zh-CN": "数据库已升级到 {rev}（{url}）", "en": "database upgraded to {rev} ({url})"},
    "init_done": {"zh-CN": "初始化完成：数据库 {url}，{flows} 个流程已登记", "en": "initialised: database {url}, {flows} flow(s) registered"},
    "serving": {"zh-CN": "mcr 已启动：数据库 {url}，{flows} 个流程，邮件 → {mail}。按 Ctrl+C 停止。",
                "en": "mcr is running: database {url}, {flows} flow(s), mail -> {mail}. Press Ctrl+C to stop."},
    "stopped": {"zh-CN": "mcr 已停止", "en": "mcr stopped"},
    "event_applied": {"zh-CN": "实例 #{id}：{src} → {dst}（版本 {version}）", "en": "instance #{id}: {src} -> {dst} (version {version})"},
    "event_duplicate": {"zh-CN": "该客户端事件已处理过，未重复执行：实例 #{id} 当前 {dst}（版本 {version}）",
                        "en": "client event already applied, not applied again: instance #{id} at {dst} (version {version})"},
    "started": {"zh-CN": "已启动实例 #{id}（{flow}，状态 {state}）", "en": "started instance #{id} ({flow}, state {state})"},
    "start_duplicate": {"zh-CN": "该对象已有实例 #{id}，未重复启动", "en": "this subject already has instance #{id}; nothing started"},
    "swept": {"zh-CN": "已触发 {n} 个到期定时器", "en": "fired {n} due timer(s)"},
    "sent": {"zh-CN": "邮件：发送 {sent}，重试 {retried}，失败 {failed}", "en": "mail: sent {sent}, retried {retried}, failed {failed}"},
    "nothing": {"zh-CN": "（无）", "en": "(none)"},
    # refusals of the runtime (engine/runtime.py)
    "unknown_instance": {"zh-CN": "没有编号为 {id} 的流程实例", "en": "no flow instance with id {id}"},
    "stale_version": {"zh-CN": "实例 {id} 当前为版本 {version}，不是 {expected}：读取之后已被他人修改，请重新读取后再试",
                      "en": "instance {id} is at version {version}, not {expected}: it changed since you read it; "
                            "reload and try again"},
    "stale_during_step": {"zh-CN": "实例 {id} 在本步骤执行期间被他人修改，请重试",
                          "en": "instance {id} was changed by someone else during this step; try again"},
    "not_allowed": {"zh-CN": "{flow} #{id} 处于状态“{state}”，不允许事件“{event}”；允许的事件：{allowed}",
                    "en": "event '{event}' is not allowed for {flow} #{id} in state '{state}'; allowed: {allowed}"},
    "ended": {"zh-CN": "无（实例已结束）", "en": "none (the instance has ended)"},
    "guard_false": {"zh-CN": "{flow} #{id} 在状态“{state}”拒绝事件“{event}”：条件 {guards} 不成立",
                    "en": "event '{event}' refused for {flow} #{id} in state '{state}': guard {guards} is false"},
    # who is asking (engine/auth/principal.py, the CLI's --as)
    "unknown_employee": {"zh-CN": "没有工号为「{emp}」的员工：--as 必须是主数据中的员工",
                         "en": "no employee '{emp}' in the master data: --as must name an employee"},
    "needs_as": {"zh-CN": "{what} 需要以员工身份执行：请加 --as 工号（操作员 {operator} 代该员工执行，审计中两者都会记录）",
                 "en": "{what} must be done as an employee: add --as EMP (operator {operator} acts for them; "
                       "the audit records both)"},
    "internal_event": {"zh-CN": "事件“{event}”是流程 {flow} 的内部事件，只能由引擎（定时器、启动任务）发送；实例 #{id} 未改变",
                       "en": "event '{event}' is internal to flow {flow}: only the engine (timers, launches) may "
                             "send it; instance #{id} was not changed"},
    "bad_json": {"zh-CN": "{option} 不是有效的 JSON：第 {col} 列，{msg}", "en": "{option} is not valid JSON: {msg} at column {col}"},
    "json_object": {"zh-CN": "{option} 必须是 JSON 对象，例如 '{{\"key\": \"value\"}}'",
                    "en": "{option} must be a JSON object, like '{{\"key\": \"value\"}}'"},
}


def locale() -> str:
    return "en" if os.environ.get("MCR_LOCALE", "zh-CN").lower().startswith("en") else "zh-CN"


def t(key: str, **kwargs: object) -> str:
    entry = CATALOG[key]
    return entry.get(locale(), entry["zh-CN"]).format(**kwargs)
