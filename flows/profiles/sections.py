"""The content of a CP (客户企业档案) and a VP (供应商档案): sections and fields (SPEC §8b), the
pre-fill from master data and last year's version, checks of what is saved, the VP's weighted
competitor comparison (表6-1), the CP's fishbone rule (鱼骨图) and the diff between two years.

Pure functions over plain dicts: no database, no clock. Every refusal is a `ProfileInvalid`
naming the field (`overview.comparison.competitors`), in the user's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from engine.errors import MCRError
from engine.i18n import t
from flows.profiles.rules import ProfilesRules


class ProfileInvalid(MCRError):
    """What was saved or submitted breaks a rule of the profile; the message names the field."""

    status = 422


LIST = "list"    # a list of codes or lines
TEXT = "text"
COMPARISON = "comparison"

# section -> ((field, kind), ...) in the document's order (SPEC §8b)
CP_SECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "summary": (("summary", TEXT),),
    "environment": (("macro", TEXT), ("industry", TEXT), ("competition", TEXT)),
    "strategy": (("strategy", TEXT), ("ceo_focus", TEXT), ("business_strategy", TEXT), ("pr_strategy", TEXT),
                 ("pain_points", TEXT)),
    "finance": (("performance", TEXT), ("spending", TEXT), ("annual_revenue_usd", TEXT), ("credit_grade", TEXT)),
    "organisation": (("structure", TEXT), ("procurement_process", TEXT), ("decision_chain", LIST)),
    "swot": (("strengths", TEXT), ("weaknesses", TEXT), ("opportunities", TEXT), ("threats", TEXT)),
    "appendices": (("executives", LIST), ("business_segments", TEXT), ("key_events", LIST), ("network", TEXT),
                   ("country", TEXT)),
}

VP_SECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "overview": (("competitive_position", TEXT), ("perception", TEXT), ("comparison", COMPARISON)),
    "products": (("value_market", TEXT), ("products", TEXT), ("services", TEXT), ("sandbox", TEXT)),
    "relationships": (("overall", TEXT), ("organisational", TEXT), ("senior", TEXT), ("middle", TEXT),
                      ("base", TEXT), ("subsidiaries", TEXT)),
    "capability": (("satisfaction", TEXT), ("deal_quality", TEXT), ("delivery", TEXT), ("marketing", TEXT),
                   ("government_relations", TEXT), ("organisation", TEXT)),
    "swot": (("strengths", TEXT), ("weaknesses", TEXT), ("opportunities", TEXT), ("threats", TEXT)),
    "summary": (("summary", TEXT),),
    "appendices": (("team_structure", TEXT), ("history", TEXT), ("financial_history", TEXT), ("pr_history", TEXT)),
}


def sections_of(kind: str) -> dict[str, tuple[tuple[str, str], ...]]:
    return CP_SECTIONS if kind == "CP" else VP_SECTIONS


def field_kind(kind: str, section: str, name: str) -> Optional[str]:
    return dict(sections_of(kind).get(section, ())).get(name)


def empty(kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, fields in sections_of(kind).items():
        out[section] = {name: ([] if k == LIST else {"competitors": [], "scores": {}} if k == COMPARISON else "")
                        for name, k in fields}
    return out


# ---------------------------------------------------------------------------------------------- pre-fill


@dataclass(frozen=True)
class MasterFacts:
    """What master data says about the customer when the profile opens."""

    annual_revenue_usd: Optional[int]
    credit_grade: Optional[str]
    locked_competitors: list[str]
    key_events: list[dict[str, Any]]
    executives: list[str]           # senior contacts, "code 姓名 职务"
    top_contacts: list[str]         # the assessment's top N contact codes (fishbone)


def prefill(kind: str, facts: MasterFacts, last_year: Optional[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Last year's accepted text where there is one, master data over it where master data knows better."""
    content = empty(kind)
    for section, fields in (last_year or {}).items():
        for name, value in (fields or {}).items():
            if section in content and name in content[section]:
                content[section][name] = value
    if kind == "CP":
        if facts.annual_revenue_usd is not None:
            content["finance"]["annual_revenue_usd"] = str(facts.annual_revenue_usd)
        if facts.credit_grade:
            content["finance"]["credit_grade"] = facts.credit_grade
        content["appendices"]["key_events"] = [
            f"{e.get('month')}-{e.get('day') or ''} {e.get('title')}".replace("- ", " ") for e in facts.key_events]
        if facts.executives:
            content["appendices"]["executives"] = list(facts.executives)
        if facts.top_contacts:
            content["organisation"]["decision_chain"] = list(facts.top_contacts)
    else:
        comparison = content["overview"]["comparison"]
        comparison["competitors"] = list(facts.locked_competitors)
        scores = comparison.get("scores") or {}
        comparison["scores"] = {who: scores.get(who, {}) for who in ["us", *facts.locked_competitors]}
    return content


# ---------------------------------------------------------------------------------------------- saving


