"""The project quality rating (项目质量评价) and the annual survey's improvement items (改进项).

* Rating: the team's delivery assessment of a closed project (1–5, `assess_project`) and the customer's
  post-project callback (the average of its four items, 1–5), weighted by rules/survey.yaml `quality`
  (满意度的评分会作为项目质量评价的一部分). With one part missing the rating is that part alone and is
  marked incomplete, so a project is never rated on a guess.
* Improvement items: the annual survey's result import opens one per customer and item averaging below
  `annual.improvement_below`, owned by the customer's team (flows/survey/actions.py `publish_results`),
  with an ITR improvement issue when ITR is installed; the team closes it with what was done.

Every function takes the principal and checks it here (flows/survey/rights.py).
"""

from __future__ import annotations

from typing import Any, Optional

from engine.auth.principal import Principal
from engine.clock import from_us, to_us
from engine.i18n import t
from engine.masterdata.read import MasterData

from flows.survey import rights
from flows.survey.errors import InvalidScore, SurveyRefused, UnknownSurveyRecord
from flows.survey.results import parse_score
from flows.survey.rules import CALLBACK_ITEMS, QualityRules, SurveyRules


def _rules(rt: Any) -> SurveyRules:
    return rt.current_rules().get("survey.yaml", SurveyRules)


def rating(assessment: Optional[float], callback: Optional[float], weights: QualityRules) -> dict[str, Any]:
    """The weighted rating (1–5, two decimals) of the parts there are, and whether both were there."""
    parts = [(v, w) for v, w in ((assessment, weights.assessment_weight), (callback, weights.callback_weight))
             if v is not None and w > 0]
    total = sum(w for _, w in parts)
    value = round(sum(v * w for v, w in parts) / total, 2) if total else None
    return {"rating": value, "complete": len(parts) == sum(1 for w in (weights.assessment_weight,
                                                                       weights.callback_weight) if w > 0)}


def _project_row(tx: Any, code: str, who: Principal) -> Any:
    md = MasterData(tx)
    project = md.project(code)
    if project is None:
        raise UnknownSurveyRecord(t("survey.unknown_project", locale=who.locale, project=code))
    customer = md.customer(project.customer_code)
    rights.require_sees(who, customer.owner_emp_no if customer else None,
                        customer.backup_emp_no if customer else None, code)
    return project, customer


def _quality_of(tx: Any, project: Any, weights: QualityRules) -> dict[str, Any]:
    a = tx.one("SELECT score, comment, at_us, actor FROM survey_project_assessment WHERE project_code = :p",
               {"p": project.code})
    cb = tx.one("SELECT product, solution, delivery, service_attitude, at_us FROM survey_callback "
                "WHERE project_code = :p AND kind = 'project' AND reached = :t ORDER BY at_us DESC, id DESC",
                {"p": project.code, "t": True})
    callback = round(sum(cb[:4]) / 4, 2) if cb and all(v is not None for v in cb[:4]) else None
    assessment = float(a[0]) if a else None
    return {"project": project.code, "name": project.name, "level": project.level, "customer": project.customer_code,
            "closed": bool(project.closed), "assessment": assessment, "assessment_comment": a[1] if a else None,
            "assessed_at": from_us(a[2]).isoformat(timespec="minutes") if a else None, "assessed_by": a[3] if a else None,
            "callback": callback, "callback_scores": dict(zip(CALLBACK_ITEMS, cb[:4])) if cb else None,
            "weights": {"assessment": weights.assessment_weight, "callback": weights.callback_weight},
            **rating(assessment, callback, weights)}


def project_quality(rt: Any, project: str, *, principal: Principal) -> dict[str, Any]:
    """One project's quality rating with its parts and weights."""
    weights = _rules(rt).quality
    with rt.db.read() as tx:
        row, _ = _project_row(tx, project, principal)
        return _quality_of(tx, row, weights)


def projects_quality(rt: Any, *, principal: Principal, customer: Optional[str] = None,
                     limit: int = 200) -> list[dict[str, Any]]:
    """The closed projects `principal` sees (of one customer, or all), lowest rating first."""
    weights = _rules(rt).quality
    cond, params = rights.owner_filter(principal, "p.customer_code")
    sql = f"SELECT p.code FROM project p WHERE p.closed = :t AND {cond}"
    params = {**params, "t": True, "n": limit}
    if customer:
        sql += " AND p.customer_code = :c"
        params["c"] = customer
    with rt.db.read() as tx:
        codes = [r[0] for r in tx.all(sql + " ORDER BY p.code LIMIT :n", params)]
        md = MasterData(tx)
        out = [_quality_of(tx, md.project(c), weights) for c in codes]
    return sorted(out, key=lambda q: (q["rating"] is None, q["rating"] or 0, q["project"]))


