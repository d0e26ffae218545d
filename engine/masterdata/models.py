"""The master-data tables (SQLModel): organisation, customers, key contacts, assessments,
sponsors, projects, marketing activities, tier history and the audit log.

Rows refer to each other by their stable business keys (unit code, employee number `emp_no`,
customer code, contact code, project code) rather than by surrogate ids: those keys are what
the import files carry, what upserts match on, and what the flows store in their data. Foreign
keys on those columns keep references honest in the schema itself.

Instants are integer microseconds since the epoch, UTC (`*_us`), like the engine tables;
calendar days (birthdays, decision dates) are plain dates. List-valued fields that are only
ever read whole are JSON text.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Optional

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import text_col as _text, us_col as _us, flag_col as _flag


# ---------------------------------------------------------------------------------------------- enums


class UnitKind(str, Enum):
    """Levels of the organisation tree: 公司 → 地区部 → 代表处 → 系统部."""

    hq = "hq"
    region = "region"
    office = "office"
    team = "team"


UNIT_PARENT_KIND: dict[UnitKind, Optional[UnitKind]] = {
    UnitKind.hq: None, UnitKind.region: UnitKind.hq, UnitKind.office: UnitKind.region, UnitKind.team: UnitKind.office}


class Role(str, Enum):
    """Roles of SPEC §1; an employee may hold several."""

    sales_management = "sales_management"   # 销售管理部
    account_manager = "account_manager"     # 客户经理 / 客户代表
    supervisor = "supervisor"               # 主管 / 系统部部长
    issue_handler = "issue_handler"         # 问题接收人 (level = the kind of their unit)
    qa = "qa"                               # 流程QA
    sponsor = "sponsor"                     # 赞助人
    customer_care = "customer_care"         # 客户关怀代表


class DecisionRole(str, Enum):
    """A key contact's role in the customer's decision chain."""

    initiator = "initiator"     # 发起者
    user = "user"               # 使用者
    influencer = "influencer"   # 影响者
    decider = "decider"         # 决定者
    approver = "approver"       # 批准者
    buyer = "buyer"             # 购买者
    gatekeeper = "gatekeeper"   # 控制者


class ContactLevel(str, Enum):
    """Seniority of a contact, for survey samples across levels (SPEC §6)."""

    senior = "senior"   # 高层
    middle = "middle"   # 中层
    base = "base"       # 基层


class Dimension(str, Enum):
    """The six dimensions of the relationship assessment (客户关系现状评估), in the method's order."""

    acceptance = "acceptance"                   # 接受认可度
    participation = "participation"             # 客户接触活动参与度
    information = "information"                 # 信息传递
    guidance = "guidance"                       # 项目及日常业务指导
    decision_support = "decision_support"       # 决策支持度
    competitor_stance = "competitor_stance"     # 竞争态度


DIMENSION_ZH: dict[Dimension, str] = {
    Dimension.acceptance: "接受认可度",
    Dimension.participation: "客户接触活动参与度",
    Dimension.information: "信息传递",
    Dimension.guidance: "项目及日常业务指导",
    Dimension.decision_support: "决策支持度",
    Dimension.competitor_stance: "竞争态度",
}


class ProjectLevel(str, Enum):
    """Who owns a project; region level and above is a "big project" (地区部以上项目)."""

    company = "company"   # 公司级
    region = "region"     # 地区部级
    office = "office"     # 代表处级


class SponsorCadence(str, Enum):
    monthly = "monthly"       # 每月
    bimonthly = "bimonthly"   # 每两个月


class ActivityType(str, Enum):
    """The book's "12+1" customer-contact scenarios (图3-2 客户接触场景) an activity is planned from.

    A company adds its own in rules/masterdata.yaml (`activity_types:`); see
    `engine.masterdata.settings.MasterDataRules.activity_type_codes`."""

    company_visit = "company_visit"                 # 公司参观
    exhibition_forum = "exhibition_forum"           # 展会论坛
    showcase_visit = "showcase_visit"               # 样板点参观
    topic_exchange = "topic_exchange"               # 专题交流
    executive_visit = "executive_visit"             # 高层拜访
    sponsor = "sponsor"                             # 赞助人
    summit = "summit"                               # 高层峰会
    trip_escort = "trip_escort"                     # 出差陪同
    home_visit = "home_visit"                       # 客户家访
    banquet = "banquet"                             # 饭局宴请
    gifts = "gifts"                                 # 礼尚往来
    routine_visit = "routine_visit"                 # 日常拜访
    other = "other"                                 # 其他 (the "+1", e.g. 技术交流)


