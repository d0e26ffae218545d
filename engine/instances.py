"""Who may read a flow instance (its page, its history, a file it names) — one rule for every flow.

The people an instance's data names are concerned by it: each flow family declares which data keys
hold employee numbers (`emp`, `supervisor`, `owner`, `from_owner` …; or a list of numbers or of
{"emp_no": …}) and which hold unit codes whose members are concerned (a planning kit's `team`),
with `concerned(...)` in the inbox module its plugin names
(engine/plugins.py; imported with the inbox providers). Those people and everyone above them in the
supervisor tree (上级可以看下级) may read the instance; so may sales management, QA and operators (they
oversee every flow) and the roles a family names (customer care for callbacks). Nobody else: a peer asking
gets `NotVisible` and a `flow_refusal` row.

Services call `read_instance` before showing an instance or a file it names; the pages call the
same function and never decide themselves. `allowed_actions` / `take_action` reach the family's
service (named in its `Concerned`): what a person may do now, and doing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from engine.auth import Principal
from engine.errors import NotVisible, UnknownInstance


@dataclass(frozen=True)
class Concerned:
    """The data keys of a flow's instances that name the people concerned by it."""

    flow: str
    people: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    # The family's service module offering `allowed_actions(rt, id, *, principal)` and
    # `take_action(rt, id, event, *, principal, form, client_event_id)` for the instance page.
    service: Optional[str] = None


_CONCERNED: dict[str, Concerned] = {}


def concerned(*specs: Concerned) -> None:
    """Declare who an instance of each flow concerns (called at import of a family's inbox.py)."""
    for spec in specs:
        existing = _CONCERNED.get(spec.flow)
        if existing is not None and existing != spec:
            raise ValueError(f"flow '{spec.flow}' declares its concerned people twice")
        _CONCERNED[spec.flow] = spec


@dataclass(frozen=True)
class InstanceView:
    """One instance as a reader sees it (the row, its data decoded)."""

    id: int
    flow: str
    flow_version: int
    state: str
    version: int
    subject: Optional[str]
    data: dict[str, Any]
    created_us: int
    updated_us: int
    ended_us: Optional[int]


def _spec(rt: Any, flow: str) -> Optional[Concerned]:
    from engine.inbox import providers

    providers(rt)  # imports each loaded family's inbox module, where it declares `concerned`
    return _CONCERNED.get(flow)


def _unit_members(rt: Any, units: set[str]) -> set[str]:
    if not units:
        return set()
    names = ", ".join(f":u{i}" for i in range(len(units)))
    params = {f"u{i}": u for i, u in enumerate(sorted(units))}
    with rt.db.read() as tx:
        return {r[0] for r in tx.all(f"SELECT emp_no FROM employee WHERE unit_code IN ({names})", params)}


def _named(value: Any) -> list[str]:
    """Employee numbers held by a data value: one number, or a list of numbers or of {"emp_no": …}."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v.get("emp_no")) for v in value
                if isinstance(v, str) or (isinstance(v, dict) and v.get("emp_no"))]
    return []


def may_read(rt: Any, flow: str, data: dict[str, Any], *, principal: Principal) -> bool:
    """True when `principal` may read an instance of `flow` holding `data` (the rule above)."""
    if principal.is_engine or principal.is_operator or principal.is_sales_management or principal.is_qa:
        return True
    spec = _spec(rt, flow)
    if spec is None:
        return False
    if any(principal.has_role(role) for role in spec.roles):
        return True
    if any(principal.covers(emp) for key in spec.people for emp in _named(data.get(key))):
        return True
    units = {str(data[key]) for key in spec.units if data.get(key)}
    if principal.unit_code in units:
        return True
    return bool(principal.below and _unit_members(rt, units) & principal.below)


def load_instance(rt: Any, instance_id: int) -> InstanceView:
    """The instance, unread by any rule (for services that check a permission of their own after)."""
    with rt.db.read() as tx:
        row = tx.one("SELECT id, flow, flow_version, state, version, subject, data, created_us, updated_us, ended_us "
                     "FROM flow_instance WHERE id = :i", {"i": int(instance_id)})
    if row is None:
        from engine.i18n import t

        raise UnknownInstance(t("engine.unknown_instance", id=instance_id), instance_id=int(instance_id))
    data = json.loads(row[6]) if isinstance(row[6], str) else (row[6] or {})
    return InstanceView(id=row[0], flow=row[1], flow_version=row[2], state=row[3], version=row[4], subject=row[5],
                        data=data, created_us=row[7], updated_us=row[8], ended_us=row[9])


def read_instance(rt: Any, instance_id: int, *, principal: Principal, what: str = "read") -> InstanceView:
    """The instance if `principal` may read it; else `NotVisible`, recorded in `flow_refusal`.

    `what` names the read in the refusal row (`read`, `download`)."""
    from engine.i18n import t

    inst = load_instance(rt, instance_id)
    if may_read(rt, inst.flow, inst.data, principal=principal):
        return inst
    exc = NotVisible(t("web.instance.not_visible", locale=principal.locale, id=inst.id))
    rt.record_refusal(inst.id, principal.actor, what, exc)
    raise exc


def _service(rt: Any, flow: str) -> Any:
    import importlib

    spec = _spec(rt, flow)
    return importlib.import_module(spec.service) if spec is not None and spec.service else None


def allowed_actions(rt: Any, instance_id: int, *, principal: Principal) -> list[str]:
    """The events `principal` may send to the instance now, from its family's service ([] if it offers none)."""
    inst = load_instance(rt, instance_id)
    service = _service(rt, inst.flow)
    return list(service.allowed_actions(rt, inst.id, principal=principal)) if service is not None else []


def take_action(rt: Any, instance_id: int, event: str, *, principal: Principal, form: dict[str, str],
                client_event_id: Optional[str] = None) -> Any:
    """Send `event` through the instance's family service (which checks, with the step, who may)."""
    from engine.errors import EventNotAllowed
    from engine.i18n import t

    inst = read_instance(rt, instance_id, principal=principal)
    service = _service(rt, inst.flow)
    if service is None:
        raise EventNotAllowed(t("web.instance.no_form", locale=principal.locale, event=event, flow=inst.flow),
                              instance_id=inst.id, event=event, state=inst.state)
    return service.take_action(rt, inst.id, event, principal=principal, form=form, client_event_id=client_event_id)


def send_form(rt: Any, inst: InstanceView, event: str, fields: Optional[tuple[str, ...]], *, principal: Principal,
              form: dict[str, str], client_event_id: Optional[str] = None) -> Any:
    """Send `event` with the named `fields` of a submitted form (blank ones left out) — the families'
    `take_action` after they have picked the event's fields; `fields` None: the event has no form."""
    from engine.errors import EventNotAllowed
    from engine.i18n import t

    if fields is None:
        raise EventNotAllowed(t("web.instance.no_form", locale=principal.locale, event=event, flow=inst.flow),
                              instance_id=inst.id, event=event, state=inst.state)
    payload: dict[str, Any] = {k: form[k].strip() for k in fields if (form.get(k) or "").strip()}
    return rt.send(inst.id, event, actor=principal.actor, principal=principal, payload=payload,
                   client_event_id=client_event_id)
