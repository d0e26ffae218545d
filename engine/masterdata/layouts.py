"""The column layouts of the import/export files, one per kind of file, with Chinese and English
headers — the single source the importer, the exporter and docs/master-data.md agree on.

Each column names the model field it fills, the headers it is recognised by (the first Chinese
and the first English header are the ones the exporter writes), the parser of its cells, and
whether it is required or sensitive. Headers are matched ignoring case, blanks, `_`/`-`, a
trailing `*` and full-width brackets, so `Annual revenue USD` finds `annual_revenue_usd`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.masterdata.models import DIMENSION_ZH, Dimension


@dataclass(frozen=True)
class Col:
    field: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    parser: str = "text"
    required: bool = False
    sensitive: bool = False

    @property
    def header_zh(self) -> str:
        return self.zh[0]

    @property
    def header_en(self) -> str:
        return self.en[0]

    def header(self, locale: str) -> str:
        return self.header_en if locale == "en" else self.header_zh

    @property
    def label(self) -> str:
        return f"{self.zh[0]}/{self.en[0]}"


def _c(field: str, zh: str | tuple[str, ...], en: str | tuple[str, ...], parser: str = "text", *,
       required: bool = False, sensitive: bool = False) -> Col:
    return Col(field, (zh,) if isinstance(zh, str) else zh, (en,) if isinstance(en, str) else en, parser,
               required, sensitive)


ORG: tuple[Col, ...] = (
    _c("kind", "类型", "kind", "org_kind", required=True),
    _c("code", ("编码", "工号", "单位编码"), ("code", "emp_no"), "code", required=True),
    _c("name", ("名称", "姓名"), "name", required=True),
    _c("parent_code", "上级单位", ("parent", "parent_code"), "code"),
    _c("unit_code", ("所属单位", "所属部门"), ("unit", "unit_code"), "code"),
    _c("supervisor_emp_no", ("主管工号", "直接主管"), ("supervisor", "supervisor_emp_no"), "code"),
    _c("email", ("邮箱", "电子邮件"), ("email", "e-mail"), "email"),
    _c("locale", "语言", ("locale", "language"), "locale"),
    _c("roles", "角色", "roles", "roles"),
    _c("calendar", ("日历", "工作日历"), "calendar"),
    _c("timezone", "时区", ("timezone", "time_zone"), "timezone"),
)

CUSTOMERS: tuple[Col, ...] = (
    _c("code", "客户编码", ("code", "customer_code"), "code", required=True),
    _c("name", "客户名称", ("name", "customer_name"), required=True),
    _c("industry", "行业", "industry"),
    _c("tier", ("客户级别", "级别", "客户分级"), "tier", "tier", required=True),
    _c("office_code", "代表处", ("office", "office_code"), "code", required=True),
    _c("team_code", "系统部", ("team", "team_code"), "code"),
    _c("owner_emp_no", ("客户经理", "负责人", "A角"), ("owner", "owner_emp_no"), "code", required=True),
    _c("backup_emp_no", ("B角", "备份负责人"), ("backup_owner", "backup", "backup_emp_no"), "code"),
    _c("annual_revenue_usd", ("年收入(美元)", "年收入"), ("annual_revenue_usd", "annual_revenue"), "money"),
    _c("credit_grade", "信用等级", "credit_grade", "credit"),
    _c("locked_competitors", "锁定竞争对手", ("locked_competitors", "competitors"), "competitors"),
    _c("key_events", ("年度关键事件", "客户年度关键事件日历"), ("key_events", "key_event_calendar"), "key_events"),
)

CONTACTS: tuple[Col, ...] = (
    _c("code", ("联系人编码", "关键客户编码"), ("code", "contact_code"), "code", required=True),
    _c("customer_code", "客户编码", ("customer", "customer_code"), "code", required=True),
    _c("name", "姓名", "name", required=True),
    _c("title", "职务", "title"),
    _c("level", "层级", "level", "contact_level"),
    _c("gender", "性别", "gender", "gender"),
    _c("birthday", "生日", "birthday", "date"),
    _c("education", "学历", "education"),
    _c("phone", "电话", "phone"),
    _c("email", "邮箱", ("email", "e-mail"), "email"),
    _c("hobbies", "爱好", "hobbies"),
    _c("taboos", "禁忌", "taboos"),
    _c("career_history", "工作履历", "career_history"),
    _c("decision_roles", "决策链角色", ("decision_roles", "decision_role"), "decision_roles"),
    _c("is_coach", "教练", ("coach", "is_coach"), "bool"),
    _c("has_veto", "一票否决", ("veto", "has_veto"), "bool"),
    _c("rising_star", "明日之星", "rising_star", "bool"),
    _c("projects_influenced", "影响的项目及立场", "projects_influenced"),
    _c("owner_emp_no", ("负责人", "A角"), ("owner", "owner_emp_no"), "code", required=True),
    _c("backup_emp_no", ("B角", "备份负责人"), ("backup_owner", "backup", "backup_emp_no"), "code"),
    _c("visit_pbc", ("PBC拜访承诺", "拜访承诺", "PBC"), ("visit_pbc", "pbc", "visit_commitment"), "visit_pbc"),
    _c("family", "家庭", "family", sensitive=True),
    _c("pain_points_personal", "个人痛点", "pain_points_personal", sensitive=True),
    _c("pain_points_career", "职业痛点", "pain_points_career", sensitive=True),
)


def _assessment_columns() -> tuple[Col, ...]:
    cols = [_c("contact_code", "联系人编码", ("contact", "contact_code"), "code", required=True),
            _c("year", "年度", "year", "year", required=True)]
    for dim in Dimension:
        cols.append(_c(dim.value, DIMENSION_ZH[dim], dim.value, "score"))
        cols.append(_c(f"{dim.value}_evidence", f"{DIMENSION_ZH[dim]}关键事件", f"{dim.value}_evidence"))
    cols += [_c("support_us", "对我司支持度", "support_us", "score"),
             _c("competitor_support", "竞争对手支持度", "competitor_support", "competitor_support"),
             _c("assessor_emp_no", "评估人", ("assessor", "assessor_emp_no"), "code")]
    return tuple(cols)


ASSESSMENTS: tuple[Col, ...] = _assessment_columns()

SPONSORS: tuple[Col, ...] = (
    _c("sponsor_emp_no", ("赞助人工号", "赞助人"), ("sponsor", "sponsor_emp_no"), "code", required=True),
    _c("contact_code", "联系人编码", ("contact", "contact_code"), "code", required=True),
    _c("cadence", ("会面频率", "频率"), "cadence", "cadence"),
    _c("accepted", "已接受", "accepted", "bool"),
)

PROJECTS: tuple[Col, ...] = (
    _c("code", "项目编码", ("code", "project_code"), "code", required=True),
    _c("name", "项目名称", ("name", "project_name"), required=True),
    _c("customer_code", "客户编码", ("customer", "customer_code"), "code", required=True),
    _c("level", "项目级别", "level", "project_level", required=True),
    _c("phase", "阶段", "phase"),
    _c("decision_date", "决策日期", "decision_date", "date_any"),
    _c("team_code", "系统部", ("team", "team_code"), "code"),
    _c("closed", "已关闭", "closed", "bool"),
)

ACTIVITIES: tuple[Col, ...] = (
    _c("code", "活动编码", ("code", "activity_code"), "code", required=True),
    _c("type", ("活动类型", "类型"), ("type", "activity_type"), "activity_type", required=True),
    _c("title", ("活动名称", "名称"), ("title", "name"), required=True),
    _c("customer_code", "客户编码", ("customer", "customer_code"), "code", required=True),
    _c("project_code", ("支撑项目", "项目编码"), ("project", "project_code"), "code"),
    _c("activity_date", ("活动日期", "日期"), ("date", "activity_date"), "date_any", required=True),
    _c("budget", ("预算", "预算（元）"), "budget", "money"),
    _c("inviter_emp_no", ("邀请人工号", "邀请人"), ("inviter", "inviter_emp_no"), "code", required=True),
    _c("invitees", ("受邀联系人", "邀请联系人"), ("invitees", "contacts"), "code_list"),
    _c("status", "状态", "status", "activity_status"),
)

LAYOUTS: dict[str, tuple[Col, ...]] = {
    "org": ORG, "customers": CUSTOMERS, "contacts": CONTACTS, "assessments": ASSESSMENTS,
    "sponsors": SPONSORS, "projects": PROJECTS, "activities": ACTIVITIES,
}

_STRIP = re.compile(r"[\s_\-*＊]+")


def normalise_header(text: str) -> str:
    return _STRIP.sub("", str(text).replace("（", "(").replace("）", ")").replace("\ufeff", "")).lower()


def header_index(layout: tuple[Col, ...]) -> dict[str, Col]:
    index: dict[str, Col] = {}
    for col in layout:
        for name in (*col.zh, *col.en):
            index[normalise_header(name)] = col
    return index
