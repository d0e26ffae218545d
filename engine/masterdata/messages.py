"""The words master data says to users — import problems, refusals, summaries — in Simplified
Chinese by default and English with MCR_LOCALE=en (the locale rule of `engine.i18n`).

Keys are stable; tests and callers never compare whole sentences in one language only.
"""

from __future__ import annotations

from engine.i18n import locale

CATALOG: dict[str, tuple[str, str]] = {
    # --- file level
    "rejected": ("导入被拒绝：{file} 有 {n} 个问题，未写入任何数据",
                 "import rejected: {file} has {n} problem(s); nothing was written"),
    "file_missing": ("文件不存在或无法读取：{reason}", "file does not exist or cannot be read: {reason}"),
    "file_type": ("不支持的文件类型「{suffix}」：请用 .csv 或 .xlsx", "unsupported file type '{suffix}': use .csv or .xlsx"),
    "undecodable": ("文件既不是 UTF-8 也不是 GBK 编码（第 {offset} 个字节 0x{byte:02X} 无法解码）；请在 Excel 中另存为「CSV UTF-8」",
                    "the file is neither UTF-8 nor GBK text (byte 0x{byte:02X} at offset {offset} cannot be decoded); "
                    "save it from Excel as 'CSV UTF-8'"),
    "bad_csv": ("CSV 格式错误：{reason}", "malformed CSV: {reason}"),
    "bad_xlsx": ("不是有效的 XLSX 工作簿：{reason}", "not a valid XLSX workbook: {reason}"),
    "empty_file": ("文件是空的：没有表头行", "the file is empty: no header row"),
    "conflict": ("数据库拒绝了写入（可能有人同时在修改同一数据），未写入任何数据：{reason}",
                 "the database refused the write (someone may be changing the same data); nothing was written: {reason}"),
    "no_rows": ("文件只有表头，没有数据行", "the file has a header but no data rows"),
    "too_big": ("文件有 {mb:.1f} MB，超过上限 {limit:g} MB（rules/masterdata.yaml 的 limits.max_file_mb）；请拆分后分批导入",
                "the file is {mb:.1f} MB, over the limit of {limit:g} MB (limits.max_file_mb in rules/masterdata.yaml); "
                "split it and import the parts"),
    "too_many_rows": ("文件超过 {limit} 个数据行（rules/masterdata.yaml 的 limits.max_rows）；请拆分后分批导入",
                      "the file has more than {limit} data rows (limits.max_rows in rules/masterdata.yaml); "
                      "split it and import the parts"),
    # --- header
    "missing_columns": ("表头缺少必填列：{cols}", "missing required column(s): {cols}"),
    "unknown_column": ("无法识别的列：{cols}；可用的列：{known}", "unknown column(s): {cols}; known columns: {known}"),
    "duplicate_column": ("列「{col}」与「{other}」是同一列，只能出现一次",
                         "column '{col}' is the same as '{other}'; give it once"),
    "sensitive_off": ("列「{col}」是敏感信息，而 rules/masterdata.yaml 设置了 store_sensitive: false（只存脱敏数据）；请删除该列",
                      "column '{col}' holds sensitive data but rules/masterdata.yaml sets store_sensitive: false "
                      "(only desensitised data is stored); remove the column"),
    # --- cells
    "cell": ("第 {row} 行，列「{col}」：{reason}", "row {row}, column '{col}': {reason}"),
    "row": ("第 {row} 行：{reason}", "row {row}: {reason}"),
    "required": ("必填，不能为空", "required, must not be empty"),
    "too_long": ("有 {n} 个字符，超过上限 {limit}（rules/masterdata.yaml 的 limits.{key}）",
                 "{n} characters, over the limit of {limit} (limits.{key} in rules/masterdata.yaml)"),
    "bad_code": ("编码「{value}」不合规则：只能使用字母、数字及 . _ -，以字母或数字开头（rules/masterdata.yaml 的 code_pattern：{pattern}）",
                 "code '{value}' does not match the rule: letters, digits and . _ - only, starting with a letter "
                 "or digit (code_pattern in rules/masterdata.yaml: {pattern})"),
    "not_date": ("「{value}」不是日期（请写成 YYYY-MM-DD）", "'{value}' is not a date (write YYYY-MM-DD)"),
    "future_date": ("「{value}」在今天之后", "'{value}' lies in the future"),
    "not_int": ("「{value}」不是整数", "'{value}' is not a whole number"),
    "negative": ("「{value}」不能为负数", "'{value}' must not be negative"),
    "not_bool": ("「{value}」不是 是/否", "'{value}' is not yes/no"),
    "not_email": ("「{value}」不是电子邮件地址", "'{value}' is not an e-mail address"),
    "bad_choice": ("「{value}」不是可选值之一：{choices}", "'{value}' is not one of: {choices}"),
    "bad_tier": ("客户级别「{value}」不是 S/A/B/C（也可写 战略/伙伴/优先/一般）",
                 "tier '{value}' is not S/A/B/C (战略/伙伴/优先/一般 are accepted too)"),
    "bad_score": ("分数「{value}」不在评估等级内（{scale}）", "score '{value}' is not on the assessment scale ({scale})"),
    "bad_timezone": ("「{value}」不是已知的时区（例如 Asia/Shanghai）", "'{value}' is not a known time zone (e.g. Asia/Shanghai)"),
    "bad_year": ("「{value}」不是有效年度（{lo}–{hi}）", "'{value}' is not a valid year ({lo}–{hi})"),
    "too_many_competitors": ("锁定了 {n} 个竞争对手（{names}），最多 {max} 个", "{n} competitors locked ({names}); at most {max} allowed"),
    "duplicate_competitor": ("竞争对手「{name}」重复", "competitor '{name}' is given twice"),
    "bad_key_event": ("「{value}」不是关键事件（请写成「MM-DD 事件」或「MM 事件」，用分号分隔）",
                      "'{value}' is not a key event (write 'MM-DD event' or 'MM event', separated by ';')"),
    "bad_competitor_support": ("「{value}」不是「竞争对手:分数」", "'{value}' is not 'competitor:score'"),
    "competitor_not_locked": ("竞争对手「{name}」不是客户 {customer} 锁定的竞争对手（{locked}）",
                              "competitor '{name}' is not locked for customer {customer} ({locked})"),
    "evidence_required": ("有分数就必须有关键事件作为依据（列「{col}」为空）",
                          "a score needs its key event as evidence (column '{col}' is empty)"),
    # --- references and keys
    "duplicate_key": ("{what}「{key}」在文件中重复（第 {first} 行已出现）", "{what} '{key}' appears twice in the file (first at row {first})"),
    "duplicate_email": ("邮箱「{email}」在文件中重复（第 {first} 行已出现）", "e-mail '{email}' appears twice in the file (first at row {first})"),
    "email_taken": ("邮箱「{email}」已属于员工 {owner}", "e-mail '{email}' already belongs to employee {owner}"),
    "unknown_ref": ("{what}「{key}」不存在", "{what} '{key}' does not exist"),
    "wrong_kind": ("{what}「{key}」是{actual}，应为{expected}", "{what} '{key}' is a(n) {actual}, expected a(n) {expected}"),
    "team_not_in_office": ("系统部「{team}」不属于代表处「{office}」（它属于「{actual}」）",
                           "team '{team}' does not belong to office '{office}' (it belongs to '{actual}')"),
    "hq_has_parent": ("公司（hq）不能有上级单位", "the company unit (hq) has no parent"),
    "second_hq": ("只能有一个公司（hq）单位，已有「{existing}」", "there can be only one hq unit; '{existing}' exists"),
    "parent_required": ("必须填写上级单位", "a parent unit is required"),
    "unit_required": ("员工必须填写所属单位", "an employee needs a unit"),
    "email_required_emp": ("员工必须填写邮箱", "an employee needs an e-mail"),
    "employee_only": ("该列只适用于员工，单位行请留空", "this column is for employees only; leave it empty on a unit row"),
    "unit_only": ("该列只适用于单位，员工行请留空", "this column is for units only; leave it empty on an employee row"),
    "self_supervisor": ("员工不能是自己的主管", "an employee cannot be their own supervisor"),
    "supervisor_cycle": ("主管关系成环：{path}", "supervisor cycle: {path}"),
    "unit_cycle": ("上级单位关系成环：{path}", "parent-unit cycle: {path}"),
    "backup_is_owner": ("B角不能与负责人（A角）是同一人", "the backup owner cannot be the owner"),
    "kind_changed": ("单位「{key}」已是{old}，不能改为{new}", "unit '{key}' is already a(n) {old}; it cannot become a(n) {new}"),
    "customer_changed": ("联系人「{key}」属于客户 {old}，不能在导入中改为 {new}（请办理交接）",
                         "contact '{key}' belongs to customer {old}; an import cannot move it to {new} (hand it over instead)"),
    # --- what
    "w_unit": ("单位", "unit"),
    "w_parent": ("上级单位", "parent unit"),
    "w_employee": ("员工", "employee"),
    "w_supervisor": ("主管", "supervisor"),
    "w_office": ("代表处", "office"),
    "w_team": ("系统部", "team"),
    "w_customer": ("客户", "customer"),
    "w_contact": ("联系人", "contact"),
    "w_owner": ("负责人", "owner"),
    "w_backup": ("B角", "backup owner"),
    "w_assessor": ("评估人", "assessor"),
    "w_sponsor": ("赞助人", "sponsor"),
    "w_project": ("项目", "project"),
    "w_assessment": ("评估（联系人+年度）", "assessment (contact + year)"),
    "w_pairing": ("赞助关系（赞助人+联系人）", "sponsor pairing (sponsor + contact)"),
    "w_inviter": ("邀请人", "inviter"),
    # --- unit kinds
    "k_hq": ("公司", "hq"), "k_region": ("地区部", "region"), "k_office": ("代表处", "office"), "k_team": ("系统部", "team"),
    # --- summaries
    "imported": ("导入完成：新增 {inserted}，更新 {updated}，未变 {unchanged}",
                 "import done: {inserted} inserted, {updated} updated, {unchanged} unchanged"),
    "exported": ("导出完成：{n} 行 → {file}", "export done: {n} row(s) -> {file}"),
    "demo_done": ("演示数据已就绪：{units} 个单位，{employees} 名员工，{customers} 个客户，{contacts} 个联系人（新增 {inserted}）",
                  "demo data ready: {units} units, {employees} employees, {customers} customers, {contacts} contacts ({inserted} inserted)"),
    # --- refusals
    "unknown_viewer": ("「{viewer}」不是已知员工，不能查看{what}", "'{viewer}' is not a known employee and may not see {what}"),
    "not_visible_contact": ("{viewer} 无权查看联系人 {key} 的个人明信片：只有负责人、B角及其上级主管可以查看",
                            "{viewer} may not see the personal card of contact {key}: only its owner, backup owner and "
                            "their supervisors may"),
    "not_visible_customer": ("{viewer} 无权查看客户 {key}", "{viewer} may not see customer {key}"),
    "not_visible_aggregates": ("{viewer} 无权查看客户汇总：需要销售管理部角色",
                               "{viewer} may not see customer aggregates: the sales_management role is needed"),
    "not_allowed_tier": ("{viewer} 无权调整客户 {key} 的级别：需要销售管理部角色或是负责人的上级主管",
                         "{viewer} may not change the tier of customer {key}: needs the sales_management role or to "
                         "supervise its owner"),
    "not_allowed_owner": ("{viewer} 无权更换联系人 {key} 的负责人：需要销售管理部角色或是负责人的上级主管",
                          "{viewer} may not change the owner of contact {key}: needs the sales_management role or to "
                          "supervise its owner"),
    "not_allowed_import_owner": ("{viewer} 无权通过导入调整{what} {keys} 的级别或负责人：需要销售管理部角色或是负责人的上级主管；未写入任何数据",
                                 "{viewer} may not change the tier or owner of {what} {keys} through an import: needs "
                                 "the sales_management role or to supervise the owner; nothing was written"),
    "not_allowed_import_org": ("{viewer} 无权导入组织与员工：只有管理员（不带 --as 的操作员）可以导入",
                               "{viewer} may not import the organisation: only the operator (without --as) may"),
    "not_allowed_assessment": ("{viewer} 无权为联系人 {key} 记录评估：只有负责人、B角及其上级主管可以",
                               "{viewer} may not record an assessment of contact {key}: only its owner, backup owner "
                               "and their supervisors may"),
    "not_allowed_sponsor": ("{viewer} 无权为联系人 {key} 配对赞助人：需要销售管理部角色或是负责人的上级主管",
                            "{viewer} may not pair a sponsor with contact {key}: needs the sales_management role or "
                            "to supervise its owner"),
    "not_allowed_accept": ("{viewer} 不能代替 {sponsor} 接受赞助人角色：只有本人可以接受",
                           "{viewer} may not accept the sponsor role for {sponsor}: only they may"),
    "unknown_record": ("{what}「{key}」不存在", "{what} '{key}' does not exist"),
    "same_tier": ("客户 {key} 已经是 {tier} 级", "customer {key} is already tier {tier}"),
    "activity_after_decision": ("活动日期 {date} 不早于项目 {project} 的决策日期 {decision}",
                                "the activity date {date} is not before the decision date {decision} of project {project}"),
    "activity_needs_budget": ("营销活动必须有预算估计", "a marketing activity needs a budget estimate"),
    "activity_needs_project": ("营销活动必须写明支持的项目", "a marketing activity must name the project it supports"),
    "project_other_customer": ("项目 {project} 属于客户 {actual}，不是 {customer}",
                               "project {project} belongs to customer {actual}, not {customer}"),
    "sensitive_not_stored": ("敏感信息已关闭（store_sensitive: false），不能保存{fields}",
                             "sensitive data is switched off (store_sensitive: false); {fields} cannot be stored"),
}


def m(message: str, /, **kwargs: object) -> str:
    zh, en = CATALOG[message]
    return (en if locale() == "en" else zh).format(**kwargs)
