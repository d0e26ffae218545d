"""Planning and care instances as their page sees them: the steps this person may take now, taking
one, and the kit workbook (download, upload of the filled one).

`allowed_actions` asks, for each event the flow definition allows in the instance's state and does
not mark `internal`, the same predicate (flows/planning/rights.py) the step's action asks when the
event is sent — so the page offers exactly what the step would accept. `take_action` sends one of
them with the fields its action reads; the step checks again (the one rule, in the one place).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from engine.auth import Principal
from engine.instances import InstanceView, load_instance, read_instance, send_form
from engine.paths import safe_join
from flows.planning import rights

Rule = Callable[[Principal, dict[str, Any], Any], bool]


def _team_members(rt: Any, team: Optional[str]) -> set[str]:
    from flows.planning.kit_actions import team_members

    if not team:
        return set()
    with rt.db.read() as tx:
        return team_members(tx, team)


def _team(who: Principal, data: dict[str, Any], rt: Any) -> bool:
    return rights.in_team(who, str(data.get("team")), _team_members(rt, data.get("team")))


def _is_employee(rt: Any, emp_no: str) -> bool:
    from engine.masterdata.read import MasterData

    with rt.db.read() as tx:
        return MasterData(tx).person(emp_no) is not None


# (flow, event) → who may send it; the same predicates the flows' actions call.
RULES: dict[tuple[str, str], Rule] = {
    **{("planning_kit", e): _team for e in ("submit_assessment", "submit_objectives", "submit_plan", "request_review")},
    ("planning_kit", "approve"): lambda w, d, rt: rights.reviews_kit(w, d),
    ("planning_kit", "send_back"): lambda w, d, rt: rights.reviews_kit(w, d),
    ("self_check", "submit"): lambda w, d, rt: rights.acts_as(w, d.get("emp")),
    ("card_review", "review"): lambda w, d, rt: rights.acts_as(w, d.get("emp")),
    ("card_review", "confirm"): lambda w, d, rt: rights.acts_as(w, d.get("supervisor")),
    ("half_year_review", "revise"): _team,
    ("half_year_review", "complete"): lambda w, d, rt: rights.acts_as(w, d.get("supervisor"), d.get("boss")),
    ("annual_evaluation", "submit"): lambda w, d, rt: rights.acts_as(w, d.get("supervisor")),
    ("annual_evaluation", "approve"): lambda w, d, rt: rights.acts_as(w, d.get("supervisor"), d.get("boss")),
    ("tier_review", "propose"): lambda w, d, rt: rights.acts_as(w, d.get("owner"), d.get("supervisor")),
    ("tier_review", "approve"): lambda w, d, rt: rights.decides_tier(w, d),
    ("tier_review", "reject"): lambda w, d, rt: rights.decides_tier(w, d),
    ("win_rate_alert", "acknowledge"): lambda w, d, rt: rights.acknowledges(w, _is_employee(rt, w.emp_no)),
    ("handover", "introduce"): lambda w, d, rt: rights.introduces(w, d),
}

# The form fields each event's action reads (everything else a form posts is dropped).
FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("planning_kit", "approve"): ("comment",),
    ("planning_kit", "send_back"): ("step", "comment"),
    ("self_check", "submit"): ("progress", "note"),
    ("card_review", "review"): ("pbc", "kept", "committed", "note"),
    ("card_review", "confirm"): ("comment",),
    ("half_year_review", "complete"): ("summary",),
    ("annual_evaluation", "submit"): ("score", "process_score", "result_score", "summary"),
    ("annual_evaluation", "approve"): ("summary",),
    ("tier_review", "propose"): ("tier", "reason"),
    ("tier_review", "approve"): ("comment",),
    ("tier_review", "reject"): ("comment",),
    ("win_rate_alert", "acknowledge"): ("note",),
    ("handover", "introduce"): ("note", "date"),
}

# Kit events sent by a workbook upload (one upload completes as many steps as it fills).
KIT_UPLOAD_EVENTS = ("submit_assessment", "submit_objectives", "submit_plan", "request_review")


def _user_events(rt: Any, inst: InstanceView) -> list[str]:
    defn = rt.definitions.get(inst.flow, inst.flow_version)
    internal = {e.name for e in defn.events if e.internal}
    return [e for e in defn.events_allowed_in(inst.state) if e not in internal]


def allowed_actions(rt: Any, instance_id: int, *, principal: Principal) -> list[str]:
    """The events of instance `instance_id` that `principal` may send now (the page offers exactly these)."""
    inst = load_instance(rt, instance_id)
    if inst.ended_us:
        return []
    return [e for e in _user_events(rt, inst)
            if (rule := RULES.get((inst.flow, e))) is not None and rule(principal, inst.data, rt)]


def take_action(rt: Any, instance_id: int, event: str, *, principal: Principal, form: dict[str, str],
                client_event_id: Optional[str] = None) -> Any:
    """Send `event` with the fields its action reads, as `principal` (who must be able to read the instance)."""
    inst = read_instance(rt, instance_id, principal=principal)
    return send_form(rt, inst, event, FIELDS.get((inst.flow, event)), principal=principal, form=form,
                     client_event_id=client_event_id)


def kit_workbook(rt: Any, instance_id: int, *, principal: Principal) -> Path:
    """The kit workbook of a planning-kit instance, for those who may read the kit (else `NotVisible`)."""
    from flows.planning.common import kit_dir

    inst = read_instance(rt, instance_id, principal=principal, what="download")
    stored = Path(str(inst.data.get("kit_path") or ""))
    if inst.flow != "planning_kit" or not stored.name:
        from engine.i18n import t
        from flows.planning.kit import KitRefused

        raise KitRefused(t("web.instance.no_kit", locale=principal.locale, id=instance_id))
    base = kit_dir()
    # The stored path came from a step's data: joined again through the one guard against leaving the folder.
    parts = stored.resolve().relative_to(base).parts if stored.is_absolute() and base in stored.resolve().parents \
        else (str(inst.data.get("year")), stored.name)
    from flows.planning.kit import kit_file

    return kit_file(rt, inst.data, safe_join(base, *parts))


def upload_kit(rt: Any, instance_id: int, file: Path, *, principal: Principal,
               client_event_id: Optional[str] = None) -> Any:
    """A filled kit workbook posted from the kit's page: the same validation and steps as `mcr planning submit`."""
    from flows.planning.kit import submit_kit

    inst = read_instance(rt, instance_id, principal=principal)
    if inst.flow != "planning_kit":
        from engine.i18n import t
        from flows.planning.kit import KitRefused

        raise KitRefused(t("web.instance.no_kit", locale=principal.locale, id=instance_id))
    return submit_kit(rt, str(inst.data["team"]), file, principal=principal, year=int(inst.data["year"]),
                      client_event_id=client_event_id)
