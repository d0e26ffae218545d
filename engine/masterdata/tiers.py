"""Tier policy as data (`rules/tiers.yaml`, SPEC §8): what each customer tier — S 战略客户,
A 伙伴客户, B 优先/价值客户, C 一般客户 — requires of the account team.

The planning flow asks `tiers_with_planning_kit()`, the care and watch flows ask
`tier_policy(tier)`; no code outside this file hard-codes what a tier means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.rules import load_rules

TierCode = Literal["S", "A", "B", "C"]
TIER_CODES: tuple[str, ...] = ("S", "A", "B", "C")


class TierPolicy(BaseModel):
    """What one tier requires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str
    en: str
    # Other words users write for this tier in spreadsheets (战略, 伙伴, strategic …).
    aliases: list[str] = Field(default_factory=list)
    # 客户关系规划三件套 at year end (SPEC §3).
    planning_kit: bool = False
    # Documents kept for the customer: CP 客户企业档案, VP 供应商档案, personal_cards 个人明信片.
    documents: list[Literal["CP", "VP", "personal_cards"]] = Field(default_factory=list)
    # Relationship work: organisational 组织客户关系, key 关键客户关系, general 普遍客户关系, coverage.
    relationships: list[Literal["organisational", "key", "general", "coverage"]] = Field(default_factory=list)
    # Each key contact is visited at least every N days (None: no per-contact norm).
    key_contact_visit_days: Optional[int] = Field(default=None, ge=1)
    # Account/product managers' customer visits per week (coverage norm for general customers).
    manager_visits_per_week: Optional[int] = Field(default=None, ge=1)
    sponsor_cadence: Optional[Literal["monthly", "bimonthly"]] = None
    win_rate_monitored: bool = False
    # A drop of the win rate by this many percentage points raises an alert (e.g. 40 % → 30 %).
    win_rate_drop_alert_points: Optional[int] = Field(default=None, ge=1, le=100)
    # An S/A/B customer that stops buying opens a management retrospective (管理回溯, SPEC §8a).
    loss_watch: bool = False


class TierRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: dict[TierCode, TierPolicy] = Field(default_factory=lambda: dict(_DEFAULT_TIERS))

    @model_validator(mode="after")
    def _complete_and_unambiguous(self) -> TierRules:
        missing = [code for code in TIER_CODES if code not in self.tiers]
        if missing:
            raise ValueError(f"tiers: missing tier(s) {', '.join(missing)}; all of S, A, B, C must be described")
        seen: dict[str, str] = {}
        for code, policy in self.tiers.items():
            for word in [policy.zh, *policy.aliases]:
                key = word.strip().lower()
                if key in seen and seen[key] != code:
                    raise ValueError(f"tiers: '{word}' is used for both {seen[key]} and {code}")
                seen[key] = code
        return self

    def normalise(self, text: str) -> str | None:
        """'S', 's', '战略', '战略客户', 'strategic' → 'S'; None when the word names no tier."""
        word = text.strip()
        if word.upper() in TIER_CODES:
            return word.upper()
        key = word.lower()
        for code, policy in self.tiers.items():
            if key in {policy.zh.lower(), policy.en.lower(), *(a.strip().lower() for a in policy.aliases)}:
                return code
        return None

    def policy(self, tier: str) -> TierPolicy:
        return self.tiers[tier]  # type: ignore[index]

    def with_planning_kit(self) -> list[str]:
        return [code for code in TIER_CODES if self.tiers[code].planning_kit]  # type: ignore[index]

    def name(self, tier: str, locale: str = "zh-CN") -> str:
        policy = self.policy(tier)
        return policy.en if locale == "en" else policy.zh


_DEFAULT_TIERS: dict[str, TierPolicy] = {
    "S": TierPolicy(zh="战略客户", en="strategic", aliases=["战略", "strategic customer"], planning_kit=True,
                    documents=["CP", "VP", "personal_cards"], relationships=["organisational", "key", "general"],
                    key_contact_visit_days=7, sponsor_cadence="monthly", loss_watch=True),
    "A": TierPolicy(zh="伙伴客户", en="partner", aliases=["伙伴", "partner customer"], planning_kit=True,
                    documents=["CP", "VP", "personal_cards"], relationships=["organisational", "key", "general"],
                    key_contact_visit_days=14, sponsor_cadence="bimonthly", loss_watch=True),
    "B": TierPolicy(zh="优先客户", en="priority", aliases=["优先", "价值", "价值客户", "优先/价值客户", "value"],
                    documents=["personal_cards"], relationships=["key"], key_contact_visit_days=30,
                    loss_watch=True),
    "C": TierPolicy(zh="一般客户", en="general", aliases=["一般", "general customer"], relationships=["coverage"],
                    manager_visits_per_week=5, win_rate_monitored=True, win_rate_drop_alert_points=10),
}


def load_tier_rules(directory: Path | None = None) -> TierRules:
    """rules/tiers.yaml of MCR_RULES_DIR (or the product's rules/); the defaults above when absent."""
    return load_rules("tiers.yaml", TierRules, directory)


def tier_policy(tier: str, directory: Path | None = None) -> TierPolicy:
    return load_tier_rules(directory).policy(tier)


def tiers_with_planning_kit(directory: Path | None = None) -> list[str]:
    """Which tiers get the year-end planning kit (SPEC §3: S and A by default)."""
    return load_tier_rules(directory).with_planning_kit()