def merge(kind: str, content: dict[str, Any], changes: dict[str, Any], *, rules: ProfilesRules,
          locked: list[str]) -> dict[str, Any]:
    """`content` with `changes` ({section: {field: value}}) applied, every value checked first."""
    if not isinstance(changes, dict) or not changes:
        raise ProfileInvalid(t("profiles.nothing_to_save"))
    out = {s: dict(f) for s, f in content.items()}
    for section, fields in changes.items():
        if section not in sections_of(kind):
            raise ProfileInvalid(t("profiles.unknown_section", section=section, kind=kind,
                                   known=", ".join(sections_of(kind))))
        if not isinstance(fields, dict):
            raise ProfileInvalid(t("profiles.bad_value", field=section, value=fields))
        for name, value in fields.items():
            k = field_kind(kind, section, name)
            where = f"{section}.{name}"
            if k is None:
                raise ProfileInvalid(t("profiles.unknown_field", field=where,
                                       known=", ".join(n for n, _ in sections_of(kind)[section])))
            if k == LIST:
                value = _as_list(value, where)
            elif k == COMPARISON:
                value = check_comparison(value, rules=rules, locked=locked, where=where)
            else:
                value = "" if value is None else str(value)
            out.setdefault(section, {})[name] = value
    return out


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        import re

        return [w.strip() for w in re.split(r"[;；,，、\n]+", value) if w.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ProfileInvalid(t("profiles.bad_value", field=where, value=value))


def check_comparison(value: Any, *, rules: ProfilesRules, locked: list[str], where: str) -> dict[str, Any]:
    """The VP's competitor comparison: ≤ N locked competitors, a score per criterion within the scale."""
    if not isinstance(value, dict):
        raise ProfileInvalid(t("profiles.bad_value", field=where, value=value))
    competitors = _as_list(value.get("competitors"), f"{where}.competitors")
    vp = rules.vp
    if len(competitors) > vp.max_competitors:
        raise ProfileInvalid(t("profiles.too_many_competitors", field=f"{where}.competitors", n=len(competitors),
                               names="、".join(competitors), max=vp.max_competitors))
    for name in competitors:
        if name not in locked:
            raise ProfileInvalid(t("profiles.competitor_not_locked", field=f"{where}.competitors", name=name,
                                   locked="、".join(locked) or "-"))
    scores_in = value.get("scores") or {}
    if not isinstance(scores_in, dict):
        raise ProfileInvalid(t("profiles.bad_value", field=f"{where}.scores", value=scores_in))
    keys = {c.key for c in vp.criteria}
    scores: dict[str, dict[str, int]] = {}
    for who, row in scores_in.items():
        if who != "us" and who not in competitors:
            raise ProfileInvalid(t("profiles.score_for_unknown", field=f"{where}.scores.{who}", name=who,
                                   allowed="、".join(["us", *competitors])))
        scores[who] = {}
        for key, score in (row or {}).items():
            f = f"{where}.scores.{who}.{key}"
            if key not in keys:
                raise ProfileInvalid(t("profiles.unknown_criterion", field=f, known=", ".join(sorted(keys))))
            if score is None or score == "":
                continue
            try:
                n = int(score)
            except (TypeError, ValueError):
                raise ProfileInvalid(t("profiles.bad_score", field=f, value=score, lo=vp.score_min,
                                       hi=vp.score_max)) from None
            if isinstance(score, float) and not score.is_integer() or not vp.score_min <= n <= vp.score_max:
                raise ProfileInvalid(t("profiles.bad_score", field=f, value=score, lo=vp.score_min, hi=vp.score_max))
            scores[who][key] = n
    return {"competitors": competitors, "scores": scores}


def comparison_table(content: dict[str, Any], rules: ProfilesRules) -> dict[str, Any]:
    """Per criterion: weight, each party's score and weighted score, and our gap to each competitor;
    weighted totals (0..100: Σ weight × score / score_max)."""
    comp = ((content.get("overview") or {}).get("comparison") or {"competitors": [], "scores": {}})
    parties = ["us", *comp.get("competitors", [])]
    scores = comp.get("scores") or {}
    top = rules.vp.score_max
    rows = []
    totals = {p: 0.0 for p in parties}
    for c in rules.vp.criteria:
        row: dict[str, Any] = {"key": c.key, "group": c.group, "zh": c.zh, "en": c.en, "weight": c.weight,
                               "scores": {}, "weighted": {}, "gap": {}}
        for p in parties:
            s = (scores.get(p) or {}).get(c.key)
            row["scores"][p] = s
            w = round(c.weight * s / top, 2) if s is not None else None
            row["weighted"][p] = w
            totals[p] += w or 0.0
        for p in parties[1:]:
            us, them = row["weighted"]["us"], row["weighted"][p]
            row["gap"][p] = round(us - them, 2) if us is not None and them is not None else None
        rows.append(row)
    totals = {p: round(v, 2) for p, v in totals.items()}
    return {"parties": parties, "criteria": rows, "totals": totals,
            "gap": {p: round(totals["us"] - totals[p], 2) for p in parties[1:]}}


# ---------------------------------------------------------------------------------------------- fishbone


def top_contacts(assessed: dict[str, tuple[str, int, dict[str, Optional[int]]]], n: int) -> list[str]:
    """The assessment's top N contacts (鱼骨图): by the sum of their scored dimensions, then decision
    support, then contact code — the same order every time."""
    def key(item: tuple[str, tuple[str, int, dict[str, Optional[int]]]]) -> tuple[int, int, str]:
        code, (_, _, dims) = item
        total = sum(v for v in dims.values() if v is not None)
        return (-total, -(dims.get("decision_support") or 0), code)

    return [code for code, _ in sorted(assessed.items(), key=key)[:n]]


def fishbone_differences(chain: Iterable[str], top: list[str], names: dict[str, str]) -> tuple[list[str], list[str]]:
    """(in the assessment's top N but not in the decision chain, in the chain but not in the top N), as names."""
    chain_set, top_set = set(chain), set(top)
    missing = [names.get(c, c) for c in top if c not in chain_set]
    extra = [names.get(c, c) for c in chain if c not in top_set]
    return missing, extra


# ---------------------------------------------------------------------------------------------- diff


def diff(kind: str, old: Optional[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every field that differs from last year's version: section, field, before, after."""
    out = []
    for section, fields in sections_of(kind).items():
        for name, _ in fields:
            before = ((old or {}).get(section) or {}).get(name)
            after = (new.get(section) or {}).get(name)
            if (before or None) != (after or None):
                out.append({"section": section, "field": name, "before": before, "after": after})
    return out
