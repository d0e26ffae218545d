"""The runtime: start an instance, send an event, fire a timer — each ONE SQL transaction.

A step loads the instance (row-locked on PostgreSQL; under the single write lock on SQLite),
checks its version, picks the transition (state, event, guard), runs the actions, updates the
instance with a version check, appends history, cancels the old state's timers and arms the
new state's, writes outbox rows, and commits once. A refused step raises a typed
`TransitionRefused`, changes nothing, and is logged in `flow_refusal` (in its own small
transaction). This module knows nothing of HTTP, CLI, SMTP or the scheduler.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, TypeVar

from engine import sql
from engine.clock import Clock, SystemClock, from_us, to_us
from engine.db import Database, Tx
from engine.definition import (DEFAULT_LOCALE, CompiledFlow, CompiledState, CompiledTimer, CompiledTransition,
                               DefinitionSet, FlowDefinition, is_data_path)
from engine.auth.principal import Principal
from engine.errors import (ActionFailed, EventNotAllowed, GuardRejected, InternalEventRefused, MCRError, StaleVersion,
                           StartedByServiceOnly,
                           TransitionRefused, UnknownInstance)
from engine.group_commit import GroupCommitFailed, GroupCommitter
from engine.i18n import t
from engine.registry import Registry, registry as default_registry
from engine.rules import PinnedRules, pinned_rules, register_rules
from engine.channels.outbox import outbox_rows
from engine.timespec import (Anchor, Duration, TimeSpecError, lookup_path, parse_anchor, parse_duration,
                             timer_text)

log = logging.getLogger("mcr.runtime")
T = TypeVar("T")


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


@dataclass
class StepResult:
    instance_id: int
    from_state: str | None
    to_state: str
    version: int
    duplicate: bool = False
    mails: int = 0
    earliest_timer: datetime | None = None


@dataclass
class QueuedMail:
    template: str
    recipient: str
    locale: str
    context: dict[str, Any]
    dedupe_key: str | None
    template_dir: str
    invites: tuple[Any, ...] = ()  # engine.channels.invite.Invite: a calendar entry sent with the mail


@dataclass
class StepContext:
    """What a guard or an action sees; actions may change `data`, queue mail, or refuse."""

    runtime: "Runtime"
    tx: Tx
    flow: CompiledFlow
    instance_id: int
    state: str | None
    target: str | None
    event: str
    actor: str
    payload: dict[str, Any]
    data: dict[str, Any]
    now: datetime
    locale: str
    calendar_name: str | None
    mails: list[QueuedMail] = field(default_factory=list)
    earliest_timer: datetime | None = None
    principal: Principal | None = None
    rules_version: int | None = None

    @property
    def emp_no(self) -> str:
        """Whose rights apply to this step: the principal's employee, else the actor (timers, the engine).

        Permission checks compare this; history and audit rows record `actor` ("operator root for E1").
        """
        return self.principal.emp_no if self.principal is not None else self.actor

    def who(self) -> Principal:
        """The step's principal for permission checks (the supervisor chain, roles).

        Steps sent without one (the engine's own timers, launches, scans) act as the engine; an
        internal caller that passed only an employee number gets that employee's principal.
        """
        if self.principal is None:
            from engine.auth.principal import principal_in_tx

            engine_actor = self.actor in ("system", "engine", "scenario") or self.actor.startswith("timer:")
            found = None if engine_actor else principal_in_tx(self.tx, self.actor)
            self.principal = found or (Principal.engine(self.actor) if engine_actor
                                       else Principal(emp_no=self.actor, name=self.actor, via="step"))
        return self.principal

    @property
    def rules(self) -> PinnedRules:
        """The rules this instance started under (engine/rules.py): `ctx.rules.get("itr.yaml", ItrRules)`."""
        return self.runtime.rules_for(self.tx, self.rules_version)

    @property
    def calendar(self) -> Any:
        return self.runtime.calendars.get(self.calendar_name)

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.calendar.tz)

    def timer_due(self, state: str, name: str) -> datetime | None:
        """When the declared timer `name` of `state` falls due if the state is entered now — the instant
        the engine arms it with (its rules values pinned), for a step that shows the flow's own deadline
        (a mail, the inbox) without computing it again. None when it would not be armed."""
        spec = next((t for t in self.flow.states[state].timers if t.name == name), None)
        if spec is None:
            raise KeyError(f"flow {self.flow.name} v{self.flow.version}: state '{state}' has no timer '{name}'")
        if spec.when is not None and not spec.when.holds(self.data):
            return None
        row = self.runtime._timer_row(self, state, spec, self.now, f"{self.instance_id}:preview:{name}")
        return from_us(row["due_us"]) if row["status"] == "pending" else None

    def mail(self, template: str, to: str | Iterable[str], *, dedupe_key: str | None = None,
             locale: str | None = None, template_dir: str | None = None, invite: Any = None,
             **context: Any) -> None:
        """Queue a notification per recipient; `invite` (an `engine.channels.invite.Invite`, or a list)
        adds a calendar invitation to the mail. The channels come from rules/notify.yaml."""
        recipients = [to] if isinstance(to, str) else list(to)
        invites = tuple(invite) if isinstance(invite, (list, tuple)) else (invite,) if invite is not None else ()
        for r in recipients:
            if not r:
                continue
            key = f"{dedupe_key}:{r}" if dedupe_key else None
            self.mails.append(QueuedMail(template, r, locale or self.locale, context, key,
                                         template_dir or self.flow.template_dir, invites))

    def refuse(self, message: str, error: type[ActionFailed] = ActionFailed) -> None:
        raise error(message, instance_id=self.instance_id, event=self.event, state=self.state)

    @property
    def defn(self) -> FlowDefinition:
        return self.flow.defn

    def start(self, flow: str, data: dict[str, Any], *, subject: str | None = None,
              calendar: str | None = None, locale: str | None = None) -> int:
        """Start another flow's instance inside this same transaction."""
        return self.runtime._start_in(self.tx, flow, data, actor=self.actor, subject=subject,
                                      calendar=calendar, locale=locale, now=self.now,
                                      principal=self.principal).instance_id


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Runtime:
    def __init__(self, db: Database, definitions: DefinitionSet, *, clock: Clock | None = None,
                 calendars: Any = None, registry: Registry | None = None,
                 worker_id: str | None = None, lease: timedelta | None = None,
                 catch_up_grace: timedelta | None = None) -> None:
        self.db = db
        self.definitions = definitions
        self.clock: Clock = clock or SystemClock()
        if calendars is None:
            from engine.calendar import builtin_registry

            calendars = builtin_registry()
        self.calendars = calendars
        self.registry = registry or default_registry
        self.worker_id = worker_id or _worker_id()
        self.lease = lease or timedelta(seconds=float(os.environ.get("MCR_TIMER_LEASE_S", "60")))
        # A timer found due longer ago than this was missed while the engine was down; its
        # catch-up policy decides whether it still fires.
        self.catch_up_grace = catch_up_grace or timedelta(
            seconds=float(os.environ.get("MCR_CATCH_UP_GRACE_S", "300")))
        self.on_timer_armed: Callable[[datetime], None] | None = None
        # engine/group_commit.py: when set, `start` and `send` from threads not already in a
        # transaction share one transaction (a savepoint each) with the steps arriving alongside.
        self.group_commit: GroupCommitter | None = None
        self._registered: set[tuple[str, int]] = set()
        self._rules: PinnedRules | None = None  # the registered version new instances start under
        self._pinned: dict[int, PinnedRules] = {}

    # ------------------------------------------------------------------ definitions

    def register_definitions(self) -> None:
        """Record each loaded definition version; a changed file under an existing version is refused."""
        from engine.errors import InvalidDefinition, Problem

        now = to_us(self.clock.now())
        problems = []
        with self.db.tx() as tx:
            for defn in self.definitions.by_key.values():
                row = tx.one("SELECT digest FROM flow_definition WHERE name = :n AND version = :v",
                             {"n": defn.name, "v": defn.version})
                if row is None:
                    tx.execute(
                        "INSERT INTO flow_definition (name, version, digest, source, source_file, registered_us) "
                        "VALUES (:n, :v, :d, :s, :f, :now)",
                        {"n": defn.name, "v": defn.version, "d": defn.digest, "s": defn.source_text,
                         "f": defn.source_file, "now": now})
                elif row[0] != defn.digest:
                    used = tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = :n AND flow_version = :v",
                                  {"n": defn.name, "v": defn.version})[0]
                    if used:
                        problems.append(Problem(defn.source_file, defn.line,
                                                f"flow '{defn.name}' version {defn.version} differs from the copy "
                                                f"{used} instance(s) were started on; raise 'version' to change a flow"))
                    else:  # nothing runs on this version yet: the edited file simply replaces it
                        tx.execute("UPDATE flow_definition SET digest = :d, source = :s, source_file = :f "
                                   "WHERE name = :n AND version = :v",
                                   {"n": defn.name, "v": defn.version, "d": defn.digest, "s": defn.source_text,
                                    "f": defn.source_file})
                self._registered.add(defn.key)
            problems.extend(self._load_stored_versions(tx))
        if problems:
            raise InvalidDefinition(problems)
        self.register_rules()

    def _load_stored_versions(self, tx: Tx) -> list[Any]:
        """Versions no longer in the flow files that running instances started on: loaded from their stored
        source, so raising a flow's version never strands an instance (it finishes on its own version)."""
        from engine.definition import parse_definition

        problems: list[Any] = []
        rows = tx.all("SELECT d.name, d.version, d.source, d.source_file FROM flow_definition d "
                      "WHERE EXISTS (SELECT 1 FROM flow_instance i WHERE i.flow = d.name "
                      "AND i.flow_version = d.version AND i.ended_us IS NULL)")
        latest = {}
        for n, v in self.definitions.by_key:
            latest[n] = max(v, latest.get(n, v))
        for name, version, source, source_file in rows:
            if (name, version) in self.definitions.by_key or version >= latest.get(name, 0):
                continue  # loaded from its file, or a flow (or a newer version) the files no longer have
            defn, found = parse_definition(Path(source_file), self.registry, text=source)
            if defn is None or found:
                problems.extend(found)
                continue
            self.definitions.add(defn)
            self._registered.add(defn.key)
        return problems

    def register_rules(self, actor: str = "system") -> PinnedRules:
        """Register the rules folder as it is now; instances started from here on run on it (audited)."""
        with self.db.tx() as tx:
            return self._register_rules(tx, actor)

    def _register_rules(self, tx: Tx, actor: str) -> PinnedRules:
        pinned = register_rules(tx, actor=actor, now_us=to_us(self.clock.now()))
        self._rules = pinned
        self._pinned[pinned.version] = pinned  # type: ignore[index]
        return pinned

    def current_rules(self) -> PinnedRules:
        """The registered rules new instances start under — for services working outside a step."""
        return self._rules if self._rules is not None else self.register_rules()

    def rules_for(self, tx: Tx, version: int | None) -> PinnedRules:
        """The rules of a registered version (an instance from before rules were pinned: the current ones)."""
        if version is None:
            return self._rules if self._rules is not None else self._register_rules(tx, "system")
        found = self._pinned.get(version)
        if found is None:
            found = self._pinned[version] = pinned_rules(tx, version)
        return found

    # ------------------------------------------------------------------ public steps

    def start(self, flow: str, data: dict[str, Any] | None = None, *, actor: str = "system",
              subject: str | None = None, calendar: str | None = None, locale: str | None = None,
              principal: Principal | None = None, internal: bool = False) -> StepResult:
        """Start an instance of the latest version of `flow`; with a subject, at most one per subject.

        `principal`, when given, is whose rights the start's actions check (`ctx.emp_no`). A flow marked
        `started_by: service` is refused here unless `internal` (the engine itself, or the family's
        service, which starts it inside its own transaction with `start_in`).
        """
        now = self.clock.now()
        try:
            if not internal and self.definitions.get(flow).started_by == "service":
                raise StartedByServiceOnly(t("engine.started_by_service", flow=flow))
            result = self.commit(lambda tx: self._start_in(
                tx, flow, data or {}, actor=actor, subject=subject, calendar=calendar, locale=locale, now=now,
                principal=principal))
        except GroupCommitFailed:
            raise  # not the event's fault, and nothing was applied: no refusal to record
        except MCRError as exc:
            self._log_refusal(None, actor, "start", exc)
            raise
        self._wake(result)
        return result

    def send(self, instance_id: int, event: str, *, actor: str, payload: dict[str, Any] | None = None,
             client_event_id: str | None = None, expected_version: int | None = None,
             principal: Principal | None = None, internal: bool = False) -> StepResult:
        """Apply `event` to the instance; refused events raise and change nothing.

        An event the flow marks `internal: true` is refused (`InternalEventRefused`) unless the
        engine itself sends it (`internal=True`: timers, launches, scans) — never from a user's
        request. `principal` is whose rights the step's actions check (`ctx.emp_no`).
        """
        now = self.clock.now()
        try:
            result = self.commit(lambda tx: self._step(
                tx, instance_id, event, actor=actor, payload=payload or {}, client_event_id=client_event_id,
                expected_version=expected_version, now=now, principal=principal, internal=internal))
        except GroupCommitFailed:
            raise  # not the event's fault, and nothing was applied: no refusal to record
        except MCRError as exc:  # a refusal, or a business error raised by an action: logged, nothing changed
            self._log_refusal(instance_id, actor, event, exc)
            raise
        self._wake(result)
        return result

    def commit(self, work: Callable[[Tx], T]) -> T:
        """Run `work(tx)` in a transaction of its own, or — group commit on, no transaction open in this
        thread — in a savepoint of one shared with the steps arriving alongside. Returns once that
        committed; a service runs its post-commit work (`wake`) after it, as after `db.tx()`."""
        if self.group_commit is not None:
            return self.group_commit.run(work)
        with self.db.tx() as tx:
            return work(tx)

    def _wake(self, result: StepResult) -> None:
        if result.earliest_timer is not None and self.on_timer_armed is not None:
            self.on_timer_armed(result.earliest_timer)

    def fire_timer(self, timer_id: int) -> StepResult | None:
        """Fire one timer if it is still pending: its event is sent, once, as a step."""
        now = self.clock.now()
        try:
            with self.db.tx() as tx:
                row = tx.one(sql.SELECT_TIMER, {"id": timer_id})
                if row is None or row[7] != "pending":
                    return None
                tid, instance_id, name, event, due_us, catch_up, _key, _status, _state = row
                late = now - from_us(due_us)
                if catch_up == "skip" and late > self.catch_up_grace:
                    tx.execute(sql.FINISH_TIMER, {"id": tid, "status": "skipped", "now": to_us(now),
                                                  "note": f"missed while the engine was down (due "
                                                          f"{from_us(due_us).isoformat()}, late by {_fmt(late)}); "
                                                          "catch-up policy is skip"})
                    return None
                note = f"fired late by {_fmt(late)}" if late > self.catch_up_grace else None
                tx.execute(sql.FINISH_TIMER, {"id": tid, "status": "fired", "now": to_us(now), "note": note})
                result = self._step(tx, instance_id, event, actor=f"timer:{name}",
                                    payload={"timer": name, "due": from_us(due_us).isoformat()},
                                    client_event_id=f"timer:{tid}", expected_version=None, now=now,
                                    fired_timer=(name, _key))
                return result
        except TransitionRefused as exc:
            # The timer's event no longer applies (guard false, state moved on): record the skip.
            with self.db.tx() as tx:
                tx.execute(sql.FINISH_TIMER, {"id": timer_id, "status": "skipped", "now": to_us(now),
                                              "note": f"event refused: {exc}"})
            return None

    def claim_due_timers(self, limit: int = 500) -> list[int]:
        now = self.clock.now()
        stmt = sql.CLAIM_DUE_TIMERS_PG if self.db.is_pg else sql.CLAIM_DUE_TIMERS_SQLITE
        with self.db.tx() as tx:
            rows = tx.all(stmt, {"worker": self.worker_id, "now": to_us(now),
                                 "lease_until": to_us(now + self.lease), "limit": limit})
        return sorted(r[0] for r in rows)

    def sweep(self, limit: int = 500, pause_after_claim: float = 0.0) -> int:
        """Claim the due timers and fire them one step each; returns how many fired."""
        fired = 0
        while True:
            claimed = self.claim_due_timers(limit)
            if not claimed:
                return fired
            if pause_after_claim:
                import time as _time

                _time.sleep(pause_after_claim)  # fault-injection window for crash drills
            for tid in claimed:
                try:
                    if self.fire_timer(tid) is not None:
                        fired += 1
                except MCRError as exc:
                    # Not the event's fault but the configuration's (e.g. a template that cannot
                    # render): the timer stays pending and is tried again when its lease runs out.
                    log.error("timer %s could not fire and will be retried: %s", tid, exc)
            if len(claimed) < limit:
                return fired

    def next_due(self) -> datetime | None:
        with self.db.read() as tx:
            row = tx.one(sql.NEXT_DUE_TIMER)
        return from_us(row[0]) if row and row[0] is not None else None

    def start_in(self, tx: Tx, flow: str, data: dict[str, Any], *, actor: str, subject: str | None = None,
                 calendar: str | None = None, locale: str | None = None,
                 principal: Principal | None = None) -> StepResult:
        """Start an instance inside the caller's open transaction (`db.tx()`), so a service can write
        its own rows and the instance atomically. Call `wake(result)` after the commit."""
        return self._start_in(tx, flow, data, actor=actor, subject=subject, calendar=calendar, locale=locale,
                              now=self.clock.now(), principal=principal)

    def send_in(self, tx: Tx, instance_id: int, event: str, *, actor: str, payload: dict[str, Any] | None = None,
                principal: Principal | None = None, internal: bool = False,
                client_event_id: str | None = None) -> StepResult:
        """Apply `event` inside the caller's open transaction (e.g. the first step of an instance just
        started with `start_in`), so both commit together. A refusal raises and is not logged here:
        the caller decides (roll back, or record it with `record_refusal`). Call `wake(result)` after
        the commit. `client_event_id` makes it idempotent as in `send`: a repeat returns the first
        step's result (`duplicate=True`) and applies nothing."""
        return self._step(tx, instance_id, event, actor=actor, payload=payload or {}, client_event_id=client_event_id,
                          expected_version=None, now=self.clock.now(), principal=principal, internal=internal)

    def wake(self, result: StepResult) -> None:
        """Tell the scheduler about the earliest timer a committed step armed."""
        self._wake(result)

    # ------------------------------------------------------------------ the step itself

    def _start_in(self, tx: Tx, flow: str, data: dict[str, Any], *, actor: str, subject: str | None,
                  calendar: str | None, locale: str | None, now: datetime,
                  principal: Principal | None = None) -> StepResult:
        defn = self.definitions.get(flow)
        if defn.key not in self._registered:
            self._register_one(tx, defn, now)
        data = dict(data)
        calendar = calendar or (str(lookup_path(data, defn.calendar)) if defn.calendar and
                                lookup_path(data, defn.calendar) else None)
        locale = locale or (str(lookup_path(data, defn.locale)) if defn.locale and
                            lookup_path(data, defn.locale) else DEFAULT_LOCALE)
        cflow = self.definitions.compiled(defn.name, defn.version)
        initial = cflow.initial
        rules = self.rules_for(tx, None)
        row = tx.one(sql.INSERT_INSTANCE, {
            "flow": defn.name, "flow_version": defn.version, "state": initial.name, "subject": subject,
            "calendar": calendar, "locale": locale, "data": dumps(data), "now": to_us(now),
            "ended": None, "rules_version": rules.version})
        if row is None:  # this subject already has an instance: starting again changes nothing
            existing = tx.one(sql.SELECT_INSTANCE_BY_SUBJECT, {"flow": defn.name, "subject": subject})
            return StepResult(existing[0], None, existing[1], existing[2], duplicate=True)
        instance_id = row[0]
        ctx = StepContext(self, tx, cflow, instance_id, None, initial.name, "start", actor, {}, data, now,
                          locale, calendar, principal=principal, rules_version=rules.version)
        tx.execute(sql.INSERT_HISTORY, {
            "instance_id": instance_id, "now": to_us(now), "actor": actor, "event": "start",
            "from_state": None, "to_state": initial.name, "payload": "{}", "client_event_id": None,
            "version": 1})
        if cflow.on_start:  # e.g. mail the kit, compute a due date the initial state's timers read
            for name, params in cflow.on_start:
                self._run_action(ctx, name, params)
            tx.execute("UPDATE flow_instance SET data = :data WHERE id = :id",
                       {"data": dumps(ctx.data), "id": instance_id})
        self._arm_timers(tx, ctx, initial, entry_version=1)
        mails = self._write_mails(tx, ctx)
        return StepResult(instance_id, None, initial.name, 1, mails=mails, earliest_timer=ctx.earliest_timer)

    def _register_one(self, tx: Tx, defn: FlowDefinition, now: datetime) -> None:
        row = tx.one("SELECT digest FROM flow_definition WHERE name = :n AND version = :v",
                     {"n": defn.name, "v": defn.version})
        if row is None:
            tx.execute("INSERT INTO flow_definition (name, version, digest, source, source_file, registered_us) "
                       "VALUES (:n, :v, :d, :s, :f, :now) ON CONFLICT DO NOTHING",
                       {"n": defn.name, "v": defn.version, "d": defn.digest, "s": defn.source_text,
                        "f": defn.source_file, "now": to_us(now)})
        self._registered.add(defn.key)

    def _step(self, tx: Tx, instance_id: int, event: str, *, actor: str, payload: dict[str, Any],
              client_event_id: str | None, expected_version: int | None, now: datetime,
              fired_timer: tuple[str, str] | None = None, principal: Principal | None = None,
              internal: bool = True) -> StepResult:
        if client_event_id is not None:
            seen = tx.one(sql.SELECT_CLIENT_EVENT, {"cid": client_event_id})
            if seen is not None:
                return StepResult(seen[0], seen[1], seen[2], seen[3], duplicate=True)
        row = tx.one(sql.SELECT_INSTANCE_FOR_UPDATE if self.db.is_pg else sql.SELECT_INSTANCE,
                     {"id": instance_id})
        if row is None:
            raise UnknownInstance(t("engine.unknown_instance", id=instance_id), instance_id=instance_id, event=event)
        _id, flow, flow_version, state, version, calendar, locale, data_text, rules_version = row
        if expected_version is not None and expected_version != version:
            raise StaleVersion(t("engine.stale_version", id=instance_id, version=version, expected=expected_version),
                               instance_id=instance_id, event=event, state=state)
        cflow = self.definitions.compiled(flow, flow_version)
        if not internal and event in cflow.internal:
            raise InternalEventRefused(t("engine.internal_event", event=event, flow=flow, id=instance_id),
                                       instance_id=instance_id, event=event, state=state)
        candidates = cflow.index.get((state, event))
        if not candidates:
            # An outside sender is told only the events it could send; the engine sees them all.
            allowed = ", ".join(e for e in cflow.allowed.get(state, ()) if internal or e not in cflow.internal) \
                or t("engine.ended")
            raise EventNotAllowed(t("engine.not_allowed", event=event, flow=flow, id=instance_id, state=state, allowed=allowed),
                                  instance_id=instance_id, event=event, state=state)
        data = json.loads(data_text)
        ctx = StepContext(self, tx, cflow, instance_id, state, None, event, actor, payload, data, now,
                          locale, calendar, principal=principal, rules_version=rules_version)
        if fired_timer is not None and fired_timer[0] not in cflow.timer_names.get(state, ()):
            item = self._timer_item(tx, ctx, fired_timer[0], fired_timer[1])
            if item is not None:
                payload["item"] = item
        transition = self._choose(ctx, candidates)
        target = transition.target or state
        ctx.target = target
        conditional = cflow.conditional.get(state) if transition.target is None else None
        before = {t.name: t.when.holds(data) for t in conditional} if conditional else {}
        for name, params in transition.actions:
            self._run_action(ctx, name, params)
        new_version = version + 1
        target_spec = cflow.states[target]
        entered = transition.target is not None
        cur = tx.execute(sql.UPDATE_INSTANCE, {
            "id": instance_id, "state": target, "new_version": new_version, "data": dumps(ctx.data),
            "now": to_us(now), "ended": to_us(now) if target_spec.terminal else None, "version": version})
        if cur.rowcount != 1:
            raise StaleVersion(t("engine.stale_during_step", id=instance_id),
                               instance_id=instance_id, event=event, state=state)
        tx.execute(sql.INSERT_HISTORY, {
            "instance_id": instance_id, "now": to_us(now), "actor": actor, "event": event,
            "from_state": state, "to_state": target, "payload": dumps(payload),
            "client_event_id": client_event_id, "version": new_version})
        if entered:
            tx.execute(sql.CANCEL_INSTANCE_TIMERS, {"instance_id": instance_id, "now": to_us(now),
                                                    "note": f"left state '{state}' on '{event}'"})
            self._arm_timers(tx, ctx, target_spec, entry_version=new_version)
        else:
            if fired_timer is not None:
                self._rearm_repeating(tx, ctx, cflow.states[state], fired_timer)
            if before:
                self._retime_conditional(tx, ctx, cflow.states[state], before, new_version)
        mails = self._write_mails(tx, ctx)
        return StepResult(instance_id, state, target, new_version, mails=mails,
                          earliest_timer=ctx.earliest_timer)

    def _choose(self, ctx: StepContext, candidates: list[CompiledTransition]) -> CompiledTransition:
        rejected: list[str] = []
        for tr in candidates:
            if tr.guard is None:
                return tr
            fn = self.registry.guards[tr.guard_name]  # type: ignore[index]
            try:
                ok = bool(fn(ctx))
            except MCRError:
                raise
            except Exception as exc:
                raise _flow_code_failed(ctx, f"guard {tr.guard_name}", exc) from exc
            if tr.guard_negated:
                ok = not ok
            if ok:
                return tr
            rejected.append(tr.guard)
        raise GuardRejected(
            t("engine.guard_false", event=ctx.event, flow=ctx.flow.name, id=ctx.instance_id, state=ctx.state,
              guards=", ".join(repr(g) for g in rejected)),
            instance_id=ctx.instance_id, event=ctx.event, state=ctx.state)

    def _run_action(self, ctx: StepContext, name: str, params: dict[str, Any]) -> None:
        if name == "mail":
            p = dict(params)
            template = p.pop("template")
            to_expr = p.pop("to")
            dedupe = p.pop("dedupe", None)
            invite = p.pop("invite", None)
            recipients = _resolve_recipients(ctx, to_expr)
            ctx.mail(template, recipients, dedupe_key=f"{ctx.instance_id}:{dedupe}" if dedupe else None,
                     invite=_invite_of(ctx, invite) if invite else None, **p)
            return
        if name == "set":
            for key, value in params.items():
                ctx.data[key] = _set_value(ctx, value)
            return
        try:
            self.registry.actions[name](ctx, **params)
        except MCRError:
            raise
        except Exception as exc:
            raise _flow_code_failed(ctx, f"action {name}", exc) from exc

    def _arm_timers(self, tx: Tx, ctx: StepContext, state: CompiledState, entry_version: int,
                    only: Iterable[CompiledTimer] | None = None) -> None:
        """Arm the state's timers (or `only` these) whose `when` holds; a list timer arms one per rules item."""
        specs = state.timers if only is None else tuple(only)
        if not specs:
            return
        rows: list[dict[str, Any]] = []
        fired: set[str] | None = None  # the instance's fired timers, read once when a `once` timer first asks
        for spec in specs:
            if spec.when is not None and not spec.when.holds(ctx.data):
                continue  # not wanted for this instance: no row at all
            if spec.once and fired is None:
                fired = self._fired_names(tx, ctx)
            done = fired if spec.once and fired is not None else set()
            if spec.each is None:
                if spec.name not in done:
                    rows.append(self._timer_row(ctx, state.name, spec, ctx.now,
                                                f"{ctx.instance_id}:{entry_version}:{spec.name}:0"))
                continue
            for name, _item, row in self._list_rows(ctx, state.name, spec, ctx.now, entry_version):
                if name not in done:
                    rows.append(row)
        if not rows:
            return
        if len(rows) == 1:
            tx.execute(sql.INSERT_TIMER, rows[0])
        else:
            tx.many(sql.INSERT_TIMER, rows)
        self._note_due(ctx, [r["due_us"] for r in rows if r["status"] == "pending"])

    @staticmethod
    def _fired_names(tx: Tx, ctx: StepContext) -> set[str]:
        """The names of the instance's timers that have fired: a `once` timer among them is not armed again."""
        return {r[0] for r in tx.all("SELECT DISTINCT name FROM timer WHERE instance_id = :i AND status = 'fired'",
                                     {"i": ctx.instance_id})}

    def _each_items(self, ctx: StepContext, spec: CompiledTimer) -> list[Any]:
        items = ctx.rules.value(spec.each) if spec.each else []
        return list(items) if isinstance(items, list) else [items]

    def _list_rows(self, ctx: StepContext, state: str, spec: CompiledTimer, base: datetime,
                   entry_version: int) -> list[tuple[str, Any, dict[str, Any]]]:
        """A list timer's rows, one per rules item, named <name>1, <name>2, … in order; items landing on
        an instant an earlier one already has (a day off rolled one onto the other) are armed once."""
        out: list[tuple[str, Any, dict[str, Any]]] = []
        seen: set[int] = set()
        for item in self._each_items(ctx, spec):
            name = f"{spec.name}{len(out) + 1}"
            row = self._timer_row(ctx, state, spec, base, f"{ctx.instance_id}:{entry_version}:{name}:0",
                                  item=item, name=name)
            if row["status"] == "pending":
                if row["due_us"] in seen:
                    continue
                seen.add(row["due_us"])
            out.append((name, item, row))
        return out

    def _retime_conditional(self, tx: Tx, ctx: StepContext, state: CompiledState, before: dict[str, bool],
                            entry_version: int) -> None:
        """A step that stays in its state changed what a `when:` depends on: arm the timers whose condition
        became true (e.g. an issue declared a major incident) and cancel those whose condition became false."""
        for spec in state.timers:
            if spec.when is None or spec.name not in before:
                continue
            now_holds = spec.when.holds(ctx.data)
            if now_holds == before[spec.name]:
                continue
            if now_holds:
                self._arm_timers(tx, ctx, state, entry_version, only=(spec,))
            else:
                pending = [r[0] for r in tx.all("SELECT name FROM timer WHERE instance_id = :i AND status = 'pending'",
                                                {"i": ctx.instance_id})]
                for name in pending:
                    if name == spec.name or (spec.each and name.startswith(spec.name)
                                             and name[len(spec.name):].isdigit()):
                        tx.execute(sql.CANCEL_NAMED_TIMER, {
                            "instance_id": ctx.instance_id, "now": to_us(ctx.now), "name": name,
                            "note": f"'{spec.when.text}' no longer holds after '{ctx.event}'"})

    @staticmethod
    def _note_due(ctx: StepContext, due_us: list[int]) -> None:
        if due_us:
            due = from_us(min(due_us))
            if ctx.earliest_timer is None or due < ctx.earliest_timer:
                ctx.earliest_timer = due

    def _timer_row(self, ctx: StepContext, state: str, spec: CompiledTimer, base: datetime, key: str,
                   item: Any = None, name: str | None = None) -> dict[str, Any]:
        status, note, due = "pending", None, None
        try:
            cal = self.calendars.get(ctx.calendar_name) if spec.needs_calendar else None
            after, after_path, at = spec.after, spec.after_path, spec.at
            if spec.after_text is not None or spec.at_text is not None:
                after, after_path, at = self._resolve_texts(ctx, spec, item)
            if after_path is not None:
                value = lookup_path(ctx.data, after_path)
                if value in (None, ""):
                    status, note = "skipped", f"not armed: {after_path} is empty"
                else:
                    due = parse_duration(str(value)).add_to(base, cal)
            elif after is not None:
                due = after.add_to(base, cal)
            else:
                assert at is not None
                due = at.resolve(ctx.data, base, cal, cal.tz)
                if due is None:
                    status, note = "skipped", f"not armed: {at.path} is empty"
        except (TimeSpecError, MCRError) as exc:
            status, note = "skipped", f"not armed: {exc}"
        due_us = to_us(due) if due is not None else to_us(ctx.now)
        return {"instance_id": ctx.instance_id, "timer_key": key, "name": name or spec.name, "event": spec.event,
                "state": state, "due_us": due_us, "catch_up": spec.catch_up, "status": status,
                "done_us": to_us(ctx.now) if status != "pending" else None, "note": note}

    @staticmethod
    def _resolve_texts(ctx: StepContext, spec: CompiledTimer,
                       item: Any) -> tuple[Duration | None, str | None, Anchor | None]:
        """A timer's texts with the values of the instance's pinned rules (never today's files) and its item."""
        rules = ctx.rules
        if spec.after_text is not None:
            text = timer_text(spec.after_text, rules.value, item)
            if is_data_path(text):
                return None, text, None
            return parse_duration(text), None, None
        assert spec.at_text is not None
        return None, None, parse_anchor(timer_text(spec.at_text, rules.value, item))

    def _rearm_repeating(self, tx: Tx, ctx: StepContext, state: CompiledState, fired: tuple[str, str]) -> None:
        name, key = fired
        spec = next((t for t in state.timers if t.name == name), None)
        if spec is None or (spec.every is None and spec.every_text is None):
            return
        if spec.when is not None and not spec.when.holds(ctx.data):
            return  # the condition it repeats under no longer holds
        every = spec.every
        if every is None:
            try:
                every = parse_duration(timer_text(spec.every_text or "", ctx.rules.value))
            except (TimeSpecError, MCRError) as exc:
                log.error("timer %s of #%s not re-armed: %s", name, ctx.instance_id, exc)
                return
        prefix, _, n = key.rpartition(":")
        row = tx.one("SELECT due_us FROM timer WHERE timer_key = :k", {"k": key})
        base = from_us(row[0]) if row else ctx.now
        cal = self.calendars.get(ctx.calendar_name) if every.business else None
        due = every.add_to(base, cal)
        while due <= ctx.now:  # after downtime, do not replay every missed repetition
            due = every.add_to(due, cal)
        tx.execute(sql.INSERT_TIMER, {
            "instance_id": ctx.instance_id, "timer_key": f"{prefix}:{int(n) + 1}", "name": name,
            "event": spec.event, "state": state.name, "due_us": to_us(due), "catch_up": spec.catch_up,
            "status": "pending", "done_us": None, "note": None})
        self._note_due(ctx, [to_us(due)])

    def _timer_item(self, tx: Tx, ctx: StepContext, name: str, key: str) -> Any:
        """The rules item a list timer (`each`) was armed for (`r2` of `each: …reminder_days_before` → 7):
        its rows are computed again as they were on entering the state, from the same pinned rules."""
        state = ctx.flow.states.get(ctx.state or "")
        for spec in state.timers if state else ():
            if not (spec.each and name.startswith(spec.name) and name[len(spec.name):].isdigit()):
                continue
            entry_version = int(key.split(":")[1])
            row = tx.one("SELECT at_us FROM flow_history WHERE instance_id = :i AND version = :v",
                         {"i": ctx.instance_id, "v": entry_version})
            base = from_us(row[0]) if row else ctx.now
            for armed, item, _row in self._list_rows(ctx, state.name, spec, base, entry_version):
                if armed == name:
                    return item
        return None

    def _write_mails(self, tx: Tx, ctx: StepContext) -> int:
        if not ctx.mails:
            return 0
        # One row per recipient and channel (mail, a WeCom/DingTalk robot: rules/notify.yaml).
        rows = outbox_rows(ctx, ctx.mails)
        if not rows:
            return 0
        if len(rows) == 1:
            tx.execute(sql.INSERT_OUTBOX_NOTICE, rows[0])
        else:
            tx.many(sql.INSERT_OUTBOX_NOTICE, rows)
        return len(rows)

    def record_refusal(self, instance_id: int | None, actor: str, event: str, exc: MCRError) -> None:
        """Write a `flow_refusal` row for a refusal decided outside a step (a read a service refused)."""
        self._log_refusal(instance_id, actor, event, exc)

    def _log_refusal(self, instance_id: int | None, actor: str, event: str, exc: MCRError) -> None:
        log.info("refused %s on #%s by %s: %s", event, instance_id, actor, exc)
        try:
            with self.db.tx() as tx:
                now_us = to_us(self.clock.now())
                tx.execute(sql.INSERT_REFUSAL, {"instance_id": instance_id, "now": now_us,
                                                "actor": actor, "event": event,
                                                "code": getattr(exc, "code", type(exc).__name__),
                                                "message": str(exc)})
                # A flow's error may carry its own record of the refusal (e.g. ITR keeps a refused
                # escalation with the quota figures): written here, after the step's rollback, so every
                # path that sends the event — service, `mcr event send`, API — leaves the same trace.
                on_refused = getattr(exc, "on_refused", None)
                if callable(on_refused):
                    on_refused(tx, actor=actor, now_us=now_us)
        except Exception:  # the refusal itself must reach the caller even if logging fails
            log.exception("could not record refusal")