ACTIVITY_TYPE_ZH: dict[ActivityType, str] = {
    ActivityType.company_visit: "公司参观",
    ActivityType.exhibition_forum: "展会论坛",
    ActivityType.showcase_visit: "样板点参观",
    ActivityType.topic_exchange: "专题交流",
    ActivityType.executive_visit: "高层拜访",
    ActivityType.sponsor: "赞助人",
    ActivityType.summit: "高层峰会",
    ActivityType.trip_escort: "出差陪同",
    ActivityType.home_visit: "客户家访",
    ActivityType.banquet: "饭局宴请",
    ActivityType.gifts: "礼尚往来",
    ActivityType.routine_visit: "日常拜访",
    ActivityType.other: "其他",
}

ACTIVITY_TYPE_EN: dict[ActivityType, str] = {
    ActivityType.company_visit: "company visit",
    ActivityType.exhibition_forum: "exhibition or forum",
    ActivityType.showcase_visit: "reference-site visit",
    ActivityType.topic_exchange: "topic exchange",
    ActivityType.executive_visit: "executive visit",
    ActivityType.sponsor: "sponsor meeting",
    ActivityType.summit: "executive summit",
    ActivityType.trip_escort: "business-trip escort",
    ActivityType.home_visit: "home visit",
    ActivityType.banquet: "dinner",
    ActivityType.gifts: "courtesy gifts",
    ActivityType.routine_visit: "routine visit",
    ActivityType.other: "other",
}

# Types shipped before the book's list (up to 2026-12) and the book type each now maps to; the
# migration 0008_activity_types rewrites stored rows, and an import or workbook still naming an old
# type (code or Chinese name) is read as its new one. docs/master-data.md lists the same table.
LEGACY_ACTIVITY_TYPES: dict[str, ActivityType] = {
    "technical_exchange": ActivityType.other,            # 技术交流: the book's example of 其他
    "management_seminar": ActivityType.topic_exchange,   # 管理研讨 → 专题交流
    "onsite_meeting": ActivityType.showcase_visit,       # 现场会 → 样板点参观
    "customer_training": ActivityType.topic_exchange,    # 客户培训 → 专题交流
    "joint_innovation": ActivityType.other,              # 联合创新 → 其他
    "business_event": ActivityType.other,                # 商务活动 → 其他
    "cultural_sports": ActivityType.other,               # 文体活动 → 其他
}
LEGACY_ACTIVITY_NAMES_ZH: dict[str, str] = {
    "技术交流": "technical_exchange", "管理研讨": "management_seminar", "现场会": "onsite_meeting",
    "客户培训": "customer_training", "联合创新": "joint_innovation", "商务活动": "business_event",
    "文体活动": "cultural_sports", "展会/论坛": "exhibition_forum", "展会": "exhibition_forum", "论坛": "exhibition_forum",
}

SENSITIVE_CONTACT_FIELDS: tuple[str, ...] = ("family", "pain_points_personal", "pain_points_career")


# ---------------------------------------------------------------------------------------------- organisation


