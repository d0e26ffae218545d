"""ITR policy as data: the pydantic model of `rules/itr.yaml` (SPEC §5 and §9).

Every number of the ITR process — quotas, callback policy, SLAs, the revenue line, the weekly
valid-issue minimum, review recipients — lives in the rules file; this module validates it once
(`load_itr_rules`, errors as `file:line: message`) and the rest of flows/itr/ trusts the types.
It never touches the database or the clock.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path


from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.rules import load_rules

SEVERITIES: tuple[str, ...] = ("urgent", "major", "normal", "minor")
TYPES: tuple[str, ...] = ("technical", "non_technical", "spare_parts", "complaint")
SOURCES: tuple[str, ...] = ("hotline", "service_request", "sales_report", "return", "online",
                            "interview", "handling_team", "survey", "partner", "observation", "market_report")
LEVELS: tuple[str, ...] = ("office", "region", "hq")
TIERS: tuple[str, ...] = ("S", "A", "B", "C")
REASONS: tuple[str, ...] = ("time_limit_exceeded", "no_owner", "bid_or_social_impact", "arbitration_needed")

_ROLLING = re.compile(r"^\s*(\d+)\s+days?\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_window(value: str) -> str:
    if value in ("month", "quarter", "half_year", "year") or _ROLLING.match(value):
        return value
    raise ValueError(f"'{value}' is not a window: use month, quarter, half_year, year or 'N days' (rolling)")


def rolling_days(window: str) -> int | None:
    m = _ROLLING.match(window)
    return int(m[1]) if m else None


class MinimumAllowance(_Strict):
    """Escalations a unit may always make per window, whatever its share (fair to small numbers).

    One each by default: with a single issue at the start of a window the first escalation is
    1/1 = 100 %, and a share alone would make every unit ask for an override every window."""

    office: int = 1
    region: int = 1

    @field_validator("office", "region")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is negative: the number of escalations always allowed is 0 or more")
        return value


class QuotaRules(_Strict):
    """Self-resolution quota (问题自行解决率): the share of its issues a unit may escalate."""

    office: float = 0.20
    region: float = 0.10
    window: str = "quarter"
    # With one issue in the window the first escalation is 1/1 = 100 %: a unit may always make this
    # many escalations per window before the share applies (1 by default; 0 = the share alone).
    min_allowed: MinimumAllowance = Field(default_factory=MinimumAllowance)
    # Who may be named to override the quota (`--override-by`): `unit_supervisor` is a supervisor
    # of the escalating unit; any other entry is a role held anywhere (e.g. sales_management). The
    # escalating employee and the issue's handler are never allowed, whatever their roles.
    override_by: list[str] = Field(default_factory=lambda: ["unit_supervisor", "sales_management"])

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _check_window(value)

    @field_validator("office", "region")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value} is not a share: write 0 to 1 (0.20 = 20 %); a unit cannot escalate more "
                             "than 100 % or less than none of its issues")
        return value

    def limit(self, level: str) -> Fraction:
        # Exact decimal fractions: 0.20 must mean 1/5, so "exactly 20 %" is not lost to float noise.
        return Fraction(str(self.office if level == "office" else self.region))

    def minimum(self, level: str) -> int:
        return self.min_allowed.office if level == "office" else self.min_allowed.region


class CallbackRules(_Strict):
    """Callback (回访) policy before closing."""

    min_rate: float = Field(default=0.10, ge=0, le=1)
    urgent: float = Field(default=1.0, ge=0, le=1)
    close_min_score: int = Field(default=3, ge=1, le=5)
    seed: int = 20260101
    window: str = "quarter"
    agent_role: str = "customer_care"

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _check_window(value)


class SlaRules(_Strict):
    """Time limits in business hours per severity, for each level (office, region, HQ) in turn.

    Which limit applies: the contract's for that severity, else the customer tier's, else the default."""

    severities: dict[str, float] = Field(default_factory=lambda: {"urgent": 4, "major": 16, "normal": 40,
                                                                  "minor": 80})
    tiers: dict[str, dict[str, float]] = Field(default_factory=dict)
    contracts: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("severities")
    @classmethod
    def _all_severities(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severity {', '.join(unknown)}; known: {', '.join(SEVERITIES)}")
        missing = [s for s in SEVERITIES if s not in value]
        if missing:
            raise ValueError(f"missing severity {', '.join(missing)}: every severity needs a time limit")
        if any(v <= 0 for v in value.values()):
            raise ValueError("time limits must be greater than zero")
        return value

    @field_validator("contracts")
    @classmethod
    def _contract_severities(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for contract, limits in value.items():
            unknown = sorted(set(limits) - set(SEVERITIES))
            if unknown:
                raise ValueError(f"contract {contract}: unknown severity {', '.join(unknown)}")
            if any(v <= 0 for v in limits.values()):
                raise ValueError(f"contract {contract}: time limits must be greater than zero")
        return value

    @field_validator("tiers")
    @classmethod
    def _tier_severities(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        unknown_tiers = sorted(set(value) - set(TIERS))
        if unknown_tiers:
            raise ValueError(f"unknown tier {', '.join(unknown_tiers)}; known: {', '.join(TIERS)}")
        for tier, limits in value.items():
            unknown = sorted(set(limits or {}) - set(SEVERITIES))
            if unknown:
                raise ValueError(f"tier {tier}: unknown severity {', '.join(unknown)}")
            if any(v <= 0 for v in (limits or {}).values()):
                raise ValueError(f"tier {tier}: time limits must be greater than zero")
        return {k: dict(v or {}) for k, v in value.items()}

    def basis(self, severity: str, contract: str | None, tier: str | None = None) -> str:
        """Where the time limit comes from: 'contract', 'tier' or 'default'."""
        if contract and severity in self.contracts.get(contract, {}):
            return "contract"
        if tier and severity in self.tiers.get(tier, {}):
            return "tier"
        return "default"

    def hours(self, severity: str, contract: str | None, tier: str | None = None) -> float:
        """The contract's limit for the severity, else the customer tier's, else the default (contracts override)."""
        basis = self.basis(severity, contract, tier)
        if basis == "contract":
            return self.contracts[contract][severity]  # type: ignore[index]
        if basis == "tier":
            return self.tiers[tier][severity]  # type: ignore[index]
        return self.severities[severity]


class QueueOrderRules(_Strict):
    """Queue order (需求接纳的优先级): open issues of higher-priority tiers first, then the nearest deadline."""

    tiers: list[str] = Field(default_factory=lambda: list(TIERS))

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TIERS))
        if unknown:
            raise ValueError(f"unknown tier {', '.join(unknown)}; known: {', '.join(TIERS)}")
        if len(set(value)) != len(value):
            raise ValueError("a tier is listed twice")
        return value

    def rank(self, tier: str | None) -> int:
        """0 for the first tier listed; tiers not listed (or unknown customers) come last."""
        return self.tiers.index(tier) if tier in self.tiers else len(self.tiers)


class NegativeScoreRules(_Strict):
    """关键事件负向扣分: a major issue or complaint with no prior record gives the team a negative entry."""

    lookback_weeks: int = Field(default=4, ge=1)
    severities: list[str] = Field(default_factory=lambda: ["urgent", "major"])
    types: list[str] = Field(default_factory=lambda: ["complaint"])
    major_incident: bool = True
    points: int = -1


class WeeklyQuotaRules(_Strict):
    """Customers at or above the revenue line need ≥ N valid issues recorded per week."""

    revenue_line_usd: int = Field(default=50_000_000, ge=0)
    min_valid_issues: int = Field(default=2, ge=0)
    negative_score: NegativeScoreRules = Field(default_factory=NegativeScoreRules)


class QueueRule(_Strict):
    """Who handles an issue of one queue at office level: a role of the office's organisation."""

    role: str
    prefer_account_owner: bool = False


