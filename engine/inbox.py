"""我的待办 / My work: every open item of one person across every flow, due first.

Each flow family contributes a *provider* — `fn(rt, principal, now) -> list[InboxItem]` registered
with `@inbox_provider("name")` in the inbox module its plugin names (engine/plugins.py; flows/itr/inbox.py, ...).
The core names no flow: `providers(rt)` imports the inbox module of each family whose flows the runtime loaded.

A provider must read through indexes that select *open* work only (a flow state, an open status,
a "not closed" column): the inbox must not grow with the number of closed issues (see
tests/benchmarks/test_inbox_benchmark.py). Providers never decide permissions beyond "is this mine";
the pages and services decide what may be done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from engine import plugins
from engine.auth import Principal

Provider = Callable[[Any, Principal, datetime], Iterable["InboxItem"]]
_PROVIDERS: dict[str, Provider] = {}
_loaded: set[str] = set()
_lock = threading.Lock()

# The kinds of item, in the order the navigation lists their counts; each is labelled `web.kind.<kind>`.
KINDS = ("issue", "queue", "close", "callback", "qa", "major_incident", "kit", "self_check", "card_review", "review",
         "tier_review", "handover", "care")
# kind → catalogue key of its label: the kinds above, and those a flow family declares with
# `inbox_kinds(...)` in its inbox module, so that a new family needs no change here.
_KIND_LABELS: dict[str, str] = {kind: f"web.kind.{kind}" for kind in KINDS}


@dataclass(frozen=True)
class InboxItem:
    """One thing waiting for this person. `link` is a site path (`/issues/12`, `/instances/40`)."""

    kind: str
    title: str
    flow: str
    instance_id: Optional[int]
    state: str
    due: Optional[datetime]
    link: str
    detail: str = ""
    overdue: bool = False


@dataclass(frozen=True)
class Inbox:
    items: list[InboxItem]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.items)


def inbox_provider(name: str) -> Callable[[Provider], Provider]:
    """Register a provider under a unique name (a flow family: "itr", "planning", "survey")."""
    def register(fn: Provider) -> Provider:
        existing = _PROVIDERS.get(name)
        if existing is not None and existing.__qualname__ != fn.__qualname__:
            raise ValueError(f"inbox provider '{name}' is registered twice ({existing.__module__}, {fn.__module__})")
        _PROVIDERS[name] = fn
        return fn
    return register


def inbox_kinds(**labels: str) -> None:
    """Declare a family's own kinds of item with the catalogue key of their label, e.g.
    `inbox_kinds(profile="profiles.inbox.kind.profile")`. A kind keeps one label: declaring it
    again with another key is a mistake (two families would show one kind two ways)."""
    for kind, key in labels.items():
        existing = _KIND_LABELS.get(kind)
        if existing is not None and existing != key:
            raise ValueError(f"inbox kind '{kind}' is labelled twice ({existing}, {key})")
        _KIND_LABELS[kind] = key


def kind_label(kind: str) -> Optional[str]:
    """The catalogue key of a kind's label; None for a kind nobody declared (shown as it is)."""
    return _KIND_LABELS.get(kind)


def providers(rt: Any) -> dict[str, Provider]:
    """The registered providers, after importing the inbox module of each flow family (engine/plugins.py)
    whose flows the runtime loaded."""
    families = {plugins.owner_of(Path(d.source_file)) for d in rt.definitions.by_key.values() if d.source_file}
    for plugin in sorted((f for f in families if f is not None and f.inbox), key=lambda f: f.name):
        if plugin.name not in _loaded:
            with _lock:
                plugins.resolve(plugin.inbox)  # registers its providers, kinds and `concerned(...)` declarations
                _loaded.add(plugin.name)
    return dict(_PROVIDERS)


def _sort_key(item: InboxItem) -> tuple[int, float, str, int]:
    # Due first (soonest, overdue before), undated after; then by kind and instance for stability.
    return (0 if item.due is not None else 1, item.due.timestamp() if item.due else 0.0, item.kind,
            item.instance_id or 0)


def inbox(rt: Any, *, principal: Principal, now: Optional[datetime] = None) -> Inbox:
    """Every open item of `principal`, due first, overdue marked, with counts per kind."""
    now = now or rt.clock.now()
    items: list[InboxItem] = []
    for provide in providers(rt).values():
        for item in provide(rt, principal, now):
            overdue = item.due is not None and item.due < now
            items.append(item if item.overdue == overdue else _with_overdue(item, overdue))
    items.sort(key=_sort_key)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return Inbox(items=items, counts=counts)


