"""User-facing words of ITR (refusals, CLI output, report labels): Simplified Chinese by default,
English with MCR_LOCALE=en — the pattern of engine/i18n.py, with ITR's own catalog.

Refusal messages are written for the person who made the mistake: what is wrong, on which
issue, and what would be accepted instead.
"""

from __future__ import annotations

from typing import Optional

from engine.i18n import locale as current_locale

CATALOG: dict[str, dict[str, str]] = {
    # --- intake
    "bad_choice": {"zh-CN": "{field} 的值“{value}”无效；允许的值：{allowed}",
                   "en": "{field} '{value}' is not valid; allowed: {allowed}"},
    "unknown_fields": {"zh-CN": "未知字段：{fields}；可用字段：{known}",
                       "en": "unknown field(s): {fields}; known: {known}"},
    "missing_field": {"zh-CN": "缺少必填字段 {field}", "en": "required field {field} is missing"},
    "unknown_customer": {"zh-CN": "客户“{code}”不存在，问题未登记", "en": "unknown customer '{code}': the issue was not recorded"},
    "unknown_contact": {"zh-CN": "联系人“{code}”不存在", "en": "unknown contact '{code}'"},
    "contact_not_of_customer": {"zh-CN": "联系人 {contact} 不属于客户 {customer}",
                                "en": "contact {contact} does not belong to customer {customer}"},
    "unknown_employee": {"zh-CN": "员工“{emp}”不存在", "en": "unknown employee '{emp}'"},
    "unknown_office": {"zh-CN": "代表处“{code}”不存在", "en": "'{code}' is not an office (代表处)"},
    "unknown_calendar": {"zh-CN": "代表处 {office} 的日历“{calendar}”未配置；已配置：{known}",
                         "en": "calendar '{calendar}' of office {office} is not configured; known: {known}"},
    "care_rep_required": {"zh-CN": "重大事故必须指定客户关怀代表（care_rep）",
                          "en": "a major incident needs a named customer-care representative (care_rep)"},
    "not_care_rep": {"zh-CN": "员工 {emp} 不是客户关怀代表", "en": "employee {emp} is not a customer-care representative"},
    "negative_reason": {"zh-CN": "重大问题或投诉，此前 {weeks} 周内无该客户的问题记录（关键事件负向扣分）",
                        "en": "major issue or complaint with no issue of this customer recorded in the previous {weeks} weeks"},
    # --- dispatch / handling
    "not_queue_handler": {"zh-CN": "问题 #{id}：{emp} 不是 {unit} 的 {queue} 队列处理人",
                          "en": "issue #{id}: {emp} is not a handler of queue {queue} in {unit}"},
    "no_queue_handler": {"zh-CN": "问题 #{id}：{unit} 没有 {queue} 队列的处理人（角色 {role}）",
                         "en": "issue #{id}: {unit} has no handler for queue {queue} (role {role})"},
    "redispatch_reason": {"zh-CN": "问题 #{id}：重新分派必须说明原因", "en": "issue #{id}: a re-dispatch needs a reason"},
    "redispatch_same": {"zh-CN": "问题 #{id}：已在 {queue} 队列；重新分派请指定其他队列或处理人",
                        "en": "issue #{id}: already in queue {queue}; name another queue or handler"},
    "not_handler": {"zh-CN": "问题 #{id}：只有当前处理人 {handler} 可以执行此操作（当前用户 {actor}）",
                    "en": "issue #{id}: only its handler {handler} may do this (you are {actor})"},
    "not_handler_escalate": {"zh-CN": "问题 #{id}：只有当前处理人 {handler} 或本单位主管可以升级（当前用户 {actor}）",
                             "en": "issue #{id}: only its handler {handler} or a head of the unit may escalate (you are {actor})"},
    "reject_reason": {"zh-CN": "问题 #{id}：判为无效问题必须说明原因", "en": "issue #{id}: rejecting needs a reason"},
    "note_text": {"zh-CN": "问题 #{id}：进展说明不能为空", "en": "issue #{id}: a note needs text"},
    "solution_required": {"zh-CN": "问题 #{id}：请填写与客户确认并已实施的解决方案",
                          "en": "issue #{id}: describe the solution agreed with the customer and carried out"},
    # --- escalation
    "reason_missing": {"zh-CN": "问题 #{id}：升级必须给出原因，允许的原因：{allowed}",
                       "en": "issue #{id}: an escalation needs a reason; allowed: {allowed}"},
    "reason_unknown": {"zh-CN": "问题 #{id}：升级原因“{reason}”不被允许；允许的原因：{allowed}",
                       "en": "issue #{id}: '{reason}' is not an allowed escalation reason; allowed: {allowed}"},
    "escalate_top": {"zh-CN": "问题 #{id} 已在公司层面处理，无法再升级", "en": "issue #{id} is already at HQ; it cannot be escalated further"},
    "no_upper_unit": {"zh-CN": "问题 #{id}：代表处 {office} 之上没有{level}", "en": "issue #{id}: office {office} has no {level} above it"},
    "no_upper_handler": {"zh-CN": "问题 #{id}：{level} {unit} 没有问题接收人（角色 {role}）",
                         "en": "issue #{id}: {level} {unit} has no issue handler (role {role})"},
    "override_incomplete": {"zh-CN": "问题 #{id}：特批升级必须同时写明批准人（override_by）和理由（override_why）",
                            "en": "issue #{id}: an override needs both who (override_by) and why (override_why)"},
    "override_not_allowed": {"zh-CN": "问题 #{id}：{by} 不能批准超出配额的升级——批准人必须是：{allowed}",
                             "en": "issue #{id}: {by} may not approve an escalation beyond the quota; the approver "
                                   "must be: {allowed}"},
    "override_self": {"zh-CN": "问题 #{id}：升级人或处理人 {by} 不能特批自己的升级（利益不相关原则）",
                      "en": "issue #{id}: {by} escalates or handles this issue and may not approve its own override "
                            "(the independence principle)"},
    "override_unit_supervisor": {"zh-CN": "{unit} 的主管", "en": "a supervisor of {unit}"},
    "quota_exceeded": {"zh-CN": "问题 #{id}：升级被拒绝——{level} {unit} 的升级比例将达到 {rate}，超出问题自行解决率要求（统计周期 {window}）；"
                                "如确需升级，请写明特批人和理由（将提交流程QA审查）",
                       "en": "issue #{id}: escalation refused — {level} {unit} would escalate {rate}, above its "
                             "self-resolution quota (window: {window}); an override naming who and why is needed "
                             "(it is flagged for QA)"},
    "rate_text": {"zh-CN": "{n}/{base} = {pct}（上限 {limit}）", "en": "{n}/{base} = {pct} (limit {limit})"},
    "window_month": {"zh-CN": "本月", "en": "this month"},
    "window_quarter": {"zh-CN": "本季度", "en": "this quarter"},
    "window_half_year": {"zh-CN": "本半年", "en": "this half-year"},
    "window_year": {"zh-CN": "本年度", "en": "this year"},
    "auto_override_why": {"zh-CN": "客户时限超期自动升级（SLA 定时器）", "en": "automatic escalation on SLA breach (time limit exceeded)"},
    "qa_override_reason": {"zh-CN": "超出自行解决率配额的升级（{rate}），特批人 {by}：{why}",
                           "en": "escalation beyond the self-resolution quota ({rate}), overridden by {by}: {why}"},
    "level_office": {"zh-CN": "代表处", "en": "office"},
    "level_region": {"zh-CN": "地区部", "en": "region"},
    "level_hq": {"zh-CN": "公司", "en": "HQ"},
    "reason_time_limit_exceeded": {"zh-CN": "客户时限严重超期", "en": "the customer's time limit is badly exceeded"},
    "reason_no_owner": {"zh-CN": "无法确定责任人", "en": "no owner can be determined"},
    "reason_bid_or_social_impact": {"zh-CN": "影响投标或造成严重社会/政治影响",
                                    "en": "it will affect a bid or cause serious social/political impact"},
    "reason_arbitration_needed": {"zh-CN": "部门间意见不一致需要仲裁", "en": "departments cannot agree and need arbitration"},
    "note_escalated": {"zh-CN": "已升级到{level}：{reason}", "en": "escalated to {level}: {reason}"},
    "note_sla_breach": {"zh-CN": "超出时限（{sla}）", "en": "time limit exceeded ({sla})"},
    # --- close, callback, QA
    "not_submitter": {"zh-CN": "问题 #{id}：只有问题提交人 {submitter} 可以关闭（当前用户 {actor}），问题未关闭",
                      "en": "issue #{id}: only its submitter {submitter} may close it (you are {actor}); nothing changed"},
    "score_out_of_range": {"zh-CN": "问题 #{id}：回访评分必须是 1 到 5 的整数，收到“{score}”",
                           "en": "issue #{id}: a callback score must be a whole number from 1 to 5, got '{score}'"},
    "score_unreached": {"zh-CN": "问题 #{id}：未联系上客户时不能给出评分", "en": "issue #{id}: an unreached callback has no score"},
    "callback_too_soon": {"zh-CN": "问题 #{id}：联系人 {contact} 已于 {last} 回访，{days} 天内不得再次回访（最早 {next}）",
                          "en": "issue #{id}: contact {contact} was called back at {last}; not again within {days} days "
                                "(earliest {next})"},
    "callback_by_handler": {"zh-CN": "问题 #{id}：{actor} 处理过该问题，不能记录它的回访评分（利益不相关原则）",
                            "en": "issue #{id}: {actor} handled this issue and may not record its callback score "
                                  "(the independence principle)"},
    "not_visible_issue": {"zh-CN": "{actor} 无权查看问题 #{id}：只有提交人、处理人、所在单位的问题接收人及其上级主管、流程QA和销售管理部可以查看",
                          "en": "{actor} may not see issue #{id}: only its submitter, handlers, the issue handlers of "
                                "its units and the supervisors above them, process QA and sales management may"},
    "note_unreached": {"zh-CN": "回访未联系上客户", "en": "callback: customer not reached"},
    "qa_low_score_reason": {"zh-CN": "回访评分 {score} 低于 {min}，进入问题回溯与问责",
                            "en": "callback score {score} below {min}: retrospective (回溯) and accountability review"},
    "not_qa": {"zh-CN": "问题 #{id}：只有流程QA可以做出决定（当前用户 {actor}）", "en": "issue #{id}: only process QA may decide (you are {actor})"},
    "no_open_qa_case": {"zh-CN": "问题 #{id}：没有待决的QA回溯（{case}）", "en": "issue #{id}: no open QA retrospective ({case})"},
    "note_reopened": {"zh-CN": "流程QA 退回重新处理（QA #{case}）", "en": "reopened by process QA (QA case #{case})"},
    "cb_urgent": {"zh-CN": "紧急问题 100% 回访", "en": "urgent issue: always called back"},
    "cb_urgent_after_gap": {"zh-CN": "紧急问题必须回访；该联系人近期已回访，需待间隔期满",
                            "en": "urgent issue: called back once the contact's gap between callbacks has passed"},
    "cb_reopened": {"zh-CN": "低分回溯后重新处理的问题必须再次回访", "en": "reopened after a low score: called back again"},
    "cb_reopened_after_gap": {"zh-CN": "低分回溯后重新处理的问题必须再次回访；需待该联系人的回访间隔期满",
                              "en": "reopened after a low score: called back once the contact's gap has passed"},
    "cb_contact_called_recently": {"zh-CN": "同一联系人近期已回访，本问题不回访（名额顺延给下一个问题）",
                                   "en": "contact called back recently: not this issue (the slot passes on)"},
    "cb_carried_over": {"zh-CN": "顺延的抽样名额", "en": "sample slot carried over from an earlier issue"},
    "cb_coverage_below_minimum": {"zh-CN": "回访覆盖率低于最低要求", "en": "callback coverage below the minimum"},
    "cb_sampled": {"zh-CN": "随机抽中回访", "en": "drawn in the callback sample"},
    "cb_not_sampled": {"zh-CN": "未抽中，无需回访", "en": "not drawn: no callback needed"},
    # --- service / CLI
    "unknown_issue": {"zh-CN": "问题 #{id} 不存在", "en": "no issue #{id}"},
    "state_refused": {"zh-CN": "问题 #{id} 当前状态为“{state}”，不能执行“{event}”；可执行：{allowed}",
                      "en": "issue #{id} is '{state}': '{event}' is not possible; possible: {allowed}"},
    "state_ended": {"zh-CN": "问题 #{id} 已{state}，不能再执行“{event}”，未做任何更改",
                    "en": "issue #{id} is {state}: '{event}' is refused, nothing changed"},
    "unknown_qa_case": {"zh-CN": "QA 案例 #{case} 不存在", "en": "no QA case #{case}"},
    "qa_case_decided": {"zh-CN": "QA 案例 #{case} 已经决定过", "en": "QA case #{case} is already decided"},
    "bad_qa_decision": {"zh-CN": "QA 决定“{decision}”无效；允许：{allowed}",
                        "en": "QA decision '{decision}' is not valid; allowed: {allowed}"},
    "bad_week": {"zh-CN": "周“{week}”无效，格式如 2026-W48", "en": "'{week}' is not an ISO week; write it like 2026-W48"},
    "bad_month": {"zh-CN": "月份“{month}”无效，格式如 2026-11", "en": "'{month}' is not a month; write it like 2026-11"},
    "report_period": {"zh-CN": "请指定 --week 或 --month 之一", "en": "give exactly one of --week or --month"},
    "report_unit": {"zh-CN": "“{code}”不是{kind}", "en": "'{code}' is not a unit of kind {kind}"},
    "opened": {"zh-CN": "已登记问题 #{id}（{state}），时限 {sla}，截止 {due}",
               "en": "issue #{id} recorded ({state}), time limit {sla}, due {due}"},
    "issue_line": {"zh-CN": "#{id}\t{state}\t{level}\t{severity}\t{customer}\t{handler}\t{title}",
                   "en": "#{id}\t{state}\t{level}\t{severity}\t{customer}\t{handler}\t{title}"},
    "escalation_done": {"zh-CN": "问题 #{id} 已升级到{level}（{decision}），处理人 {handler}",
                        "en": "issue #{id} escalated to {level} ({decision}), handler {handler}"},
    "state_now": {"zh-CN": "问题 #{id}：{state}", "en": "issue #{id}: {state}"},
    "qa_decided": {"zh-CN": "QA 案例 #{case} 已决定：{decision}", "en": "QA case #{case} decided: {decision}"},
    "cases_loaded": {"zh-CN": "已载入 {n} 条案例/指导书", "en": "loaded {n} case-library entries"},
    "case_saved": {"zh-CN": "案例 {code} 已保存", "en": "case {code} saved"},
    "weekly_line": {"zh-CN": "{week}\t{team}\t{customer}\t有效问题 {count}/{required}",
                    "en": "{week}\t{team}\t{customer}\tvalid issues {count}/{required}"},
    "bad_case_file": {"zh-CN": "{file}: 案例库文件应为列表（每条含 code、kind、title、body）",
                      "en": "{file}: a case-library file is a list of entries with code, kind, title, body"},
}

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "type": {"technical": ("技术问题", "technical"), "non_technical": ("非技术问题", "non-technical"),
             "spare_parts": ("备件问题", "spare parts"), "complaint": ("投诉", "complaint")},
    "severity": {"urgent": ("紧急", "urgent"), "major": ("严重", "major"), "normal": ("一般", "normal"),
                 "minor": ("提示", "minor")},
    "source": {"hotline": ("服务热线", "service hotline"), "service_request": ("客户服务请求", "service request"),
               "sales_report": ("销售报告", "sales report"), "return": ("退货/返修", "return"),
               "online": ("在线反馈", "online feedback"), "interview": ("客户访谈", "customer interview"),
               "handling_team": ("问题处理团队反馈", "problem-handling team"), "survey": ("满意度调查", "survey"),
               "partner": ("合作伙伴访谈", "partner interview"), "observation": ("直接观察", "direct observation"),
               "market_report": ("市场报告", "market report")},
}


def labels(data: dict, locale: str) -> dict[str, str]:
    """Type, severity and source of an issue in the reader's words (for mail)."""
    i = 1 if locale == "en" else 0
    return {k: LABELS[k].get(str(data.get(k)), (str(data.get(k)),) * 2)[i] for k in LABELS}


def type_names(types: list[str], locale: str) -> list[str]:
    return [labels({"type": ty}, locale)["type"] for ty in types]


STATE_WORDS = {"closed": {"zh-CN": "关闭", "en": "closed"}, "rejected": {"zh-CN": "判为无效", "en": "rejected"}}


def t(key: str, *, locale: Optional[str] = None, **kwargs: object) -> str:
    entry = CATALOG[key]
    loc = locale if locale in ("zh-CN", "en") else current_locale()
    return entry.get(loc, entry["zh-CN"]).format(**kwargs)


def reason_title(reason: str, locale: Optional[str] = None) -> str:
    key = f"reason_{reason}"
    return t(key, locale=locale) if key in CATALOG else reason
