"""Planning and care policy as data: `rules/planning.yaml`, `rules/care.yaml`, `rules/festivals.yaml`.

Every number the planning and care flows use — which tiers get the kit, the 31 March deadline,
reminder days, the self-check due time, the weekly-rhythm teams, visit cadences, the festival
dates, the rotation period, the win-rate alert threshold — is read from these files, validated
once into the pydantic models below (file:line problems through `engine.rules`). Nothing in
flows/planning/ hard-codes those numbers; the defaults here equal the shipped files.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.rules import load_rules_file, rules_dir
from engine.rules import hhmm as _hhmm
from engine.rules import month_day as _month_day

M = TypeVar("M", bound=BaseModel)

Quarter = Literal[1, 2, 3, 4]




class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------- planning.yaml


class RatingLevel(_Strict):
    code: str
    zh: str
    en: str


class KitRules(_Strict):
    """The year-end planning kit (客户关系规划三件套)."""

    # Which customer tiers earn a team the kit; empty = the tiers rules/tiers.yaml marks planning_kit (S, A).
    tiers: list[Literal["S", "A", "B", "C"]] = Field(default_factory=list)
    # Deadline day of the planning year (MM-DD) and what happens when it is not a workday:
    # `previous_workday` = the last workday before it (default), `next_workday` = the first after it.
    deadline: str = "03-31"
    deadline_roll: Literal["previous_workday", "next_workday"] = "previous_workday"
    # The deadline ends at this local time of the deadline day; overdue fires then.
    deadline_time: str = "18:00"
    # Reminders this many calendar days before the deadline day, at `reminder_time`, moved back to
    # the previous workday when they fall on a day off. At most three.
    reminder_days_before: list[int] = Field(default_factory=lambda: [14, 7, 1], max_length=3)
    reminder_time: str = "09:00"
    # Overdue: the supervisor is told at the deadline; sales management this many days later.
    escalate_to_sales_management_days: int = Field(default=7, ge=1)
    # The supervisor has this many business days to review before being reminded (repeats).
    review_reminder_business_days: int = Field(default=5, ge=1)
    # Extra sales-management addresses (销售管理部) besides employees holding that role.
    sales_management_emails: list[str] = Field(default_factory=list)

    # ---- checks of the book at kit submission (each off when empty / 0 / null; docs/planning.md)
    # Every open project of these levels of the team's kit customers, decided in or after the planning
    # year (or undated), needs at least one activity in the action plan (plan section).
    required_activity_project_levels: list[Literal["company", "region", "office"]] = Field(
        default_factory=lambda: ["company", "region"])
    # 至少两个持续稳定的信息获取渠道: each customer objective names this many information channels.
    min_info_channels: int = Field(default=0, ge=0)
    # 低、中、高各层的教练: each assessed kit customer has a contact scored at the scale's top
    # (support for us) at each of these contact levels (contact.level in master data).
    coach_levels: list[Literal["base", "middle", "senior"]] = Field(default_factory=list)
    # 各层级主管担任3个与自己层级相匹配的项目的赞助人: each sponsor named in the action plan sponsors
    # exactly this many projects, each of the level matching theirs (`sponsor_project_level`); 0 = off.
    sponsored_projects_per_manager: int = Field(default=3, ge=0)
    sponsor_project_level: dict[Literal["hq", "region", "office", "team"], Literal["company", "region", "office"]] = \
        Field(default_factory=lambda: {"hq": "company", "region": "region", "office": "office", "team": "office"})
    # 组织客户关系 / 普遍客户关系: the scales (lowest first) rated per customer in the assessment, and the
    # minimum each customer must reach (null = not required).
    org_relationship_levels: list[RatingLevel] = Field(default_factory=lambda: [
        RatingLevel(code="none", zh="无", en="none"), RatingLevel(code="supplier", zh="普通供应商", en="supplier"),
        RatingLevel(code="partner", zh="伙伴", en="partner"),
        RatingLevel(code="strategic", zh="战略伙伴", en="strategic partner")], min_length=2)
    org_relationship_min: Optional[str] = None
    general_relationship_levels: list[RatingLevel] = Field(default_factory=lambda: [
        RatingLevel(code="low", zh="低", en="low"), RatingLevel(code="medium", zh="中等", en="medium"),
        RatingLevel(code="high", zh="高", en="high")], min_length=2)
    general_relationship_min: Optional[str] = None

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: str) -> str:
        _month_day(value)
        return value

    @field_validator("deadline_time", "reminder_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value)

    @field_validator("reminder_days_before")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value):
            raise ValueError("reminder days must be 1 or more")
        if len(set(value)) != len(value):
            raise ValueError("each reminder day may appear once")
        return sorted(value, reverse=True)

    @property
    def deadline_month_day(self) -> tuple[int, int]:
        return _month_day(self.deadline)

    @model_validator(mode="after")
    def _ratings(self) -> "KitRules":
        for scale, minimum, name in ((self.org_relationship_levels, self.org_relationship_min, "org_relationship"),
                                     (self.general_relationship_levels, self.general_relationship_min,
                                      "general_relationship")):
            codes = [lvl.code for lvl in scale]
            if len(set(codes)) != len(codes):
                raise ValueError(f"{name}_levels: each code may appear once")
            if minimum is not None and minimum not in codes:
                raise ValueError(f"{name}_min '{minimum}' is not one of {name}_levels: {', '.join(codes)}")
        return self

    @staticmethod
    def rating(scale: list["RatingLevel"], text: str) -> Optional[int]:
        """The rank (0 = lowest) of a rating written as its code, Chinese or English name; None: not on the scale."""
        t = text.strip().lower()
        for i, lvl in enumerate(scale):
            if t in (lvl.code.lower(), lvl.zh, lvl.en.lower()):
                return i
        return None


class CheckRules(_Strict):
    """A recurring check (self-check, weekly check, card review, evaluation): due time and reminders."""

    due_business_days: int = Field(ge=1)
    reminder_business_days_before: list[int] = Field(default_factory=list, max_length=2)

    @field_validator("reminder_business_days_before")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value):
            raise ValueError("reminder days must be 1 or more")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _before_due(self) -> "CheckRules":
        if any(d >= self.due_business_days for d in self.reminder_business_days_before):
            raise ValueError("a reminder must come after the start: use fewer days than due_business_days")
        return self


class EvaluationWeights(_Strict):
    """过程与结果的考核占比: 2:8 or 3:7 (`allowed`), the two weights summing to 1."""

    process: float = Field(default=0.3, ge=0, le=1)
    result: float = Field(default=0.7, ge=0, le=1)

    @model_validator(mode="after")
    def _ratio(self) -> "EvaluationWeights":
        if abs(self.process + self.result - 1) > 1e-9:
            raise ValueError(f"process {self.process} + result {self.result} must make 1 (100 %)")
        if not any(abs(self.process - p) < 1e-9 for p in (0.2, 0.3)):
            raise ValueError(f"process:result must be 2:8 or 3:7 (the method), got {self.process}:{self.result}")
        return self

    def total(self, process: float, result: float) -> float:
        return round(self.process * process + self.result * result, 1)


class EvaluationRules(CheckRules):
    """The annual evaluation: its schedule and how process and result are weighed."""

    weights: EvaluationWeights = EvaluationWeights()


class RhythmRules(_Strict):
    """Execution rhythm (SPEC §4)."""

    self_check: CheckRules = CheckRules(due_business_days=10, reminder_business_days_before=[3, 1])
    # Teams (系统部 codes) on the weekly rhythm get a weekly check instead of the quarterly one.
    weekly_teams: list[str] = Field(default_factory=list)
    weekly_check: CheckRules = CheckRules(due_business_days=2, reminder_business_days_before=[1])
    # Key-customer expansion card (关键客户拓展卡片): reviewed every quarter (3 months).
    card_review: CheckRules = CheckRules(due_business_days=10, reminder_business_days_before=[3])
    # Tiers whose key contacts make an employee's card: default S, A, B.
    card_tiers: list[Literal["S", "A", "B", "C"]] = Field(default_factory=lambda: ["S", "A", "B"])
    half_year_review: CheckRules = CheckRules(due_business_days=15, reminder_business_days_before=[5])
    # Objectives may be revised this many times per half year (集中修订).
    revisions_per_half: int = Field(default=1, ge=0)
    annual_evaluation: EvaluationRules = Field(default_factory=lambda: EvaluationRules(
        due_business_days=15, reminder_business_days_before=[5, 1]))


class StrategyRules(_Strict):
    """Customer strategy review (客户策略审视) and the win-rate watch of general (C) customers."""

    # Default cadence of the tier re-evaluation, and per-industry exceptions for fast industries.
    default_cadence: Literal["yearly", "half_yearly", "quarterly"] = "yearly"
    industry_cadence: dict[str, Literal["yearly", "half_yearly", "quarterly"]] = Field(default_factory=dict)
    # The quarter in which yearly reviews run (half-yearly: this one and the one two later).
    review_quarter: Quarter = 1
    review: CheckRules = CheckRules(due_business_days=10, reminder_business_days_before=[3])
    # A C customer's win rate falling by at least this many percentage points from one period to
    # the next raises an alert to the office; empty = rules/tiers.yaml `win_rate_drop_alert_points`.
    win_rate_drop_points: Optional[float] = Field(default=None, gt=0, le=100)


class ActivityRules(_Strict):
    """The marketing-activity life cycle (rules/planning.yaml `activities`)."""

    big_types: list[str] = Field(default_factory=lambda: ["summit", "exhibition_forum", "company_visit",
                                                          "showcase_visit"])
    big_budget: Optional[int] = Field(default=100000, ge=0)
    summary_due_business_days: int = Field(default=3, ge=1)
    escalate_after_business_days: int = Field(default=5, ge=1)

    @field_validator("big_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        from engine.masterdata.settings import load_masterdata_rules

        known = load_masterdata_rules().activity_type_codes()
        unknown = [t for t in value if t not in known]
        if unknown:
            raise ValueError(f"unknown activity type {', '.join(unknown)}; known: {', '.join(known)}")
        return value

    def is_big(self, type: str, budget: Optional[int]) -> bool:
        return type in self.big_types or (self.big_budget is not None and (budget or 0) >= self.big_budget)


class PlanningRules(_Strict):
    kit: KitRules = KitRules()
    rhythm: RhythmRules = RhythmRules()
    strategy: StrategyRules = StrategyRules()
    activities: ActivityRules = ActivityRules()


# ----------------------------------------------------------------------------------------- care.yaml


class VisitRules(_Strict):
    # Days between visits of a key contact per customer tier; empty = rules/tiers.yaml
    # `key_contact_visit_days` (S 7, A 14, B 30; C has no per-contact norm).
    days_by_tier: dict[Literal["S", "A", "B", "C"], int] = Field(default_factory=dict)
    # Days between a sponsor's (赞助人) meetings with the paired contact.
    sponsor_days: dict[Literal["monthly", "bimonthly"], int] = Field(
        default_factory=lambda: {"monthly": 30, "bimonthly": 60})
    # The owner is reminded the day after a visit falls due; the owner's supervisor this many days later.
    escalate_after_days: int = Field(default=7, ge=1)


class HandoverRules(_Strict):
    # Who takes over a contact, tried in order; the first that is a current employee other than the
    # previous owner wins. customer_owner / customer_backup = the A/B roles of the contact's customer;
    # team_head = the head (role supervisor) of the team covering the customer; previous_supervisor =
    # the previous owner's supervisor.
    new_owner: list[Literal["customer_owner", "customer_backup", "team_head", "previous_supervisor"]] = Field(
        default_factory=lambda: ["customer_owner", "customer_backup", "team_head", "previous_supervisor"],
        min_length=1)
    # Contacts of this level are covered by the team head first (e.g. after a promotion to 高层).
    senior_by_team_head: bool = False
    remind_after_business_days: int = Field(default=3, ge=1)
    escalate_after_business_days: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _order(self) -> "HandoverRules":
        if self.escalate_after_business_days <= self.remind_after_business_days:
            raise ValueError("escalate_after_business_days must be more than remind_after_business_days")
        return self


class RotationRules(_Strict):
    # Sales staff rotate after covering the same customer this many years; flagged this many days ahead.
    years: int = Field(default=4, ge=1)
    flag_days_ahead: int = Field(default=91, ge=0)


class VisitNormRules(_Strict):
    # 拜访量: the customer visits a week that account and product managers of general customers owe
    # (SPEC §7); the number itself is rules/tiers.yaml `manager_visits_per_week` of these tiers.
    tiers: list[Literal["S", "A", "B", "C"]] = Field(default_factory=lambda: ["C"])
    # Who owes it: the customer's owner (A角, account manager) and backup (B角, product manager).
    who: list[Literal["owner", "backup"]] = Field(default_factory=lambda: ["owner", "backup"], min_length=1)
    # ISO weekday (1 Monday … 7 Sunday) on which a manager still short of the norm is reminded;
    # the week's shortfall goes to the supervisor on the Monday after.
    remind_weekday: int = Field(default=4, ge=1, le=7)


class BriefRules(_Strict):
    # 拜访前简报 in a visit reminder: the customer's open ITR issues, its last callbacks and the
    # contact's coming dates within `days_ahead` days.
    issues: int = Field(default=5, ge=0)
    callbacks: int = Field(default=3, ge=0)
    days_ahead: int = Field(default=30, ge=0)


class CareRules(_Strict):
    # The daily scan looks this many days ahead for birthdays (default: the day before).
    birthday_days_before: int = Field(default=1, ge=0)
    # Customer tiers whose key contacts get birthday and festival care; C is coverage only.
    tiers: list[Literal["S", "A", "B", "C"]] = Field(default_factory=lambda: ["S", "A", "B"])
    # Remind the customer owner of the customer's annual key events (客户年度关键事件日历).
    key_event_days_before: int = Field(default=3, ge=0)
    visits: VisitRules = VisitRules()
    visit_norm: VisitNormRules = VisitNormRules()
    brief: BriefRules = BriefRules()
    handover: HandoverRules = HandoverRules()
    rotation: RotationRules = RotationRules()


# ----------------------------------------------------------------------------------------- festivals.yaml


class LunarFestival(_Strict):
    """A festival on a lunar date (农历), converted to the solar date each year with `lunardate`."""

    name: str
    zh: str
    en: str
    lunar_month: int = Field(ge=1, le=12)
    lunar_day: int = Field(ge=1, le=30)
    days_before: int = Field(default=1, ge=0)


class CompanyDate(_Strict):
    """A company date: every year on `day` (MM-DD), or once `on` a date (YYYY-MM-DD)."""

    name: str
    zh: str
    en: str
    day: Optional[str] = None
    on: Optional[date] = None
    days_before: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _one(self) -> "CompanyDate":
        if (self.day is None) == (self.on is None):
            raise ValueError(f"company date '{self.name}' needs exactly one of 'day' (MM-DD) or 'on' (YYYY-MM-DD)")
        if self.day is not None:
            _month_day(self.day)
        return self


class FestivalRules(_Strict):
    lunar: list[LunarFestival] = Field(default_factory=lambda: [
        LunarFestival(name="spring_festival", zh="春节", en="Spring Festival", lunar_month=1, lunar_day=1,
                      days_before=3),
        LunarFestival(name="dragon_boat", zh="端午节", en="Dragon Boat Festival", lunar_month=5, lunar_day=5),
        LunarFestival(name="mid_autumn", zh="中秋节", en="Mid-Autumn Festival", lunar_month=8, lunar_day=15,
                      days_before=3),
    ])
    company: list[CompanyDate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "FestivalRules":
        names = [f.name for f in self.lunar] + [c.name for c in self.company]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"festival names must be unique: {', '.join(dup)}")
        return self


# ----------------------------------------------------------------------------------------- loading

def _load(name: str, model: type[M], directory: Path | None) -> M:
    return load_rules_file((directory or rules_dir()) / name, model)  # validated once per content (engine.rules)


def load_planning_rules(directory: Path | None = None) -> PlanningRules:
    return _load("planning.yaml", PlanningRules, directory)


def load_care_rules(directory: Path | None = None) -> CareRules:
    return _load("care.yaml", CareRules, directory)


def load_festival_rules(directory: Path | None = None) -> FestivalRules:
    return _load("festivals.yaml", FestivalRules, directory)


def tier_rules(directory: Path | None = None) -> Any:
    """rules/tiers.yaml (engine.masterdata.tiers.TierRules), cached like the planning rules."""
    from engine.masterdata.tiers import TierRules

    return _load("tiers.yaml", TierRules, directory)


def masterdata_rules(directory: Path | None = None) -> Any:
    """rules/masterdata.yaml (engine.masterdata.settings.MasterDataRules), cached like the planning rules."""
    from engine.masterdata.settings import MasterDataRules

    return _load("masterdata.yaml", MasterDataRules, directory)


def kit_tiers(rules: PlanningRules, directory: Path | None = None, *, tiers: Any = None) -> list[str]:
    """The tiers that earn a kit: planning.yaml `kit.tiers`, else tiers.yaml's planning_kit tiers (`tiers`,
    a TierRules already at hand, or the file)."""
    if rules.kit.tiers:
        return list(rules.kit.tiers)
    return (tiers if tiers is not None else tier_rules(directory)).with_planning_kit()  # type: ignore[no-any-return]


class KitRuleSet(NamedTuple):
    planning: PlanningRules
    tiers: list[str]
    masterdata: Any  # engine.masterdata.settings.MasterDataRules


def registered_kit_rules(rt: Any) -> KitRuleSet:
    """What a kit service call checks against: the runtime's registered rules (`rt.current_rules()`, each
    file validated once per process) — as the ITR and survey services do — not the files re-read and
    re-hashed at every call. A rules change applies once registered (`mcr rules register`, or start-up)."""
    from engine.masterdata.settings import MasterDataRules
    from engine.masterdata.tiers import TierRules

    pinned = rt.current_rules()
    planning = pinned.get("planning.yaml", PlanningRules)
    return KitRuleSet(planning, kit_tiers(planning, tiers=pinned.get("tiers.yaml", TierRules)),
                    pinned.get("masterdata.yaml", MasterDataRules))
