"""Survey policy as data: the pydantic model of `rules/survey.yaml` (SPEC §6 and §9).

Every number of the satisfaction surveys — which project levels are always called back, the
10 % sample rate and its seed, the callback due time, the low-score threshold, the activity types
and their 3-day limit, the annual sample sizes by order volume, the level ratios and their
tolerance — lives in the rules file; this module validates it once (`load_survey_rules`, errors
as `file:line: message`) and the rest of flows/survey/ trusts the types. It never touches the
database or the clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.rules import load_rules
from engine.timespec import Duration, TimeSpecError, parse_duration, parse_recurrence
from engine.rules import hhmm as _hhmm, duration_text as _duration

PROJECT_LEVELS: tuple[str, ...] = ("company", "region", "office")
CALLBACK_ITEMS: tuple[str, ...] = ("product", "solution", "delivery", "service_attitude")
CONTACT_LEVELS: tuple[str, ...] = ("senior", "middle", "base")
METHODS: tuple[str, ...] = ("face_to_face", "phone", "questionnaire")
CATEGORIES: tuple[str, ...] = ("product", "service", "brand")
PHASES: tuple[str, ...] = ("pre_sale", "in_sale", "after_sale")



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _recurrence(value: object, kind: str, example: str) -> str:
    """A launch schedule (`every:` of flows/survey/survey_batches.yaml) that recurs as `kind` says."""
    try:
        parsed = parse_recurrence(str(value))
    except TimeSpecError as exc:
        raise ValueError(f"{exc}; e.g. {example}") from None
    if parsed.kind != kind:
        raise ValueError(f"'{value}' runs {parsed.kind}, this launch runs {kind}; e.g. {example}")
    return str(value)






class ImprovementIssue(_Strict):
    """How the improvement issue opened in ITR by a low score is classified."""

    type: Literal["technical", "non_technical", "spare_parts", "complaint"] = "non_technical"
    severity: Literal["urgent", "major", "normal", "minor"] = "normal"
    source: str = "survey"


class ProjectCallbackRules(_Strict):
    """Post-project satisfaction callback (项目结束后的端到端满意度回访)."""

    always_levels: list[Literal["company", "region", "office"]] = ["company", "region"]
    sample_rate: float = Field(default=0.10, ge=0, le=1)
    period: Literal["week", "month", "quarter", "year"] = "month"
    seed: int = 20260101
    due: str = "5 business days"
    remind_after: str = "4 business days"
    # Read by instances of project_callback version 2 only (their reminder was computed back from the due
    # time); version 3 declares its reminder with `after: rules.survey.project_callback.remind_after`.
    remind_before: str = "1 business days"
    low_score_below: int = Field(default=3, ge=1, le=6)
    contact_preference: list[Literal["senior", "middle", "base"]] = ["senior", "middle", "base"]
    improvement: ImprovementIssue = ImprovementIssue()
    # The daily sweep (launch survey_batches:closed_project_sweep) that decides every project closed in
    # master data without the project-closed event; read when the flow definitions are loaded.
    sweep: str = "day 06:30 Asia/Shanghai"

    @field_validator("sweep")
    @classmethod
    def _daily(cls, value: object) -> str:
        return _recurrence(value, "daily", "day 06:30 Asia/Shanghai")

    @field_validator("due", "remind_before", "remind_after")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _remind_before_due(self) -> "ProjectCallbackRules":
        due, remind = parse_duration(self.due), parse_duration(self.remind_after)
        if (due.unit, due.business) == (remind.unit, remind.business) and remind.amount >= due.amount:
            raise ValueError(f"remind_after ({self.remind_after}) must be shorter than due ({self.due})")
        return self

    @property
    def due_duration(self) -> Duration:
        return parse_duration(self.due)

    @property
    def remind_duration(self) -> Duration:
        return parse_duration(self.remind_before)


class ActivityCallbackRules(_Strict):
    """Callback after a marketing activity (展会结束3天内回访)."""

    types: list[str] = ["exhibition_forum"]
    within: str = "3 days"
    ends_at: str = "18:00"
    roll_to_workday: bool = True
    remind_at: str = "09:00"
    escalate_after: str = "1 business days"

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        # Master data's types: the book's 12+1 and the company's own (rules/masterdata.yaml).
        from engine.masterdata.settings import load_masterdata_rules

        known = load_masterdata_rules().activity_type_codes()
        for t in value:
            if t not in known:
                raise ValueError(f"unknown activity type '{t}'; known: {', '.join(known)}")
        return value

    @field_validator("within", "escalate_after")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("ends_at", "remind_at", mode="before")
    @classmethod
    def _times(cls, value: object) -> str:
        return _hhmm(value)

    @property
    def within_duration(self) -> Duration:
        return parse_duration(self.within)

    @property
    def escalate_duration(self) -> Duration:
        return parse_duration(self.escalate_after)


class SampleSize(_Strict):
    """From this yearly order volume (USD) on, a customer's sample list needs at least `contacts`."""

    min_order_usd: int = Field(ge=0)
    contacts: int = Field(ge=1)