def counts(rt: Any, *, principal: Principal) -> dict[str, int]:
    """Open items per kind, for the navigation."""
    return inbox(rt, principal=principal).counts


def _with_overdue(item: InboxItem, overdue: bool) -> InboxItem:
    from dataclasses import replace

    return replace(item, overdue=overdue)


# ---------------------------------------------------------------------------------------------- helpers for providers


def parse_instant(value: Any) -> Optional[datetime]:
    """A due instant stored in flow data (ISO text) or as microseconds; None when absent."""
    from engine.clock import from_us

    if value is None or value == "":
        return None
    if isinstance(value, int):
        return from_us(value)
    when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        return None
    return when


def open_instances(rt: Any, flow: str, states: Iterable[str],
                   mentioning: Optional[Iterable[str]] = None) -> list[tuple[int, str, dict[str, Any], Optional[str]]]:
    """(id, state, data, subject) of the instances of `flow` in `states` — through the (flow, state)
    index, so only open instances are read, never the ended ones.

    `mentioning` (codes such as an employee number or a unit code) keeps only the instances whose data
    holds one of them as a JSON string: a coarse filter done by the database, so that thousands of
    other people's open instances are not decoded in Python for each page; callers still check the keys."""
    import json

    wanted = list(states)
    names = ", ".join(f":s{i}" for i in range(len(wanted)))
    params: dict[str, Any] = {"flow": flow, **{f"s{i}": s for i, s in enumerate(wanted)}}
    where = ""
    codes = [c for c in (mentioning or ()) if c]
    if mentioning is not None:
        if not codes:
            return []
        # LIKE wildcards in a code are escaped; the quotes make "E1" not match "E10".
        escaped = [c.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for c in codes]
        where = " AND (" + " OR ".join(f"data LIKE :m{i} ESCAPE '\\'" for i in range(len(codes))) + ")"
        params.update({f"m{i}": f'%"{e}"%' for i, e in enumerate(escaped)})
    with rt.db.read() as tx:
        rows = tx.all(f"SELECT id, state, data, subject FROM flow_instance WHERE flow = :flow AND state IN ({names})"
                      + where, params)
    return [(r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else (r[2] or {}), r[3]) for r in rows]


def state_title(rt: Any, flow: str, state: str, locale: str) -> str:
    """The state's title from the flow definition, in `locale`."""
    spec = rt.definitions.get(flow).state_by_name(state)
    return spec.title.get(locale) or spec.title.get("zh-CN") or state


@dataclass(frozen=True)
class Assignment:
    """Who owes the next step of a flow in some states, read from its instance data.

    `who` are data keys holding employee numbers (`"emp"`, `"supervisor"`); `team` a data key holding
    a unit code whose members all owe it (a planning kit); `due` the data key of the due instant;
    `label` the data keys shown after the flow's title (`"emp_name"`, `"team_name"`)."""

    flow: str
    states: tuple[str, ...]
    kind: str
    who: tuple[str, ...] = ()
    team: Optional[str] = None
    due: Optional[str] = None
    label: tuple[str, ...] = ()


def assigned_items(rt: Any, principal: Principal, assignments: Iterable[Assignment]) -> list[InboxItem]:
    """Inbox items for the flows whose instance data names who owes the step (open instances only)."""
    items: list[InboxItem] = []
    loaded = {d.name for d in rt.definitions.by_key.values()}
    for a in assignments:
        if a.flow not in loaded:
            continue
        title = rt.definitions.get(a.flow).title_of(principal.locale)
        mentions: Optional[list[str]] = [principal.emp_no] + (
            [principal.unit_code] if a.team is not None and principal.unit_code else [])
        if not all(m.isascii() and '"' not in m and "\\" not in m for m in mentions or ()):
            mentions = None  # stored JSON might escape such a code: no coarse filter, Python decides alone
        for iid, state, data, _subject in open_instances(rt, a.flow, a.states, mentioning=mentions):
            mine = any(data.get(k) == principal.emp_no for k in a.who) or (
                a.team is not None and principal.unit_code is not None and data.get(a.team) == principal.unit_code)
            if not mine:
                continue
            due = data
            for part in (a.due or "").split("."):
                due = due.get(part) if isinstance(due, dict) else None
            label = " · ".join(str(data[k]) for k in a.label if data.get(k))
            items.append(InboxItem(kind=a.kind, title=f"{title}{' · ' + label if label else ''}", flow=a.flow,
                                   instance_id=iid, state=state, due=parse_instant(due) if a.due else None,
                                   link=f"/instances/{iid}", detail=state_title(rt, a.flow, state, principal.locale)))
    return items
