"""Flow definitions: pydantic models of the YAML files, the loader and the validator.

A flow is data: states (one initial, at least one terminal), events, transitions with guards
and actions referred to by name, timers attached to states, and recurring launches. Loading
validates everything once and reports every problem as `file:line: message`; after that
the runtime trusts the model. This module never touches the database or the clock.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)

from engine.errors import InvalidDefinition, MCRError, Problem, UnknownFlow
from engine.registry import Registry, registry as default_registry
from engine.rules import rules_value
from engine.timespec import (Anchor, Condition, Duration, Recurrence, TimeSpecError, has_rules_ref, parse_anchor,
                             parse_condition, parse_duration, parse_recurrence, rules_refs, timer_text)
from engine.yamlsrc import YamlSyntaxError, load_yaml, parse_yaml, validation_problems

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
BUILTIN_ACTIONS = {"mail", "set"}


class _Located(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)
    line: int = Field(default=0, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _take_line(cls, data: Any) -> Any:
        if isinstance(data, dict) and hasattr(data, "line"):
            line = getattr(data, "line", 0)
            data = dict(data)
            data.setdefault("line", line)
        return data


def _line(raw: Any) -> int:
    return getattr(raw, "line", 0)


class TimerSpec(_Located):
    """A timer armed when its state is entered and cancelled when the state is left.

    `after`/`at`/`every` may name a value of the instance's pinned rules (`rules.survey.x.due`, or
    `{rules.x.y}` inside a longer text); `when` arms it only while a data condition holds; `each`
    arms one timer per item of a rules list (`{item}` in the texts), named `<name>1..<name>N`;
    `once` never arms it again after it fired (re-entering a state after a reminder went out).
    """

    name: str
    event: str
    after: str | None = None
    at: str | None = None
    every: str | None = None
    when: str | None = None
    each: str | None = None
    once: bool = False
    catch_up: Literal["fire_late", "skip"] = "fire_late"
    title: dict[str, str] = {}

    _after: Duration | None = None
    _at: Anchor | None = None
    _every: Duration | None = None
    _when: Condition | None = None
    _group: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "TimerSpec":
        if (self.after is None) == (self.at is None):
            raise ValueError(f"timer '{self.name}' needs exactly one of 'after' or 'at'")
        return self

    @property
    def after_spec(self) -> Duration | None:
        return self._after

    @property
    def after_path(self) -> str | None:
        """`after: data.sla` — the duration is read from the instance's data when the timer is armed."""
        return self.after if self.after is not None and is_data_path(self.after) else None

    @property
    def at_spec(self) -> Anchor | None:
        return self._at

    @property
    def every_spec(self) -> Duration | None:
        return self._every

    @property
    def dynamic(self) -> bool:
        """Its texts take values from the pinned rules or the list item: resolved when armed."""
        return bool(self.each) or any(t is not None and has_rules_ref(t) for t in (self.after, self.at, self.every))

    @property
    def group(self) -> str | None:
        return self._group


class TimerGroupRef(_Located):
    """`timers: [{group: deadlines}]` — the timers of a `timer_groups` entry, shared by several states."""

    group: str

class ActionRef(_Located):
    """One action of a transition: a registered name with parameters, or the built-in `mail`/`set`."""

    name: str
    params: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        line = _line(data)
        if isinstance(data, str):
            return {"name": data, "line": line}
        if isinstance(data, dict) and "name" not in data:
            if "mail" in data:
                params = {k: v for k, v in data.items() if k != "line"}
                params["template"] = params.pop("mail")
                return {"name": "mail", "params": params, "line": line}
            if "set" in data:
                return {"name": "set", "params": dict(data["set"]), "line": line}
            keys = [k for k in data if k != "line"]
            if len(keys) == 1 and isinstance(data[keys[0]], dict):
                return {"name": keys[0], "params": dict(data[keys[0]]), "line": line}
        return data


def _timer_or_group(value: Any) -> str:
    if isinstance(value, dict):
        return "group" if "group" in value else "timer"
    return "group" if isinstance(value, TimerGroupRef) else "timer"


