"""Master-data policy from `rules/masterdata.yaml`: the relationship scale, the sensitive-data
switch, the locked-competitor limit, the 29 February birthday rule, the pattern codes must
match (they end up in file names) and the limits of an import (file size, rows, text length).

Validated once at load time (file:line problems via `engine.rules`); the importer, the service
layer and the demo generator receive the resulting `MasterDataRules` and trust it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.rules import load_rules


class ScaleLevel(BaseModel):
    """One level of the relationship scale (客户关系现状评估的等级), e.g. 3 = 教练 (coach)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: int = Field(ge=-3, le=3)
    zh: str
    en: str


def _default_scale() -> list[ScaleLevel]:
    # Table 3-1 of the method: 3 教练, 2 支持排他, 1 支持, 0 中立, −1 反对.
    return [ScaleLevel(score=3, zh="教练", en="coach"),
            ScaleLevel(score=2, zh="支持排他", en="supports us exclusively"),
            ScaleLevel(score=1, zh="支持", en="supports"),
            ScaleLevel(score=0, zh="中立", en="neutral"),
            ScaleLevel(score=-1, zh="反对", en="opposes")]


# Codes a code_pattern must refuse, whatever else it allows: each would leave a folder or hide
# what it is when it becomes part of a file name (engine/paths.py is the second line).
UNSAFE_CODES = ("", ".", "..", "../x", "/etc", "a/b", "a\\b", "a\x00b", "\u2025", "a\uff0fb", "C:x")


class ImportLimits(BaseModel):
    """Bounded input: what one import (or web upload) may bring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: float = Field(default=64, gt=0)
    max_rows: int = Field(default=500_000, ge=1)
    max_text_chars: int = Field(default=2000, ge=1)
    max_name_chars: int = Field(default=200, ge=1)


class ExtraActivityType(BaseModel):
    """A company's own contact scenario (rules/masterdata.yaml `activity_types`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class MasterDataRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    assessment_scale: list[ScaleLevel] = Field(default_factory=_default_scale, min_length=2)
    # 同一联系人10天内不重复回访: the one setting of the same-contact gap, for every flow that calls a
    # contact back (ITR's callback before closing, the survey's project and activity callbacks).
    callback_gap_days: int = Field(default=10, ge=0)
    # Each score must cite a key event (关键事件) — the method's evidence rule.
    assessment_requires_evidence: bool = True
    # false = "only desensitised data enters the system": family and pain points are refused.
    store_sensitive: bool = True
    max_locked_competitors: int = Field(default=2, ge=0, le=5)
    # Whose birthday is 29 February is greeted on this day in common years.
    leap_day_birthdays: Literal["feb28", "mar1"] = "feb28"
    # Unit codes, employee numbers, customer/contact/project codes: they become file names.
    code_pattern: str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    limits: ImportLimits = Field(default_factory=ImportLimits)
    # A company's own contact scenarios beyond the book's "12+1" (ActivityType).
    activity_types: list[ExtraActivityType] = Field(default_factory=list)

    @field_validator("activity_types")
    @classmethod
    def _new_activity_codes(cls, value: list[ExtraActivityType]) -> list[ExtraActivityType]:
        from engine.masterdata.models import LEGACY_ACTIVITY_TYPES, ActivityType

        seen: set[str] = set()
        for extra in value:
            if extra.code in {t.value for t in ActivityType} or extra.code in LEGACY_ACTIVITY_TYPES:
                raise ValueError(f"activity type '{extra.code}' is already one of the book's types (or an old name of one)")
            if extra.code in seen:
                raise ValueError(f"activity type '{extra.code}' is listed twice")
            seen.add(extra.code)
        return value

    def activity_type_codes(self) -> list[str]:
        """The book's 12+1 scenarios, then the company's own, in that order."""
        from engine.masterdata.models import ActivityType

        return [t.value for t in ActivityType] + [e.code for e in self.activity_types]

    def activity_type_label(self, code: str, locale: str = "zh-CN") -> str:
        from engine.masterdata.models import ACTIVITY_TYPE_EN, ACTIVITY_TYPE_ZH, ActivityType

        for extra in self.activity_types:
            if extra.code == code:
                return extra.en if locale == "en" else extra.zh
        try:
            kind = ActivityType(code)
        except ValueError:
            return code
        return ACTIVITY_TYPE_EN[kind] if locale == "en" else ACTIVITY_TYPE_ZH[kind]

    def parse_activity_type(self, text: str) -> str | None:
        """A cell or form value → the type's code: its code, its Chinese or English name, or an old
        (pre-book) type, which maps to its book type. None: not a type."""
        from engine.masterdata.models import (ACTIVITY_TYPE_EN, ACTIVITY_TYPE_ZH, LEGACY_ACTIVITY_NAMES_ZH,
                                              LEGACY_ACTIVITY_TYPES)

        value = (text or "").strip()
        if not value:
            return None
        codes = self.activity_type_codes()
        if value in codes:
            return value
        names = {zh: t.value for t, zh in ACTIVITY_TYPE_ZH.items()} | {en: t.value for t, en in ACTIVITY_TYPE_EN.items()}
        names |= {e.zh: e.code for e in self.activity_types} | {e.en: e.code for e in self.activity_types}
        if value in names:
            return names[value]
        legacy = LEGACY_ACTIVITY_NAMES_ZH.get(value, value)
        if legacy in LEGACY_ACTIVITY_TYPES:
            return LEGACY_ACTIVITY_TYPES[legacy].value
        return names.get(legacy) if legacy in names else (legacy if legacy in codes else None)

    @field_validator("code_pattern")
    @classmethod
    def _safe_code_pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"code_pattern is not a regular expression: {exc}") from None
        accepted = [code for code in UNSAFE_CODES if compiled.fullmatch(code)]
        if accepted:
            raise ValueError("code_pattern must refuse codes that are not plain file names; it accepts "
                             + ", ".join(repr(code) for code in accepted))
        return value

    @field_validator("assessment_scale")
    @classmethod
    def _distinct_scores(cls, value: list[ScaleLevel]) -> list[ScaleLevel]:
        scores = [level.score for level in value]
        if len(set(scores)) != len(scores):
            raise ValueError("each score may appear only once in assessment_scale")
        return sorted(value, key=lambda level: -level.score)

    @property
    def scores(self) -> list[int]:
        return [level.score for level in self.assessment_scale]

    @property
    def min_score(self) -> int:
        return min(self.scores)

    @property
    def max_score(self) -> int:
        return max(self.scores)

    def label(self, score: int, locale: str = "zh-CN") -> str:
        for level in self.assessment_scale:
            if level.score == score:
                return level.en if locale == "en" else level.zh
        return str(score)


def load_masterdata_rules(directory: Path | None = None) -> MasterDataRules:
    """rules/masterdata.yaml of MCR_RULES_DIR (or the product's rules/); defaults when absent."""
    return load_rules("masterdata.yaml", MasterDataRules, directory)