class OrgUnit(SQLModel, table=True):
    """A node of the organisation: 公司 (hq), 地区部 (region), 代表处 (office), 系统部 (team)."""

    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("code", name="uq_org_unit_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    kind: str = Field(sa_column=_text(False))
    name: str = Field(sa_column=_text(False))
    parent_code: Optional[str] = Field(default=None, sa_column=_text(fk="org_unit.code", index=True))
    # Offices name their business calendar (rules/calendars) and time zone; others inherit upwards.
    calendar: Optional[str] = Field(default=None, sa_column=_text())
    timezone: Optional[str] = Field(default=None, sa_column=_text())


class Employee(SQLModel, table=True):
    __tablename__ = "employee"
    __table_args__ = (UniqueConstraint("emp_no", name="uq_employee_emp_no"),
                      UniqueConstraint("email", name="uq_employee_email"))

    id: Optional[int] = Field(default=None, primary_key=True)
    emp_no: str = Field(sa_column=_text(False))
    name: str = Field(sa_column=_text(False))
    email: str = Field(sa_column=_text(False), description="stored lower-case")
    unit_code: str = Field(sa_column=_text(False, fk="org_unit.code", index=True))
    supervisor_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no", index=True))
    locale: str = Field(default="zh-CN", sa_column=_text(False))
    roles: str = Field(default="", sa_column=_text(False), description="comma list of Role values")

    @property
    def role_set(self) -> set[str]:
        return {r for r in self.roles.split(",") if r}


# ---------------------------------------------------------------------------------------------- customers


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("code", name="uq_customer_code"),
                      Index("ix_customer_tier", "tier"))

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    name: str = Field(sa_column=_text(False))
    industry: Optional[str] = Field(default=None, sa_column=_text())
    tier: str = Field(sa_column=_text(False), description="S, A, B or C")
    office_code: str = Field(sa_column=_text(False, fk="org_unit.code", index=True))
    team_code: Optional[str] = Field(default=None, sa_column=_text(fk="org_unit.code", index=True))
    owner_emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no", index=True))
    backup_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no", index=True))
    annual_revenue_usd: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    credit_grade: Optional[str] = Field(default=None, sa_column=_text())
    locked_competitors: str = Field(default="[]", sa_column=_text(False), description="JSON list, at most the rules' limit")
    key_events: str = Field(default="[]", sa_column=_text(False),
                            description='JSON list of {"month", "day"|null, "title"}: 客户年度关键事件日历')