def _invite_of(ctx: StepContext, spec: Any) -> Any:
    """A definition's `invite: {key: K, due: data.X[, minutes: 30]}` (or `at:` for a slot starting then,
    `on:` for an all-day item): a calendar entry whose UID is `<flow>:<instance>:<K>`."""
    from engine.channels.invite import Invite

    if not isinstance(spec, dict) or "key" not in spec or not ({"due", "at", "on"} & set(spec)):
        raise ActionFailed(f"mail action: invite needs 'key' and one of 'due', 'at', 'on' (got {spec!r})",
                           instance_id=ctx.instance_id, event=ctx.event, state=ctx.state)
    key = f"{ctx.flow.name}:{ctx.instance_id}:{spec['key']}"
    which = "due" if "due" in spec else "at" if "at" in spec else "on"
    raw = _lookup(ctx, str(spec[which])) if isinstance(spec[which], str) and "." in spec[which] else spec[which]
    if not raw:
        return None  # nothing to put in the calendar (no date yet): the mail goes without
    if which == "on":
        day = raw if isinstance(raw, date) and not isinstance(raw, datetime) else date.fromisoformat(str(raw)[:10])
        return Invite.all_day(key, day)
    when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    if when.tzinfo is None:  # a local time in data: the instance's calendar zone
        when = when.replace(tzinfo=ctx.calendar.tz)
    minutes = int(spec.get("minutes", 30))
    if which == "due":
        return Invite.due_by(key, when, minutes=minutes)
    return Invite(key=key, start=when, end=when + timedelta(minutes=minutes))


