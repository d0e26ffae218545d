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
    # infrastructure faults (engine/db.py): one line, what is wrong and what to do
    "db.missing": {"zh-CN": "没有数据库文件 {path}：请检查 MCR_DATABASE_URL，或先运行 mcr init 创建数据库",
                   "en": "no database file {path}: check MCR_DATABASE_URL, or run `mcr init` to create it"},
    "db.not_a_database": {"zh-CN": "{path} 不是 SQLite 数据库文件（文件已损坏，或是其他类型的文件）",
                          "en": "{path} is not a SQLite database file (it is damaged, or some other kind of file)"},
    "db.read_only": {"zh-CN": "数据库 {where} 是只读的，无法写入：请检查文件及其所在文件夹的写权限",
                     "en": "database {where} is read-only: check write permission on the file and its folder"},
    "db.cannot_open": {"zh-CN": "无法打开数据库文件 {where}：{reason}",
                       "en": "cannot open database file {where}: {reason}"},
    "db.busy": {"zh-CN": "数据库 {where} 一直被其他进程占用（已等待并重试 {attempts} 次），未做任何修改；请稍后再试",
                "en": "database {where} stayed busy (another process kept writing; waited and retried {attempts} "
                      "times); nothing was changed, try again later"},
    "db.unreachable": {"zh-CN": "无法连接数据库 {where}：{reason}",
                       "en": "cannot connect to database {where}: {reason}"},
    "db.not_initialised": {"zh-CN": "数据库 {where} 尚未初始化（没有表 {table}）：请先运行 mcr init",
                           "en": "database {where} is not initialised (no table {table}): run `mcr init` first"},
    "db.schema_too_new": {"zh-CN": "数据库 {where} 的结构版本 {revision} 比本程序新：请使用已升级的 mcr，本版本不会写入它",
                          "en": "database {where} is at schema revision {revision}, newer than this mcr: use the "
                                "upgraded mcr; this one will not write to it"},
    "db.disk_full": {"zh-CN": "数据库 {where} 无法写入磁盘（磁盘已满或出错）：{reason}",
                     "en": "database {where} cannot write to disk (disk full or failing): {reason}"},
    "db.fault": {"zh-CN": "数据库 {where} 出错：{reason}", "en": "database {where} failed: {reason}"},
    "db.in_use": {"zh-CN": "另一个 mcr 服务（进程 {pid}）已在使用 SQLite 文件 {path}；同一文件只能运行一个 mcr serve"
                           "（多个服务请使用 PostgreSQL）",
                  "en": "another mcr server (process {pid}) already runs on the SQLite file {path}; one mcr serve per "
                        "file (use PostgreSQL for several)"},
    # file names (engine/paths.py)
    "paths.blank": {"zh-CN": "名称 {name} 不能用作文件名（为空、首尾有空白，或是 . / ..）",
                    "en": "the name {name} cannot be a file name (empty, blank at either end, or . / ..)"},
    "paths.separator": {"zh-CN": "名称 {name} 含有路径分隔符、控制字符或形似分隔符/句点的字符，不能用作文件名",
                        "en": "the name {name} contains a path separator, a control character or a look-alike of a "
                              "separator or dot; it cannot be a file name"},
    "paths.normalised": {"zh-CN": "名称 {name} 经 Unicode 规范化后会变成路径，不能用作文件名",
                         "en": "the name {name} turns into a path once Unicode-normalised; it cannot be a file name"},
    "paths.windows": {"zh-CN": "名称 {name} 在 Windows 上不是合法的文件名",
                      "en": "the name {name} is not a valid file name on Windows"},
    "paths.outside": {"zh-CN": "{path} 不在文件夹 {root} 之内，拒绝写入",
                      "en": "{path} is not inside the folder {root}; refused"},
    "paths.outside_output": {"zh-CN": "{path} 不在输出文件夹 {root}（MCR_OUTPUT_DIR）之内，拒绝写入",
                             "en": "{path} is not inside the output folder {root} (MCR_OUTPUT_DIR); refused"},
    "paths.nul": {"zh-CN": "文件名 {name} 含有 NUL 字符", "en": "file name {name} contains a NUL character"},
    "paths.folder": {"zh-CN": "{path} 是文件夹，不是文件", "en": "{path} is a folder, not a file"},
}


def locale() -> str:
    return "en" if os.environ.get("MCR_LOCALE", "zh-CN").lower().startswith("en") else "zh-CN"


def t(key: str, **kwargs: object) -> str:
    entry = CATALOG[key]
    return entry.get(locale(), entry["zh-CN"]).format(**kwargs)