class TierChange(SQLModel, table=True):
    """One change of a customer's tier — the first row (from_tier NULL) is the initial assignment."""

    __tablename__ = "customer_tier_change"
    __table_args__ = (Index("ix_customer_tier_change_customer", "customer_code", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    customer_code: str = Field(sa_column=_text(False, fk="customer.code"))
    from_tier: Optional[str] = Field(default=None, sa_column=_text())
    to_tier: str = Field(sa_column=_text(False))
    actor: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
    reason: Optional[str] = Field(default=None, sa_column=_text())


class Contact(SQLModel, table=True):
    """A key contact (关键客户) and their personal card (个人明信片)."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("code", name="uq_contact_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code", index=True))
    name: str = Field(sa_column=_text(False))
    title: Optional[str] = Field(default=None, sa_column=_text())
    level: Optional[str] = Field(default=None, sa_column=_text(), description="ContactLevel")
    gender: Optional[str] = Field(default=None, sa_column=_text(), description="male / female")
    birthday: Optional[date] = None
    education: Optional[str] = Field(default=None, sa_column=_text())
    phone: Optional[str] = Field(default=None, sa_column=_text())
    email: Optional[str] = Field(default=None, sa_column=_text())
    hobbies: Optional[str] = Field(default=None, sa_column=_text())
    taboos: Optional[str] = Field(default=None, sa_column=_text())
    career_history: Optional[str] = Field(default=None, sa_column=_text())
    decision_roles: str = Field(default="", sa_column=_text(False), description="comma list of DecisionRole")
    is_coach: bool = Field(default=False, sa_column=_flag())
    has_veto: bool = Field(default=False, sa_column=_flag())
    rising_star: bool = Field(default=False, sa_column=_flag())
    projects_influenced: Optional[str] = Field(default=None, sa_column=_text())
    owner_emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no", index=True))
    backup_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no", index=True))
    # The PBC's visit commitment on the key-customer card (e.g. "每周拜访3次"), parsed at import:
    # JSON {"visits": 3, "days": 7}; it drives the contact's visit cadence (flows/planning/care.py).
    visit_pbc: Optional[str] = Field(default=None, sa_column=_text())
    # Sensitive (SPEC §2): only the owner and the supervisors above see these; may be switched off.
    family: Optional[str] = Field(default=None, sa_column=_text())
    pain_points_personal: Optional[str] = Field(default=None, sa_column=_text())
    pain_points_career: Optional[str] = Field(default=None, sa_column=_text())


class Assessment(SQLModel, table=True):
    """One revision of a contact's relationship assessment for a year; revisions are never overwritten."""

    __tablename__ = "contact_assessment"
    __table_args__ = (UniqueConstraint("contact_code", "year", "revision", name="uq_contact_assessment_revision"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contact_code: str = Field(sa_column=_text(False, fk="contact.code", index=True))
    year: int
    revision: int
    acceptance: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    acceptance_evidence: Optional[str] = Field(default=None, sa_column=_text())
    participation: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    participation_evidence: Optional[str] = Field(default=None, sa_column=_text())
    information: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    information_evidence: Optional[str] = Field(default=None, sa_column=_text())
    guidance: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    guidance_evidence: Optional[str] = Field(default=None, sa_column=_text())
    decision_support: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    decision_support_evidence: Optional[str] = Field(default=None, sa_column=_text())
    competitor_stance: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    competitor_stance_evidence: Optional[str] = Field(default=None, sa_column=_text())
    support_us: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    competitor_support: str = Field(default="{}", sa_column=_text(False), description="JSON {competitor: score}")
    assessor_emp_no: Optional[str] = Field(default=None, sa_column=_text(fk="employee.emp_no"))
    actor: str = Field(sa_column=_text(False))
    source: Optional[str] = Field(default=None, sa_column=_text())
    recorded_us: int = Field(sa_column=_us())


# ---------------------------------------------------------------------------------------------- sponsors, projects, activities


class SponsorPairing(SQLModel, table=True):
    """An executive (赞助人) paired with a key contact; the executive must accept the role."""

    __tablename__ = "sponsor_pairing"
    __table_args__ = (UniqueConstraint("sponsor_emp_no", "contact_code", name="uq_sponsor_pairing"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    sponsor_emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no", index=True))
    contact_code: str = Field(sa_column=_text(False, fk="contact.code", index=True))
    cadence: str = Field(default="monthly", sa_column=_text(False), description="SponsorCadence")
    accepted: bool = Field(default=False, sa_column=_flag())


class Project(SQLModel, table=True):
    """A project / opportunity (项目/机会点)."""

    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("code", name="uq_project_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    name: str = Field(sa_column=_text(False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code", index=True))
    level: str = Field(sa_column=_text(False), description="ProjectLevel")
    phase: Optional[str] = Field(default=None, sa_column=_text())
    decision_date: Optional[date] = None
    team_code: Optional[str] = Field(default=None, sa_column=_text(fk="org_unit.code"))
    closed: bool = Field(default=False, sa_column=_flag())


class MarketingActivity(SQLModel, table=True):
    """A brand/marketing activity (品牌/营销活动) supporting a project."""

    __tablename__ = "marketing_activity"
    __table_args__ = (UniqueConstraint("code", name="uq_marketing_activity_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(sa_column=_text(False))
    type: str = Field(sa_column=_text(False), description="ActivityType")
    title: str = Field(sa_column=_text(False))
    customer_code: str = Field(sa_column=_text(False, fk="customer.code", index=True))
    project_code: Optional[str] = Field(default=None, sa_column=_text(fk="project.code", index=True))
    activity_date: date
    budget: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str = Field(default="CNY", sa_column=_text(False))
    inviter_emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    status: str = Field(default="planned", sa_column=_text(False), description="planned / done / cancelled")


class ActivityInvitee(SQLModel, table=True):
    __tablename__ = "marketing_activity_invitee"
    __table_args__ = (UniqueConstraint("activity_code", "contact_code", name="uq_marketing_activity_invitee"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    activity_code: str = Field(sa_column=_text(False, fk="marketing_activity.code", index=True))
    contact_code: str = Field(sa_column=_text(False, fk="contact.code", index=True))


# ---------------------------------------------------------------------------------------------- audit


class AuditEntry(SQLModel, table=True):
    """Who did or tried what to which record, and when (refusals included)."""

    __tablename__ = "masterdata_audit"
    __table_args__ = (Index("ix_masterdata_audit_entity", "entity", "entity_key", "id"),
                      Index("ix_masterdata_audit_actor", "actor", "id"))

    id: Optional[int] = Field(default=None, primary_key=True)
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=_text(False))
    action: str = Field(sa_column=_text(False))
    entity: str = Field(sa_column=_text(False))
    entity_key: str = Field(sa_column=_text(False))
    allowed: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, default=True))
    detail: str = Field(default="{}", sa_column=_text(False), description="JSON; never holds sensitive values")