class StateSpec(_Located):
    name: str
    initial: bool = False
    terminal: bool = False
    title: dict[str, str] = {}
    timers: list[Annotated[Union[Annotated[TimerSpec, Tag("timer")], Annotated[TimerGroupRef, Tag("group")]],
                           Discriminator(_timer_or_group)]] = []

    @property
    def timer_specs(self) -> list[TimerSpec]:
        """The state's own timers and its groups' (expanded by the loader)."""
        return [t for t in self.timers if isinstance(t, TimerSpec)]


class EventSpec(_Located):
    name: str
    title: dict[str, str] = {}
    # Sent only by the engine (timers, launches, scans): the runtime refuses it from anyone else,
    # so a user cannot forge e.g. `sla_breached` to escalate past a quota.
    internal: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        return data


class TransitionSpec(_Located):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: list[str] = Field(alias="from")
    event: str
    target: str | None = Field(default=None, alias="to")
    guard: str | None = None
    actions: list[ActionRef] = []

    @field_validator("source", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def guard_name(self) -> str | None:
        return self.guard.removeprefix("not ").strip() if self.guard else None

    @property
    def guard_negated(self) -> bool:
        return bool(self.guard and self.guard.startswith("not "))


class LaunchSpec(_Located):
    """A recurring launch run by the scheduler, e.g. the 1 Dec planning-kit launch."""

    name: str
    every: str
    launcher: str
    catch_up: Literal["fire_late", "skip"] = "fire_late"
    params: dict[str, Any] = {}

    _every: Recurrence | None = None

    @property
    def recurrence(self) -> Recurrence:
        assert self._every is not None
        return self._every


class FlowDefinition(_Located):
    name: str = Field(alias="flow")
    version: int = Field(ge=1)
    title: dict[str, str] = {}
    description: str = ""
    module: str | None = None
    calendar: str | None = None
    locale: str | None = None
    events: list[EventSpec]
    states: list[StateSpec]
    transitions: list[TransitionSpec]
    timer_groups: dict[str, list[TimerSpec]] = {}
    launches: list[LaunchSpec] = []
    on_start: list[ActionRef] = Field(default=[], description="actions run in the start step itself")
    started_by: Literal["anyone", "service"] = Field(
        default="anyone", description="'service': only the family's service or another step may start it")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Filled in by the loader.
    source_file: str = Field(default="", exclude=True)
    source_text: str = Field(default="", exclude=True)
    template_dir: str = Field(default="", exclude=True)

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source_text.encode()).hexdigest()[:16]

    @property
    def initial(self) -> StateSpec:
        return next(s for s in self.states if s.initial)

    def state(self, name: str) -> StateSpec:
        return self._states[name]

    def state_by_name(self, name: str) -> StateSpec:
        return next(s for s in self.states if s.name == name)

    def title_of(self, locale: str = DEFAULT_LOCALE) -> str:
        return self.title.get(locale) or self.title.get(DEFAULT_LOCALE) or self.name

    def transitions_for(self, state: str, event: str) -> list[TransitionSpec]:
        return self._index.get((state, event), [])

    def events_allowed_in(self, state: str) -> list[str]:
        return sorted({e for (s, e) in self._index if s == state})

    def compile(self) -> None:
        """Build the lookup tables the runtime uses on every event."""
        self._states = {s.name: s for s in self.states}
        index: dict[tuple[str, str], list[TransitionSpec]] = {}
        for t in self.transitions:
            sources = ([s.name for s in self.states if not s.terminal]
                       if "*" in t.source else t.source)
            for src in sources:
                index.setdefault((src, t.event), []).append(t)
        self._index = index

    _states: dict[str, StateSpec] = {}
    _index: dict[tuple[str, str], list[TransitionSpec]] = {}


def is_data_path(text: str) -> bool:
    return str(text).startswith("data.")


def template_path(defn: FlowDefinition, template: str, locale: str) -> Path:
    return Path(defn.template_dir) / f"{template}.{locale}.j2"