def assess_project(rt: Any, project: str, *, principal: Principal, score: Any,
                   comment: Optional[str] = None) -> dict[str, Any]:
    """The team's delivery assessment (1–5) of a project; a second one replaces the first."""
    value = parse_score(score)
    if value is None:
        raise InvalidScore(t("survey.score_invalid", locale=principal.locale,
                             item=t("survey.web.assessment", locale=principal.locale), value=score))
    with rt.db.tx() as tx:
        row, _ = _project_row(tx, project, principal)
        params = {"p": row.code, "s": value, "c": (comment or "").strip() or None, "at": to_us(rt.clock.now()),
                  "a": principal.actor}
        if tx.one("SELECT 1 FROM survey_project_assessment WHERE project_code = :p", {"p": row.code}):
            tx.execute("UPDATE survey_project_assessment SET score = :s, comment = :c, at_us = :at, actor = :a "
                       "WHERE project_code = :p", params)
        else:
            tx.execute("INSERT INTO survey_project_assessment (project_code, score, comment, at_us, actor) "
                       "VALUES (:p, :s, :c, :at, :a)", params)
    return project_quality(rt, project, principal=principal)


# ---------------------------------------------------------------------------------------------- improvement items


_ITEM_COLUMNS = ("id, year, customer_code, team_code, category, item, average, threshold, status, issue_id, opened_us, "
                 "closed_us, closed_by, resolution")


def _item(r: Any, issue_states: dict[int, tuple[str, bool]]) -> dict[str, Any]:
    state = issue_states.get(r[9]) if r[9] is not None else None
    return {"id": r[0], "year": r[1], "customer": r[2], "team": r[3], "category": r[4], "item": r[5],
            "average": r[6], "threshold": r[7], "status": r[8], "issue": r[9],
            "issue_state": state[0] if state else None, "issue_ended": state[1] if state else None,
            "opened_at": from_us(r[10]).isoformat(timespec="minutes"),
            "closed_at": from_us(r[11]).isoformat(timespec="minutes") if r[11] else None,
            "closed_by": r[12], "resolution": r[13]}


def improvements(rt: Any, *, principal: Principal, year: Optional[int] = None, status: Optional[str] = None,
                 customer: Optional[str] = None) -> list[dict[str, Any]]:
    """The improvement items `principal` sees, open first; each with the state of its ITR issue (read from the
    engine's instance table: the survey reads no ITR table)."""
    cond, params = rights.owner_filter(principal)
    sql = f"SELECT {_ITEM_COLUMNS} FROM survey_improvement WHERE {cond}"
    for key, value, col in (("y", year, "year"), ("s", status, "status"), ("c", customer, "customer_code")):
        if value is not None:
            sql += f" AND {col} = :{key}"
            params[key] = value
    with rt.db.read() as tx:
        rows = tx.all(sql + " ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, year DESC, average, id", params)
        ids = sorted({r[9] for r in rows if r[9] is not None})
        states: dict[int, tuple[str, bool]] = {}
        for i in ids:
            found = tx.one("SELECT state, ended_us FROM flow_instance WHERE id = :i", {"i": i})
            if found:
                states[i] = (found[0], found[1] is not None)
    return [_item(r, states) for r in rows]


def close_improvement(rt: Any, item_id: int, *, principal: Principal, resolution: str) -> dict[str, Any]:
    """The team closes an improvement item with what it did; an item is closed once."""
    text = (resolution or "").strip()
    if not text:
        raise SurveyRefused(t("survey.web.resolution_needed", locale=principal.locale))
    with rt.db.tx() as tx:
        row = tx.one(f"SELECT {_ITEM_COLUMNS} FROM survey_improvement WHERE id = :i", {"i": int(item_id)})
        if row is None:
            raise UnknownSurveyRecord(t("survey.web.unknown_item", locale=principal.locale, item=item_id))
        customer = MasterData(tx).customer(row[2])
        rights.require_sees(principal, customer.owner_emp_no if customer else None,
                            customer.backup_emp_no if customer else None, f"#{item_id}")
        if row[8] != "open":
            raise SurveyRefused(t("survey.web.item_closed", locale=principal.locale, item=item_id))
        tx.execute("UPDATE survey_improvement SET status = 'closed', closed_us = :now, closed_by = :a, resolution = :r "
                   "WHERE id = :i AND status = 'open'",
                   {"now": to_us(rt.clock.now()), "a": principal.actor, "r": text, "i": int(item_id)})
    return next(i for i in improvements(rt, principal=principal) if i["id"] == int(item_id))


def low_items(tx: Any, year: int, customers: list[str], below: float) -> list[dict[str, Any]]:
    """(customer, category, item) of the year averaging below `below`, with the lowest-scoring contact."""
    if not customers:
        return []
    marks = ", ".join(f":c{i}" for i in range(len(customers)))
    params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(customers)}
    params["y"] = year
    rows = tx.all(f"SELECT customer_code, category, item, score, contact_code FROM survey_result "
                  f"WHERE year = :y AND customer_code IN ({marks}) ORDER BY customer_code, category, item, score, id",
                  params)
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r[0], r[1], r[2]), []).append(r)
    out = []
    for (customer, category, item), rs in groups.items():
        average = round(sum(r[3] for r in rs) / len(rs), 2)
        if average < below:
            out.append({"customer": customer, "category": category, "item": item, "average": average,
                        "contact": next((r[4] for r in rs if r[4]), None), "scores": [r[3] for r in rs]})
    return out


__all__ = ["rating", "project_quality", "projects_quality", "assess_project", "improvements", "close_improvement",
           "low_items", "json"]
