"""The words the survey flows say to users — refusals, file problems, summaries, labels — in
Simplified Chinese by default and English with MCR_LOCALE=en (the locale rule of `engine.i18n`).

Keys are stable; tests compare keys' rendered text in a chosen locale, never hard-code one
language only.
"""

from __future__ import annotations

from engine.i18n import locale as current_locale

CATALOG: dict[str, tuple[str, str]] = {
    # --- files
    "rejected": ("导入被拒绝：{file} 有 {n} 个问题，未写入任何数据",
                 "import rejected: {file} has {n} problem(s); nothing was written"),
    "undecodable": ("文件无法按 UTF-8 或 GBK 解码；请在 Excel 中另存为「CSV UTF-8」",
                    "the file is neither UTF-8 nor GBK text; save it from Excel as 'CSV UTF-8'"),
    "bad_file": ("文件无法读取：{reason}", "the file cannot be read: {reason}"),
    "file_type": ("不支持的文件类型「{suffix}」：请用 {allowed}", "unsupported file type '{suffix}': use {allowed}"),
    "file_missing": ("文件不存在或无法读取：{reason}", "file does not exist or cannot be read: {reason}"),
    "empty_file": ("文件是空的：没有表头行", "the file is empty: no header row"),
    "unknown_column": ("无法识别的列「{col}」；可用的列：{known}", "unknown column '{col}'; known columns: {known}"),
    "duplicate_column": ("列「{col}」出现了两次", "column '{col}' appears twice"),
    "missing_columns": ("表头缺少必填列：{cols}", "missing required column(s): {cols}"),
    "no_rows": ("文件只有表头，没有数据行", "the file has a header but no data rows"),
    "cell": ("第 {row} 行，列「{col}」：{reason}", "row {row}, column '{col}': {reason}"),
    "required": ("必填，不能为空", "required, must not be empty"),
    "wrong_year": ("年度「{value}」与本次调查年度 {year} 不符", "year '{value}' is not the survey year {year}"),
    # --- sample list
    "row_other_customer": ("客户编码「{value}」不是本清单的客户 {customer}",
                           "customer '{value}' is not this list's customer {customer}"),
    "duplicate_contact": ("联系人 {contact} 重复（第 {first} 行已列出）；同一联系人只能出现一次",
                          "contact {contact} is listed twice (first at row {first}); list each contact once"),
    "unknown_contact": ("未知联系人「{contact}」（主数据中没有）", "unknown contact '{contact}' (not in master data)"),
    "contact_other_customer": ("联系人 {contact} 属于客户 {actual}，不属于客户 {customer}",
                               "contact {contact} belongs to customer {actual}, not to {customer}"),
    "bad_level": ("层级「{value}」无效：请填 高层、中层 或 基层", "level '{value}' is not valid: use senior, middle or base"),
    "level_mismatch": ("层级「{value}」与主数据不符（主数据为{master}）；请先更正主数据",
                       "level '{value}' contradicts master data ({master}); correct the master data first"),
    "level_unknown": ("联系人 {contact} 在主数据中没有层级，请在本列填写 高层、中层 或 基层",
                      "contact {contact} has no level in master data; give senior, middle or base in this column"),
    "bad_method": ("调查方式「{value}」无效：请填 面访、电话 或 问卷",
                   "survey method '{value}' is not valid: use face_to_face, phone or questionnaire"),
    "method_not_allowed": ("调查方式「{value}」未被 rules/survey.yaml 允许（允许：{allowed}）",
                           "survey method '{value}' is not allowed by rules/survey.yaml (allowed: {allowed})"),
    "too_small": ("样本数量 {size} 人，少于规定的 {required} 人（年订货额 {volume}）",
                  "the list has {size} contact(s), fewer than the {required} required (yearly orders {volume})"),
    "bad_ratio": ("{level}占比 {share:.1f}%（{n}/{total}），规定为 {ratio:.0f}% ± {tol:.0f}%（{low:.0f}%–{high:.0f}%）",
                  "{level} share is {share:.1f}% ({n}/{total}); the rule is {ratio:.0f}% ± {tol:.0f}% "
                  "({low:.0f}%–{high:.0f}%)"),
    "unknown_customer": ("未知客户「{customer}」（主数据中没有）", "unknown customer '{customer}' (not in master data)"),
    "sample_published": ("客户 {customer} 的 {year} 年调查结果已发布，样本清单不能再修改",
                         "the {year} results of customer {customer} are published; its sample list can no longer change"),
    "sample_checked": ("样本清单检查通过：客户 {customer}，{year} 年，{size} 人（规定至少 {required} 人；高层 {senior}、中层 {middle}、基层 {base}）",
                       "sample list passes the rules: customer {customer}, {year}, {size} contact(s) (at least {required} "
                       "required; senior {senior}, middle {middle}, base {base})"),
    "sample_saved": ("样本清单已接收：客户 {customer}，{year} 年，{size} 人（第 {revision} 版）",
                     "sample list accepted: customer {customer}, {year}, {size} contact(s) (revision {revision})"),
    "nothing_to_export": ("{year} 年没有可导出的样本清单", "no sample list of {year} to export"),
    "exported": ("已导出 {lists} 份样本清单（{n} 人）到 {file}", "exported {lists} sample list(s) ({n} contacts) to {file}"),
    "year_closed": ("{year} 年的满意度调查已结束", "the {year} satisfaction survey is closed"),
    # --- results
    "not_exported": ("客户 {customer} 没有已导出给调查公司的 {year} 年样本清单",
                     "customer {customer} has no {year} sample list exported to the survey firm"),
    "already_published": ("客户 {customer} 的 {year} 年结果已发布过，不能再次导入",
                          "the {year} results of customer {customer} were already published; they cannot be imported again"),
    "contact_not_in_sample": ("联系人 {contact} 不在客户 {customer} 的 {year} 年样本清单中",
                              "contact {contact} is not in the {year} sample list of customer {customer}"),
    "bad_category": ("类别「{value}」无效：请填 产品、服务 或 品牌", "category '{value}' is not valid: use product, service or brand"),
    "bad_phase": ("服务类的项目须为 售前、售中 或 售后，而不是「{value}」",
                  "a service item must be pre_sale, in_sale or after_sale, not '{value}'"),
    "bad_score": ("得分「{value}」无效：须为 1–5 的整数", "score '{value}' is not valid: it must be a whole number from 1 to 5"),
    "results_imported": ("已导入并发布 {rows} 条结果（{customers} 个客户）：{list}",
                         "imported and published {rows} result(s) for {customers} customer(s): {list}"),
    # --- project callbacks
    "unknown_project": ("未知项目「{project}」（主数据中没有）", "unknown project '{project}' (not in master data)"),
    "project_no_customer": ("项目 {project} 的客户 {customer} 不在主数据中", "customer {customer} of project {project} is not in master data"),
    "project_not_drawn": ("项目 {project} 未被抽中回访（{reason}，抽样值 {draw:.4f}，比例 {rate:.0%}）",
                          "project {project} was not drawn for a callback ({reason}, draw {draw:.4f}, rate {rate:.0%})"),
    "project_no_callback": ("项目 {project} 没有回访流程（先执行 mcr survey project-closed {project}）",
                            "project {project} has no callback (run mcr survey project-closed {project} first)"),
    "project_drawn": ("项目 {project}：{reason}（抽样值 {draw:.4f}，比例 {rate:.0%}）→ 回访流程 #{instance}，状态 {state}",
                      "project {project}: {reason} (draw {draw:.4f}, rate {rate:.0%}) -> callback #{instance}, state {state}"),
    "project_skipped": ("项目 {project}：{reason}（抽样值 {draw:.4f}，比例 {rate:.0%}），不回访",
                        "project {project}: {reason} (draw {draw:.4f}, rate {rate:.0%}); no callback"),
    "contact_not_of_customer": ("联系人 {contact} 不属于项目的客户 {customer}",
                                "contact {contact} does not belong to the project's customer {customer}"),
    "no_contact": ("客户 {customer} 在主数据中没有联系人，无法安排回访", "customer {customer} has no contact in master data to call back"),
    "no_owner_email": ("客户 {customer} 的客户经理 {owner} 不在主数据中", "account manager {owner} of customer {customer} is not in master data"),
    "score_missing": ("请为「{item}」打分（1–5）", "give a score (1-5) for '{item}'"),
    "score_invalid": ("「{item}」的得分「{value}」无效：须为 1–5 的整数",
                      "the score '{value}' for '{item}' is not valid: it must be a whole number from 1 to 5"),
    "not_caller": ("{actor} 不能记录或取消此回访（允许：{named} 及其上级、销售管理部、客户服务）",
                   "{actor} may not record or cancel this callback (allowed: {named}, their supervisors, "
                   "sales management, customer care)"),
    "cancel_needs_reason": ("取消回访须说明原因", "cancelling a callback needs a reason"),
    "callback_recorded": ("回访已记录：#{instance}", "callback recorded: #{instance}"),
    "attempt_recorded": ("未接通已记录：#{instance}", "unreached attempt recorded: #{instance}"),
    "improvement_opened": ("低分项 {items}：已在 ITR 中开立改进问题 #{issue}", "low items {items}: improvement issue #{issue} opened in ITR"),
    "improvement_not_opened": ("低分项 {items}：ITR 未安装，改进项已记录在回访中", "low items {items}: ITR is not installed; the low items are recorded with the callback"),
    # --- activity callbacks
    "unknown_activity": ("未知营销活动「{activity}」（主数据中没有）", "unknown marketing activity '{activity}' (not in master data)"),
    "activity_type_off": ("活动 {activity} 的类型「{type}」不需要回访（rules/survey.yaml activity_callback.types：{types}）",
                          "activity {activity} is of type '{type}', which needs no callback "
                          "(rules/survey.yaml activity_callback.types: {types})"),
    "activity_cancelled": ("活动 {activity} 已取消，无需回访", "activity {activity} was cancelled; no callback"),
    "activity_no_invitees": ("活动 {activity} 没有邀请的客户，无需回访", "activity {activity} has no invited contact; nothing to call back"),
    "activity_started": ("活动 {activity} 的回访 #{instance}：{n} 位客户，须在 {due} 前完成",
                         "callbacks of activity {activity} #{instance}: {n} contact(s), due by {due}"),
    "activity_duplicate": ("活动 {activity} 的回访已存在：#{instance}（状态 {state}）",
                           "activity {activity} already has its callbacks: #{instance} (state {state})"),
    "activity_no_callback": ("活动 {activity} 没有回访流程（先执行 mcr survey activity-ended {activity}）",
                             "activity {activity} has no callbacks (run mcr survey activity-ended {activity} first)"),
    "not_invited": ("联系人 {contact} 没有被邀请参加活动 {activity}", "contact {contact} was not invited to activity {activity}"),
    "already_called": ("联系人 {contact} 已于 {at} 回访过", "contact {contact} was already called back at {at}"),
    "need_target": ("请指定 --project、--activity 或回访流程编号", "give --project, --activity or the callback's instance id"),
    "need_contact": ("活动回访须指定 --contact", "an activity callback needs --contact"),
    "unknown_instance": ("没有编号为 #{instance} 的回访流程", "no callback with id #{instance}"),
    # --- report / log
    "no_results": ("{year} 年没有调查结果", "no survey results for {year}"),
    "report_head": ("{year} 年平均 {avg:.2f} 分（{n} 条评分，{customers} 个客户）；最低的评价项：",
                    "{year}: average {avg:.2f} ({n} scores, {customers} customers); lowest items:"),
    "html_written": ("报告已写入 {file}", "report written to {file}"),
    "nothing": ("（无）", "(none)"),
}

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "level": {"senior": ("高层", "senior"), "middle": ("中层", "middle"), "base": ("基层", "base")},
    "method": {"face_to_face": ("面访", "face-to-face"), "phone": ("电话", "phone"),
               "questionnaire": ("问卷", "questionnaire")},
    "phase": {"pre_sale": ("售前", "pre-sale"), "in_sale": ("售中", "in-sale"), "after_sale": ("售后", "after-sale")},
    "category": {"product": ("产品", "product"), "service": ("服务", "service"), "brand": ("品牌", "brand")},
    "item": {"product": ("产品", "product"), "solution": ("解决方案", "solution"), "delivery": ("交付", "delivery"),
             "service_attitude": ("服务态度", "service attitude"), "overall": ("总体满意度", "overall satisfaction")},
    "reason": {"big_project": ("地区部以上项目，全部回访", "region level or above: always called back"),
               "sampled": ("抽中（10% 抽样）", "drawn in the sample"),
               "not_sampled": ("未抽中", "not drawn")},
    "project_level": {"company": ("公司级", "company"), "region": ("地区部级", "region"), "office": ("代表处级", "office")},
    "tier": {"S": ("S 战略客户", "S strategic"), "A": ("A 伙伴客户", "A partner"), "B": ("B 优先/价值客户", "B priority"),
             "C": ("C 一般客户", "C general")},
    "status": {"accepted": ("已接收", "accepted"), "exported": ("已导出", "exported"),
               "published": ("已发布", "published")},
}


def _pick(pair: tuple[str, str], loc: str | None) -> str:
    return pair[1] if (loc or current_locale()) == "en" else pair[0]


def m(key: str, locale: str | None = None, **kwargs: object) -> str:
    """The message `key` in the current (or given) locale, formatted."""
    return _pick(CATALOG[key], locale).format(**kwargs)


def label(kind: str, value: str | None, locale: str | None = None) -> str:
    """The user's word for a code (`label("level", "senior")` → 高层); unknown codes are shown as they are."""
    if value is None:
        return "-"
    pair = LABELS.get(kind, {}).get(value)
    return _pick(pair, locale) if pair else str(value)