# ---------------------------------------------------------------------------------------------
# Validation


def _check(defn: FlowDefinition, raw: Any, path: str, reg: Registry) -> list[Problem]:
    problems: list[Problem] = []

    def bad(line: int, msg: str) -> None:
        problems.append(Problem(path, line or defn.line, msg))

    def dupes(items: list[Any], kind: str) -> None:
        seen: dict[str, int] = {}
        for item in items:
            if item.name in seen:
                bad(item.line, f"duplicate {kind} '{item.name}' (first defined at line {seen[item.name]})")
            seen.setdefault(item.name, item.line)

    dupes(defn.states, "state")
    dupes(defn.events, "event")
    dupes(defn.launches, "launch")
    _expand_groups(defn, bad)
    for s in defn.states:
        dupes(s.timer_specs, f"timer in state '{s.name}'")

    states = {s.name for s in defn.states}
    events = {e.name for e in defn.events}
    initials = [s for s in defn.states if s.initial]
    if len(initials) != 1:
        bad(defn.line, f"a flow needs exactly one initial state, found {len(initials)}"
            + (f" ({', '.join(s.name for s in initials)})" if initials else ""))
    if not any(s.terminal for s in defn.states):
        bad(defn.line, "a flow needs at least one terminal state")
    for s in defn.states:
        if s.initial and s.terminal:
            bad(s.line, f"state '{s.name}' cannot be both initial and terminal")

    if defn.module:
        try:
            import_flow_module(defn.module, Path(path).parent)
        except Exception as exc:  # the module's own error is what the author must fix
            bad(getattr(raw, "key_lines", {}).get("module", defn.line),
                f"cannot import module '{defn.module}': {type(exc).__name__}: {exc}")

    def known_state(name: str, line: int, role: str) -> None:
        if name not in states:
            bad(line, f"unknown state '{name}' in {role}; known states: {', '.join(sorted(states))}")

    def known_event(name: str, line: int, role: str) -> None:
        if name not in events:
            bad(line, f"unknown event '{name}' in {role}; declare it under 'events'")

    def known_actions(refs: list[ActionRef], line: int) -> None:
        for a in refs:
            if a.name in BUILTIN_ACTIONS:
                if a.name == "mail":
                    _check_mail(defn, a, bad)
                continue
            if a.name not in reg.actions:
                bad(a.line or line, f"unknown action '{a.name}'"
                    + (f" (module {defn.module} does not register it)" if defn.module else ""))

    known_actions(defn.on_start, defn.line)
    for t in defn.transitions:
        for src in t.source:
            if src != "*":
                known_state(src, t.line, "'from'")
                if src in states and defn.state_by_name(src).terminal:
                    bad(t.line, f"transition leaves terminal state '{src}'")
        if t.target is not None:
            known_state(t.target, t.line, "'to'")
        known_event(t.event, t.line, "transition")
        if t.guard_name and t.guard_name not in reg.guards:
            bad(t.line, f"unknown guard '{t.guard_name}'"
                + (f" (module {defn.module} does not register it)" if defn.module else ""))
        known_actions(t.actions, t.line)

    for s in defn.states:
        for tm in s.timer_specs:
            known_event(tm.event, tm.line, f"timer '{tm.name}'")
            _check_timer(tm, bad)
            if s.terminal:
                bad(tm.line, f"timer '{tm.name}' on terminal state '{s.name}' would never fire")

    for ln in defn.launches:
        try:
            # `every: rules.survey.annual.launch` takes the schedule from today's rules files: read when the
            # definitions load (a changed date applies at the next start / `mcr deploy`).
            ln._every = parse_recurrence(timer_text(ln.every, rules_value) if has_rules_ref(ln.every) else ln.every)
        except TimeSpecError as exc:
            bad(ln.line, f"launch '{ln.name}': {exc}")
        if ln.launcher not in reg.launchers:
            bad(ln.line, f"launch '{ln.name}': unknown launcher '{ln.launcher}'")

    if not problems and initials:
        problems.extend(_check_graph(defn, path))
    return problems


