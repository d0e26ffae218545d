"""What planning and care say to users — CLI output, refusals, workbook problems — in Simplified
Chinese by default and English with MCR_LOCALE=en (`engine.i18n.locale`). Keys are stable;
tests compare keys' output in both languages, never a hard-coded sentence in one.
"""

from __future__ import annotations

from engine.i18n import locale

CATALOG: dict[str, tuple[str, str]] = {
    # --- workbook
    "kit_rejected": ("工作簿被拒绝：{file} 有 {n} 个问题，未记录任何数据",
                     "workbook rejected: {file} has {n} problem(s); nothing was recorded"),
    "cell": ("工作表「{sheet}」第 {row} 行，列「{col}」（{ref}）：{reason}",
             "sheet '{sheet}' row {row}, column '{col}' ({ref}): {reason}"),
    "sheet_row": ("工作表「{sheet}」第 {row} 行：{reason}", "sheet '{sheet}' row {row}: {reason}"),
    "sheet_level": ("工作表「{sheet}」：{reason}", "sheet '{sheet}': {reason}"),
    "not_xlsx": ("不是有效的 XLSX 工作簿：{reason}", "not a valid XLSX workbook: {reason}"),
    "no_file": ("文件不存在或无法读取：{file}", "file does not exist or cannot be read: {file}"),
    "missing_sheet": ("缺少工作表「{sheet}」（工作簿中的工作表：{found}）；请不要重命名三件套的工作表",
                      "missing sheet '{sheet}' (the workbook has: {found}); do not rename the kit's sheets"),
    "missing_column": ("缺少列「{col}」", "missing column '{col}'"),
    "wrong_kit": ("这是 {team} {year} 年的三件套，不是 {want_team} {want_year} 年的",
                  "this is the kit of {team} for {year}, not of {want_team} for {want_year}"),
    "required": ("必填，不能为空", "required, must not be empty"),
    "bad_score": ("分数「{value}」不在评估等级内（{scale}）", "score '{value}' is not on the assessment scale ({scale})"),
    "evidence_required": ("有分数就必须填写关键事件作为依据", "a score needs its key event as evidence"),
    "not_date": ("「{value}」不是日期（请写成 YYYY-MM-DD）", "'{value}' is not a date (write YYYY-MM-DD)"),
    "not_int": ("「{value}」不是整数", "'{value}' is not a whole number"),
    "not_money": ("「{value}」不是金额（元）", "'{value}' is not an amount of money"),
    "negative": ("「{value}」不能为负数", "'{value}' must not be negative"),
    "unknown_customer": ("客户「{value}」不是本系统部三件套的客户（{known}）",
                         "customer '{value}' is not one of this team's kit customers ({known})"),
    "unknown_contact": ("联系人「{value}」不存在", "contact '{value}' does not exist"),
    "contact_other_customer": ("联系人「{value}」属于客户 {actual}，不是 {customer}",
                               "contact '{value}' belongs to customer {actual}, not {customer}"),
    "unknown_employee": ("工号「{value}」不是本组织的员工", "'{value}' is not an employee of the organisation"),
    "unknown_project": ("项目「{value}」不存在", "project '{value}' does not exist"),
    "project_other_customer": ("项目「{value}」属于客户 {actual}，不是本行的客户 {customer}",
                               "project '{value}' belongs to customer {actual}, not to this row's customer {customer}"),
    "project_closed": ("项目「{value}」已关闭，不能再支持", "project '{value}' is closed and cannot be supported"),
    "project_no_decision": ("项目「{value}」没有决策日期，无法检查活动是否在决策之前；请先在主数据中补充",
                            "project '{value}' has no decision date, so the activity cannot be checked against it; "
                            "add it to the master data first"),
    "after_decision": ("活动日期 {date} 不在项目 {project} 的决策日期 {decision} 之前",
                       "activity date {date} is not before the decision date {decision} of project {project}"),
    "bad_activity_type": ("「{value}」不是活动类型之一：{choices}", "'{value}' is not an activity type: {choices}"),
    "competitor_format": ("「{value}」不是「竞争对手:分数」（多个用分号分隔）",
                          "'{value}' is not 'competitor:score' (separate several with ';')"),
    "competitor_not_locked": ("竞争对手「{name}」不是客户 {customer} 锁定的竞争对手（{locked}）",
                              "competitor '{name}' is not locked for customer {customer} ({locked})"),
    "duplicate_contact": ("联系人「{value}」在本表中重复（第 {first} 行已出现）",
                          "contact '{value}' appears twice in this sheet (first at row {first})"),
    "nothing_filled": ("工作簿中没有填写任何内容（评估分数、目标或活动）",
                       "nothing is filled in (scores, objectives or activities)"),
    # --- kit flow
    "kit_no_instance": ("{team} 没有 {year} 年的三件套（该系统部没有{tiers}级客户，或尚未发放）",
                        "{team} has no kit for {year} (it owns no {tiers} customer, or the kit was not issued yet)"),
    "kit_in_review": ("{team} {year} 年的三件套正在主管审核中，不能再提交；请等待审核结果或请主管退回",
                      "the {year} kit of {team} is under supervisor review and cannot take a submission; "
                      "wait for the review or ask the supervisor to send it back"),
    "kit_done": ("{team} {year} 年的三件套已审批完成；修订目标请在半年度审视中进行（mcr planning revise）",
                 "the {year} kit of {team} is approved; revise objectives at the half-year review (mcr planning revise)"),
    "kit_preparing": ("{team} {year} 年的三件套尚未发放完成；请再运行一次 mcr planning launch --year {year}",
                      "the {year} kit of {team} is not fully issued yet; run mcr planning launch --year {year} again"),
    "kit_missing_section": ("当前步骤需要「{sheet}」，但该表没有填写内容",
                            "the current step needs '{sheet}', but that sheet is empty"),
    "kit_submitted": ("已提交 {team} {year} 年三件套（实例 #{id}）：{sections}；当前状态 {state}",
                      "submitted the {year} kit of {team} (instance #{id}): {sections}; state now {state}"),
    "send_back_step": ("退回步骤「{value}」无效：请用 assessment（现状评估）、objectives（目标任务书）或 plan（公关计划）",
                       "send-back step '{value}' is not valid: use assessment, objectives or plan"),
    "comment_required": ("退回时必须填写意见", "a send-back needs a comment"),
    "not_handover_manager": ("{actor} 不能发起交接：更换负责人需要销售管理部角色或是负责人 {owner} 的上级主管",
                             "{actor} may not start a handover: changing an owner needs the sales_management role or "
                             "to supervise the owner {owner}"),
    "not_team": ("{actor} 不是 {team} 的成员或其上级主管，不能提交或修订该团队的三件套",
                 "{actor} is neither a member of {team} nor a supervisor above them: they may not submit or revise "
                 "its planning kit"),
    "not_visit_logger": ("{actor} 不能为联系人 {contact} 登记拜访：只有负责人、B角、配对的赞助人及其上级主管可以",
                         "{actor} may not log a visit to contact {contact}: only its owner, backup owner, a paired "
                         "sponsor and the supervisors above them may"),
    "not_reviewer": ("{actor} 不是 {team} 的主管，不能审核该三件套（主管：{reviewer}）",
                     "{actor} is not the supervisor of {team} and cannot review its kit (supervisor: {reviewer})"),
    "reviewed": ("实例 #{id}：{src} → {dst}", "instance #{id}: {src} -> {dst}"),
    # --- launch
    "launch_summary": ("{year} 年三件套发放：{issued} 个新发放，{already} 个已存在，{failed} 个失败（共 {teams} 个系统部）",
                       "{year} planning kits: {issued} issued, {already} already there, {failed} failed ({teams} team(s))"),
    "launch_progress": ("[{i}/{n}] {team}：{outcome}", "[{i}/{n}] {team}: {outcome}"),
    "outcome_issued": ("已发放（实例 #{id}）", "issued (instance #{id})"),
    "outcome_already": ("已有三件套（实例 #{id}），未重复发放", "already has a kit (instance #{id}); not issued again"),
    "outcome_failed": ("失败：{error}", "failed: {error}"),
    # --- revision
    "revision_limit": ("{team} {year} 年{half}已修订过 {n} 次（最近一次 {at}，由 {actor}），每半年只允许修订 {max} 次",
                       "{team} already revised its {year} objectives {n} time(s) in {half} (last on {at} by {actor}); "
                       "only {max} revision(s) per half year are allowed"),
    "revision_needs_reason": ("修订必须说明原因", "a revision needs a reason"),
    "revision_no_review": ("{team} 没有进行中的 {year} 年半年度审视；目标修订只能在半年度审视中进行（集中修订）",
                           "{team} has no open {year} half-year review; objectives are revised only at the half-year "
                           "review"),
    "revised": ("已记录 {team} {year} 年{half}的目标修订（第 {seq} 次）：预算 {before} → {after} 元",
                "recorded the {half} {year} revision of {team} (no. {seq}): budget {before} -> {after}"),
    "H1": ("上半年", "H1"),
    "H2": ("下半年", "H2"),
    "not_allowed_actor": ("{actor} 不能执行此操作（允许：{allowed}，或销售管理部）",
                          "{actor} may not do this (allowed: {allowed}, or sales management)"),
    "progress_range": ("进度「{value}」无效：请填写 0 到 100 之间的整数", "progress '{value}' is not valid: give a whole number 0-100"),
    "score_range": ("年度评分「{value}」无效：请填写 0 到 100 之间的整数", "score '{value}' is not valid: give a whole number 0-100"),
    "pbc_required": ("拓展卡片需要填写下一个半年的个人承诺（PBC）", "the card needs the next 6-month personal commitment (PBC)"),
    # --- status / budget
    "status_header": ("{year} 年三件套完成情况", "{year} planning kit completion"),
    "budget_header": ("{year} 年公关计划预算汇总（元）", "{year} action-plan budget roll-up"),
    "total": ("合计", "total"),
    # --- care
    "visit_logged": ("已记录 {emp} 对 {contact} 的{kind}（{date}）；下次应在 {due} 之前",
                     "logged {kind} of {contact} by {emp} on {date}; next one due by {due}"),
    "visit_future": ("拜访日期 {date} 在今天（{today}）之后", "visit date {date} lies after today ({today})"),
    "not_sponsor": ("{emp} 不是 {contact} 的赞助人", "{emp} is not a sponsor of {contact}"),
    "kind_visit": ("拜访", "visit"),
    "kind_sponsor_meeting": ("赞助人会面", "sponsor meeting"),
    "bad_visit_kind": ("「{value}」不是拜访类型（visit 或 sponsor_meeting）", "'{value}' is not a visit kind (visit or sponsor_meeting)"),
    "scan_summary": ("{day} 客户关怀扫描：{people} 人的摘要，{items} 条新提醒，{mails} 封邮件",
                     "care scan {day}: digests for {people} people, {items} new reminder(s), {mails} mail(s)"),
    # --- handover
    "outside_org": ("「{value}」不是本组织的员工，不能把客户关系交接给组织外的人",
                    "'{value}' is not an employee of the organisation; a relationship cannot be handed to someone outside it"),
    "no_new_owner": ("找不到接手 {contact} 的人：覆盖规则（{rules}）都没有给出其他在职员工；请用 --to 指定",
                     "no one to take over {contact}: the coverage rules ({rules}) name no other employee; "
                     "name one with --to"),
    "same_owner": ("{contact} 仍由 {owner} 负责，无需交接", "{contact} stays with {owner}; no handover needed"),
    "handover_started": ("已启动交接 #{id}：{contact} 从 {src} 交给 {dst}", "handover #{id} started: {contact} from {src} to {dst}"),
    "handover_exists": ("交接 #{id} 已存在（{state}）", "handover #{id} exists already ({state})"),
    "not_introducer": ("{actor} 不是前任负责人 {src}，也不是其主管，不能登记引荐",
                       "{actor} is neither the previous owner {src} nor their supervisor, and cannot log the introduction"),
    "introduced": ("交接 #{id}：已登记引荐，交接完成", "handover #{id}: introduction logged, handover complete"),
    "no_contacts": ("{emp} 没有负责的关键客户，无需交接", "{emp} owns no key contact; nothing to hand over"),
    "unknown_reason": ("交接原因「{value}」无效：{choices}", "handover reason '{value}' is not valid: {choices}"),
    "unknown_contact_cli": ("联系人「{value}」不存在", "contact '{value}' does not exist"),
    "unknown_customer_cli": ("客户「{value}」不存在", "customer '{value}' does not exist"),
    # --- strategy
    "win_rate_recorded": ("已记录 {customer} {period} 赢率 {rate}%", "recorded {customer} win rate {rate}% for {period}"),
    "win_rate_alert": ("赢率告警 #{id}：{customer} {prev}% → {rate}%（下降 {drop} 个百分点）",
                       "win-rate alert #{id}: {customer} {prev}% -> {rate}% (down {drop} points)"),
    "bad_rate": ("赢率必须在 0 到 100 之间", "the win rate must lie between 0 and 100"),
    "bad_period": ("期间「{value}」无效：请写成 2027-Q1、2027-H1、2027-03 或 2027", "period '{value}' is not valid: "
                   "write 2027-Q1, 2027-H1, 2027-03 or 2027"),
    "bad_tier": ("客户级别「{value}」不是 S/A/B/C", "tier '{value}' is not S/A/B/C"),
    "not_employee_actor": ("「{value}」不是本组织的员工", "'{value}' is not an employee of the organisation"),
    "no_instance": ("没有这样的流程实例：{what}", "no such flow instance: {what}"),
}


def msg(key: str, **kwargs: object) -> str:
    zh, en = CATALOG[key]
    return (en if locale() == "en" else zh).format(**kwargs)