class AnnualSurveyRules(_Strict):
    """Annual third-party survey sample (第三方满意度调查样本)."""

    tiers: list[Literal["S", "A", "B", "C"]] = ["S", "A", "B"]
    sizes: list[SampleSize] = [SampleSize(min_order_usd=0, contacts=10),
                               SampleSize(min_order_usd=10_000_000, contacts=20),
                               SampleSize(min_order_usd=50_000_000, contacts=30),
                               SampleSize(min_order_usd=100_000_000, contacts=40),
                               SampleSize(min_order_usd=300_000_000, contacts=60)]
    levels: dict[Literal["senior", "middle", "base"], float] = {"senior": 0.2, "middle": 0.3, "base": 0.5}
    tolerance: float = Field(default=0.05, ge=0, le=1)
    methods: list[Literal["face_to_face", "phone", "questionnaire"]] = ["face_to_face", "phone", "questionnaire"]
    remind_every: str = "5 business days"
    improvement_below: float = Field(default=3, ge=1, le=6)
    # The yearly launch (survey_batches:annual_request) that opens the year's survey and asks every team
    # with in-scope customers for its lists; read when the flow definitions are loaded.
    launch: str = "1 Sep 09:00 Asia/Shanghai"

    @field_validator("launch")
    @classmethod
    def _yearly(cls, value: object) -> str:
        return _recurrence(value, "yearly", "1 Sep 09:00 Asia/Shanghai")

    @field_validator("remind_every")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> "AnnualSurveyRules":
        if not self.sizes:
            raise ValueError("sizes: give at least one row")
        thresholds = [s.min_order_usd for s in self.sizes]
        if thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("sizes: list the rows by increasing min_order_usd, each once")
        if thresholds[0] != 0:
            raise ValueError("sizes: the first row must start at min_order_usd: 0")
        if set(self.levels) != set(CONTACT_LEVELS):
            raise ValueError("levels: give a ratio for each of senior, middle and base")
        total = sum(self.levels.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"levels: the ratios must add up to 1, they add up to {total:g}")
        return self

    def required_size(self, order_usd: int | None) -> int:
        """The minimum sample size for a customer with this yearly order volume (unknown = 0)."""
        volume = order_usd or 0
        return [s.contacts for s in self.sizes if s.min_order_usd <= volume][-1]


class ReportRules(_Strict):
    lowest: int = Field(default=10, ge=1)
    low_score_below: int = Field(default=3, ge=1, le=6)


class QualityRules(_Strict):
    """A project's quality rating (项目质量评价): the team's delivery assessment and the customer's
    callback score, both 1–5, weighted; the weights must add up to 1 (100 %)."""

    assessment_weight: float = Field(default=0.7, ge=0, le=1)
    callback_weight: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _weights(self) -> "QualityRules":
        total = self.assessment_weight + self.callback_weight
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"assessment_weight + callback_weight must add up to 1, they add up to {total:g}")
        return self


class SurveyRules(_Strict):
    project_callback: ProjectCallbackRules = ProjectCallbackRules()
    activity_callback: ActivityCallbackRules = ActivityCallbackRules()
    annual: AnnualSurveyRules = AnnualSurveyRules()
    report: ReportRules = ReportRules()
    quality: QualityRules = QualityRules()


def load_survey_rules() -> SurveyRules:
    """`rules/survey.yaml` from the configured rules folder (MCR_RULES_DIR), validated."""
    return load_rules("survey.yaml", SurveyRules)