def _expand_groups(defn: FlowDefinition, bad: Any) -> None:
    """Replace each `{group: NAME}` of a state by copies of the group's timers (one arming per entry)."""
    used: set[str] = set()
    for s in defn.states:
        out: list[TimerSpec | TimerGroupRef] = []
        for item in s.timers:
            if isinstance(item, TimerSpec):
                out.append(item)
                continue
            members = defn.timer_groups.get(item.group)
            if members is None:
                known = ", ".join(sorted(defn.timer_groups)) or "none"
                bad(item.line, f"unknown timer group '{item.group}' in state '{s.name}'; "
                               f"timer_groups defines: {known}")
                continue
            used.add(item.group)
            for tm in members:
                copy = tm.model_copy(deep=True)
                copy.line = item.line  # problems of a copy point at the state that uses the group
                copy._group = item.group
                out.append(copy)
        s.timers = out
    for name, members in defn.timer_groups.items():
        if name not in used:
            bad(members[0].line if members else defn.line, f"timer group '{name}' is used by no state")


def _check_timer(tm: TimerSpec, bad: Any) -> None:
    """Parse a timer's texts once; a text taking rules values is checked against today's rules files."""
    where = f"timer '{tm.name}'"
    items: list[Any] = [None]
    try:
        if tm.when is not None:
            tm._when = parse_condition(tm.when)
        if tm.each is not None:
            if not tm.each.startswith("rules."):
                raise TimeSpecError(f"'each: {tm.each}' must name a rules list, e.g. rules.planning.kit.reminders")
            items = rules_value(tm.each)
            if not isinstance(items, list) or not items:
                raise TimeSpecError(f"'each: {tm.each}' is not a non-empty list in the rules ({items!r})")
            if tm.every is not None:
                raise TimeSpecError("a list timer ('each') cannot also repeat ('every')")
        texts = {"after": tm.after, "at": tm.at, "every": tm.every}
        for key, text in texts.items():
            if text is None:
                continue
            if "{item}" in text and tm.each is None:
                raise TimeSpecError(f"'{key}: {text}' uses {{item}} but the timer has no 'each'")
            for ref in rules_refs(text):
                rules_value(ref)  # raises naming the file and the missing key
        if not tm.dynamic:
            tm._after = parse_duration(tm.after) if tm.after is not None and not is_data_path(tm.after) else None
            tm._at = parse_anchor(tm.at) if tm.at is not None else None
            tm._every = parse_duration(tm.every) if tm.every is not None else None
            return
        for item in items:  # what today's rules make of it must parse; a pinned version is checked when armed
            after = timer_text(tm.after, rules_value, item) if tm.after is not None else None
            if after is not None and not is_data_path(after):
                parse_duration(after)
            if tm.at is not None:
                parse_anchor(timer_text(tm.at, rules_value, item))
            if tm.every is not None:
                parse_duration(timer_text(tm.every, rules_value, item))
    except (TimeSpecError, MCRError) as exc:
        bad(tm.line, f"{where}: {exc}")


def import_flow_module(module: str, base: Path) -> Any:
    """Import a flow's Python module: a dotted name, or a `.py` file beside the flow file."""
    if not module.endswith(".py"):
        return importlib.import_module(module)

    file = (base / module).resolve()
    name = "mcr_flowmod_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def _check_mail(defn: FlowDefinition, a: ActionRef, bad: Any) -> None:
    template = a.params.get("template")
    if not template or not a.params.get("to"):
        bad(a.line, "mail action needs 'mail: TEMPLATE' and 'to: RECIPIENT-PATH'")
        return
    for locale in LOCALES:
        p = template_path(defn, str(template), locale)
        if not p.is_file():
            bad(a.line, f"unknown template '{template}': {p} does not exist")
    invite = a.params.get("invite")
    if invite is not None:  # a calendar invitation on the mail (engine/channels/invite.py)
        when = {"due", "at", "on"} & set(invite) if isinstance(invite, dict) else set()
        if not isinstance(invite, dict) or "key" not in invite or len(when) != 1 \
                or set(invite) - {"key", "due", "at", "on", "minutes"}:
            bad(a.line, "mail action: write invite as {key: NAME, due|at|on: data.FIELD[, minutes: N]}")