class DispatchRules(_Strict):
    """Issue type → owning queue (non-technical → the office's sales organisation)."""

    by_type: dict[str, str] = Field(default_factory=lambda: {
        "technical": "technical", "spare_parts": "spare_parts", "complaint": "complaint",
        "non_technical": "sales"})
    queues: dict[str, QueueRule] = Field(default_factory=lambda: {
        "technical": QueueRule(role="issue_handler"), "spare_parts": QueueRule(role="issue_handler"),
        "complaint": QueueRule(role="issue_handler"),
        "sales": QueueRule(role="account_manager", prefer_account_owner=True)})
    # Above the office, every queue is handled by the region's / HQ's issue handlers.
    upper_role: str = "issue_handler"

    @model_validator(mode="after")
    def _consistent(self) -> "DispatchRules":
        missing = [t for t in TYPES if t not in self.by_type]
        if missing:
            raise ValueError(f"by_type: missing type(s) {', '.join(missing)}")
        unknown = sorted(q for q in self.by_type.values() if q not in self.queues)
        if unknown:
            raise ValueError(f"by_type names queue(s) not defined under queues: {', '.join(unknown)}")
        return self


class ReviewRules(_Strict):
    """Recipients and scope of the scheduled reviews; the schedule itself is in flows/itr/itr_review.yaml."""

    @field_validator("weekly_types", "monthly_types", check_fields=False)
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TYPES))
        if unknown:
            raise ValueError(f"unknown issue type {', '.join(unknown)}; known: {', '.join(TYPES)}")
        return value

    weekly_enabled: bool = True
    weekly_roles: list[str] = Field(default_factory=lambda: ["supervisor", "sales_management"])
    # SPEC §5: the weekly office review looks at non-technical issues; [] = every type.
    weekly_types: list[str] = Field(default_factory=lambda: ["non_technical"])
    monthly_types: list[str] = Field(default_factory=list)
    monthly_enabled: bool = True
    region_roles: list[str] = Field(default_factory=lambda: ["supervisor", "sales_management"])
    hq_roles: list[str] = Field(default_factory=lambda: ["sales_management"])


class ItrRules(_Strict):
    quota: QuotaRules = Field(default_factory=QuotaRules)
    callback: CallbackRules = Field(default_factory=CallbackRules)
    sla: SlaRules = Field(default_factory=SlaRules)
    weekly_quota: WeeklyQuotaRules = Field(default_factory=WeeklyQuotaRules)
    dispatch: DispatchRules = Field(default_factory=DispatchRules)
    queue_order: QueueOrderRules = Field(default_factory=QueueOrderRules)
    reviews: ReviewRules = Field(default_factory=ReviewRules)


def load_itr_rules(directory: Path | None = None) -> ItrRules:
    """rules/itr.yaml of MCR_RULES_DIR (read at call time, so a replay's overrides apply)."""
    return load_rules("itr.yaml", ItrRules, directory)
