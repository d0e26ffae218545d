"""Profiles and watch policy as data: the pydantic model of `rules/profiles.yaml` (SPEC §8a, §8b).

The VP's weighted criteria (表6-1) must sum to 100: a file that does not is refused when it is
loaded, with its file and line (`InvalidRules`), like every other rules mistake. Steps read the
pinned copy (`ctx.rules.get("profiles.yaml", ProfilesRules)`); services outside a step read the
runtime's current registered version. Never touches the database or the clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.rules import duration_text as _duration
from engine.rules import hhmm as _hhmm
from engine.rules import month_day

RULES_FILE = "profiles.yaml"
DOCUMENTS: tuple[str, ...] = ("CP", "VP")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _month_day(value: object) -> str:
    month, day = month_day(value)
    return f"{month:02d}-{day:02d}"






class RefreshRules(_Strict):
    """The yearly CP/VP refresh: who gets them, when, the deadline, reminders and escalation."""

    tiers: list[str] = ["S", "A"]
    documents: list[Literal["CP", "VP"]] = ["CP", "VP"]
    launch: str = "12-01"
    launch_catch_up_days: int = Field(default=7, ge=0, le=60)
    deadline: str = "03-31"
    deadline_time: str = "18:00"
    reminder_days_before: list[int] = [14, 7, 1]
    reminder_time: str = "09:00"
    escalate_to_sales_management_days: int = Field(default=7, ge=0)
    review_reminder_after: str = "3 business days"
    review_escalate_after: str = "5 business days"
    fishbone_top: int = Field(default=10, ge=1)
    sales_management_emails: list[str] = []

    @field_validator("launch", "deadline")
    @classmethod
    def _md(cls, value: str) -> str:
        return _month_day(value)

    @field_validator("deadline_time", "reminder_time", mode="before")
    @classmethod
    def _tm(cls, value: object) -> str:
        return _hhmm(value)

    @field_validator("review_reminder_after", "review_escalate_after")
    @classmethod
    def _du(cls, value: str) -> str:
        return _duration(value)

    @field_validator("reminder_days_before")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value):
            raise ValueError("reminder days must be 1 or more")
        return sorted(set(value), reverse=True)

    def month_day(self, which: str) -> tuple[int, int]:
        m, d = getattr(self, which).split("-")
        return int(m), int(d)


class Criterion(_Strict):
    """One criterion of the VP's competitor comparison (表6-1)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: str
    zh: str
    en: str
    weight: int = Field(ge=0, le=100)


DEFAULT_CRITERIA: tuple[tuple[str, str, str, str, int], ...] = (
    ("brand_recognition", "brand", "品牌认可度", "brand recognition", 9),
    ("showcase_sites", "brand", "样板点", "showcase sites", 5),
    ("org_relationship", "relationships", "组织客户关系", "organisational relationship", 9),
    ("key_relationship", "relationships", "关键客户关系", "key-contact relationship", 7),
    ("general_relationship", "relationships", "普遍客户关系", "general relationship", 3),
    ("solution_capability", "product", "系统解决方案能力", "system solution capability", 20),
    ("financing", "commercial", "融资方案", "financing", 4),
    ("payment_terms", "commercial", "付款方式", "payment terms", 3),
    ("price", "commercial", "价格", "price", 8),
    ("delivery_time", "delivery", "交期", "delivery time", 15),
    ("quality", "delivery", "质量", "quality", 10),
    ("service_outlets", "service", "服务网点", "service outlets", 5),
    ("spare_parts", "service", "配件库", "spare-parts stock", 2),
)


class VpRules(_Strict):
    max_competitors: int = Field(default=2, ge=0, le=2)
    score_min: int = 0
    score_max: int = Field(default=10, ge=1)
    criteria: list[Criterion] = [Criterion(key=k, group=g, zh=z, en=e, weight=w) for k, g, z, e, w in DEFAULT_CRITERIA]

    @field_validator("criteria")
    @classmethod
    def _sum_100(cls, value: list[Criterion]) -> list[Criterion]:
        total = sum(c.weight for c in value)
        if total != 100:
            raise ValueError(f"the criteria weights sum to {total}, not 100 "
                             f"({' + '.join(f'{c.key} {c.weight}' for c in value)})")
        keys = [c.key for c in value]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"criterion key(s) listed twice: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _scale(self) -> "VpRules":
        if self.score_min >= self.score_max:
            raise ValueError("score_min must be below score_max")
        return self

    def weight_of(self, key: str) -> int:
        return next(c.weight for c in self.criteria if c.key == key)


class WatchRules(_Strict):
    period: Literal["month", "quarter", "half_year", "year"] = "quarter"
    abnormal_loss_tiers: list[str] = ["S", "A", "B"]
    min_previous_orders_usd: int = Field(default=1, ge=1)
    curve_shortfall_share: float = Field(default=0.3, gt=0, lt=1)
    tier_review_due_business_days: int = Field(default=10, ge=1)
    sales_management_emails: list[str] = []


class RetrospectiveRules(_Strict):
    due_business_days: int = Field(default=15, ge=1)
    reminder_business_days_before: list[int] = [5, 1]
    escalate_after: str = "5 business days"

    @field_validator("escalate_after")
    @classmethod
    def _du(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _before_due(self) -> "RetrospectiveRules":
        if any(d < 1 or d >= self.due_business_days for d in self.reminder_business_days_before):
            raise ValueError("each reminder is 1 or more business days before the due day, and fewer than "
                             "due_business_days")
        return self


class ProfilesRules(_Strict):
    refresh: RefreshRules = RefreshRules()
    vp: VpRules = VpRules()
    watch: WatchRules = WatchRules()
    retrospective: RetrospectiveRules = RetrospectiveRules()


def load_profiles_rules() -> ProfilesRules:
    """rules/profiles.yaml of the rules folder as it is now (validation; services use the pinned copy)."""
    from engine.rules import load_rules

    return load_rules(RULES_FILE, ProfilesRules)


def pinned(rt_or_ctx: object) -> ProfilesRules:
    """The profiles rules a step (`ctx.rules`) or a service (the runtime's current version) works under."""
    rules = getattr(rt_or_ctx, "rules", None)
    if rules is None or not hasattr(rules, "get"):
        rules = rt_or_ctx.current_rules()  # type: ignore[attr-defined]
    return rules.get(RULES_FILE, ProfilesRules)  # type: ignore[no-any-return]