def _check_graph(defn: FlowDefinition, path: str) -> list[Problem]:
    problems: list[Problem] = []
    defn.compile()
    forward: dict[str, set[str]] = {s.name: set() for s in defn.states}
    for (src, _event), ts in defn._index.items():
        for t in ts:
            forward[src].add(t.target or src)
    seen = {defn.initial.name}
    queue = deque(seen)
    while queue:
        for nxt in forward[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    for s in defn.states:
        if s.name not in seen:
            problems.append(Problem(path, s.line, f"state '{s.name}' is unreachable from the initial state"))
    backward: dict[str, set[str]] = {s.name: set() for s in defn.states}
    for src, targets in forward.items():
        for t in targets:
            backward[t].add(src)
    can_end = {s.name for s in defn.states if s.terminal}
    queue = deque(can_end)
    while queue:
        for prev in backward[queue.popleft()]:
            if prev not in can_end:
                can_end.add(prev)
                queue.append(prev)
    for s in defn.states:
        if s.name in seen and s.name not in can_end:
            problems.append(Problem(path, s.line, f"state '{s.name}' has no path to a terminal state"))
    return problems


# ---------------------------------------------------------------------------------------------
# Loading


def parse_definition(path: Path, reg: Registry | None = None,
                     text: str | None = None) -> tuple[FlowDefinition | None, list[Problem]]:
    """Parse and check a flow file — or `text`, a version's stored source, read as if it were at `path`."""
    reg = reg or default_registry
    try:
        raw = load_yaml(path) if text is None else parse_yaml(text, path)
    except YamlSyntaxError as exc:
        return None, [exc.problem]
    if not isinstance(raw, dict):
        return None, [Problem(str(path), 1, "a flow file must be a mapping with 'flow', 'version', "
                                            "'events', 'states' and 'transitions'")]
    try:
        defn = FlowDefinition.model_validate(raw)
    except ValidationError as exc:
        return None, validation_problems(path, raw, exc)
    defn.source_file = str(path)
    defn.source_text = path.read_text(encoding="utf-8") if text is None else text
    defn.template_dir = str(path.parent / "templates")
    problems = _check(defn, raw, str(path), reg)
    if not problems:
        defn.compile()
    return defn, problems


def flow_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.yaml") if "templates" not in p.parts)


@dataclass(frozen=True, slots=True)
class CompiledTimer:
    name: str
    event: str
    after: Duration | None
    after_path: str | None
    at: Anchor | None
    every: Duration | None
    catch_up: str
    needs_calendar: bool
    when: Condition | None = None
    each: str | None = None
    once: bool = False
    # Texts resolved when armed (they take values from the instance's pinned rules or the list item).
    after_text: str | None = None
    at_text: str | None = None
    every_text: str | None = None


def _compile_timer(t: TimerSpec) -> CompiledTimer:
    if t.dynamic:
        return CompiledTimer(t.name, t.event, None, None, None, None, t.catch_up, True, t._when, t.each, t.once,
                             t.after, t.at, t.every)
    return CompiledTimer(t.name, t.event, t.after_spec, t.after_path, t.at_spec, t.every_spec, t.catch_up,
                         bool(t.at_spec or t.after_path or (t.after_spec and t.after_spec.business)
                              or (t.every_spec and t.every_spec.business)),
                         t._when, None, t.once)


@dataclass(frozen=True, slots=True)
class CompiledTransition:
    target: str | None
    guard: str | None
    guard_name: str | None
    guard_negated: bool
    actions: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True, slots=True)
class CompiledState:
    name: str
    terminal: bool
    timers: tuple[CompiledTimer, ...]