def _resolve_recipients(ctx: StepContext, expr: Any) -> list[str]:
    exprs = expr if isinstance(expr, list) else [expr]
    out: list[str] = []
    for e in exprs:
        e = str(e)
        if "@" in e:
            out.append(e)
            continue
        value = _lookup(ctx, e)
        if isinstance(value, list):
            out.extend(str(v) for v in value if v)
        elif value:
            out.append(str(value))
    return out


def _lookup(ctx: StepContext, path: str) -> Any:
    root, _, rest = path.partition(".")
    if root == "payload":
        return lookup_path(ctx.payload, rest) if rest else ctx.payload
    if root == "data":
        return lookup_path(ctx.data, rest) if rest else ctx.data
    return lookup_path(ctx.data, path)


def _set_value(ctx: StepContext, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        expr = value[1:]
        if expr == "now":
            return ctx.now.isoformat()
        if expr == "actor":
            return ctx.actor
        return _lookup(ctx, expr)
    return value


def _fmt(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _flow_code_failed(ctx: StepContext, what: str, exc: Exception) -> ActionFailed:
    """A guard or action crashed (a bug, or data its flow never validated, e.g. an instance started
    by hand without a field the action reads): the step is refused like any other — rolled back,
    recorded in flow_refusal, one line for the user — and the traceback goes to the log."""
    log.error("%s of %s #%s in state %s on %s raised", what, ctx.flow.name, ctx.instance_id, ctx.state, ctx.event,
              exc_info=exc)
    return ActionFailed(t("engine.flow_code_failed", flow=ctx.flow.name, id=ctx.instance_id, state=ctx.state,
                          event=ctx.event, what=what, error=f"{type(exc).__name__}: {exc}"),
                        instance_id=ctx.instance_id, event=ctx.event, state=ctx.state)
