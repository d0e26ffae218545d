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
    "bad_json": {"zh-CN": "{option} 不是有效的 JSON：第 {col} 列，{msg}", "en": "{option} is not valid JSON: {msg} at column {col}"},
    "json_object": {"zh-CN": "{option} 必须是 JSON 对象，例如 '{{\"key\": \"value\"}}'",
                    "en": "{option} must be a JSON object, like '{{\"key\": \"value\"}}'"},
}


# Accounts, sign-in and the web app (engine/auth, engine/web).
CATALOG.update({
    "auth.bad_credentials": {"zh-CN": "工号或密码不正确", "en": "wrong employee number or password"},
    "auth.locked": {"zh-CN": "登录失败次数过多，已暂时锁定：请 {minutes} 分钟后再试",
                    "en": "too many failed sign-ins: locked, try again in {minutes} minute(s)"},
    "auth.disabled": {"zh-CN": "账号 {emp} 已停用，请联系管理员", "en": "account {emp} is disabled; ask an administrator"},
    "auth.session_expired": {"zh-CN": "登录已过期，请重新登录", "en": "your session has expired; please sign in again"},
    "auth.unauthenticated": {"zh-CN": "请先登录", "en": "please sign in first"},
    "auth.bad_token": {"zh-CN": "访问令牌无效或已吊销", "en": "the API token is not valid or was revoked"},
    "auth.csrf": {"zh-CN": "表单已失效（缺少或错误的安全令牌），未做任何更改；请刷新页面后重试",
                  "en": "the form is no longer valid (missing or wrong security token); nothing was changed; "
                        "reload the page and try again"},
    "auth.no_account": {"zh-CN": "员工 {emp} 没有账号", "en": "employee {emp} has no account"},
    "auth.account_exists": {"zh-CN": "员工 {emp} 已有账号", "en": "employee {emp} already has an account"},
    "auth.unknown_employee": {"zh-CN": "主数据中没有工号为 {emp} 的员工", "en": "no employee {emp} in the master data"},
    "auth.weak_password": {"zh-CN": "密码至少需要 {n} 个字符", "en": "the password needs at least {n} characters"},
    "auth.password_mismatch": {"zh-CN": "两次输入的新密码不一致", "en": "the two new passwords differ"},
    "auth.bad_locale": {"zh-CN": "不支持的语言 {value}：可选 zh-CN 或 en", "en": "unsupported language {value}: use zh-CN or en"},
    "auth.too_large": {"zh-CN": "请求过大（上限 {limit} 字节）", "en": "request too large (limit {limit} bytes)"},
    "auth.user_added": {"zh-CN": "已为 {emp}（{name}）创建账号", "en": "account created for {emp} ({name})"},
    "auth.password_set": {"zh-CN": "{emp} 的密码已更新，其已登录的会话均已退出", "en": "password of {emp} changed; their sessions were signed out"},
    "auth.user_disabled": {"zh-CN": "账号 {emp} 已停用，其会话与令牌均已失效", "en": "account {emp} disabled; its sessions and tokens no longer work"},
    "auth.token_issued": {"zh-CN": "{emp} 的访问令牌（只显示这一次，请妥善保存）：", "en": "API token of {emp} (shown only this once; keep it safe):"},
    "auth.tokens_revoked": {"zh-CN": "已吊销 {emp} 的 {n} 个令牌", "en": "revoked {n} token(s) of {emp}"},
    "auth.password_prompt": {"zh-CN": "密码", "en": "Password"},
    "auth.password_stdin_empty": {"zh-CN": "标准输入中没有密码", "en": "no password on standard input"},
    "web.not_found": {"zh-CN": "找不到该页面或记录", "en": "no such page or record"},
    "web.serving": {"zh-CN": "网页：{url}", "en": "web app: {url}"},
})


def locale() -> str:
    return "en" if os.environ.get("MCR_LOCALE", "zh-CN").lower().startswith("en") else "zh-CN"


_process_locale = locale


def t(key: str, locale: str | None = None, **kwargs: object) -> str:
    """The text of `key` in `locale` (a user's preference), else the process's (MCR_LOCALE)."""
    entry = CATALOG[key]
    lang = "en" if (locale or _process_locale()).lower().startswith("en") else "zh-CN"
    return entry.get(lang, entry["zh-CN"]).format(**kwargs)