class CompiledFlow:
    """Plain lookup tables the runtime uses on every event (no pydantic on the hot path)."""

    __slots__ = ("defn", "name", "version", "template_dir", "initial", "states", "index", "allowed", "on_start",
                 "internal", "conditional", "timer_names")

    def __init__(self, defn: FlowDefinition) -> None:
        self.defn = defn
        self.name, self.version, self.template_dir = defn.name, defn.version, defn.template_dir
        self.states = {
            s.name: CompiledState(s.name, s.terminal, tuple(_compile_timer(t) for t in s.timer_specs))
            for s in defn.states}
        self.initial = self.states[defn.initial.name]
        # Per state: the timers with a `when:` (re-checked after a step that stays), and the plain timer names.
        self.conditional = {n: tuple(t for t in st.timers if t.when is not None) for n, st in self.states.items()}
        self.timer_names = {n: frozenset(t.name for t in st.timers if t.each is None) for n, st in self.states.items()}
        index: dict[tuple[str, str], list[CompiledTransition]] = {}
        for t in defn.transitions:
            sources = [s.name for s in defn.states if not s.terminal] if "*" in t.source else t.source
            ct = CompiledTransition(t.target, t.guard, t.guard_name, t.guard_negated,
                                    tuple((a.name, dict(a.params)) for a in t.actions))
            for src in sources:
                index.setdefault((src, t.event), []).append(ct)
        self.index = index
        allowed: dict[str, list[str]] = {}
        for (src, event) in index:
            allowed.setdefault(src, []).append(event)
        self.allowed = {k: sorted(set(v)) for k, v in allowed.items()}
        self.on_start = tuple((a.name, dict(a.params)) for a in defn.on_start)
        self.internal = frozenset(e.name for e in defn.events if e.internal)


@dataclass
class DefinitionSet:
    """Every loaded definition by (name, version); new instances start on the latest version."""

    by_key: dict[tuple[str, int], FlowDefinition] = field(default_factory=dict)
    _compiled: dict[tuple[str, int], CompiledFlow] = field(default_factory=dict)

    def add(self, defn: FlowDefinition) -> None:
        self.by_key[defn.key] = defn
        self._compiled[defn.key] = CompiledFlow(defn)

    def compiled(self, name: str, version: int) -> CompiledFlow:
        found = self._compiled.get((name, version))
        if found is None:
            found = self._compiled[self.get(name, version).key]
        return found

    def get(self, name: str, version: int | None = None) -> FlowDefinition:
        if version is not None:
            found = self.by_key.get((name, version))
            if found is None:
                raise UnknownFlow(f"flow '{name}' version {version} is not loaded")
            return found
        versions = [v for (n, v) in self.by_key if n == name]
        if not versions:
            known = ", ".join(sorted({n for n, _ in self.by_key})) or "none"
            raise UnknownFlow(f"unknown flow '{name}'; loaded flows: {known}")
        return self.by_key[(name, max(versions))]

    def latest(self) -> list[FlowDefinition]:
        names = sorted({n for n, _ in self.by_key})
        return [self.get(n) for n in names]

    def __len__(self) -> int:
        return len(self.by_key)


def load_definitions(*roots: Path, reg: Registry | None = None) -> DefinitionSet:
    """Load every flow file under the roots; raise `InvalidDefinition` listing every problem."""
    problems: list[Problem] = []
    out = DefinitionSet()
    first_file: dict[tuple[str, int], str] = {}
    files = [f for root in roots for f in flow_files(Path(root))]
    for root in roots:
        if not Path(root).exists():
            problems.append(Problem(str(root), 0, "no such file or directory"))
    for path in files:
        defn, found = parse_definition(path, reg)
        problems.extend(found)
        if defn is None or found:
            continue
        if defn.key in first_file:
            problems.append(Problem(str(path), defn.line,
                                    f"duplicate flow '{defn.name}' version {defn.version} "
                                    f"(also in {first_file[defn.key]})"))
            continue
        first_file[defn.key] = str(path)
        out.add(defn)
    if problems:
        raise InvalidDefinition(problems)
    return out
