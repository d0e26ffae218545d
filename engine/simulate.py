"""`mcr simulate`: a synthetic company year on the fake clock — every installed flow family acting
through its public services as its employees would, day after day.

The core owns the clock and the loop; it names no flow. Each family contributes a simulator hook
(`Plugin.simulator`, "module:function"), called once per simulated day as `hook(sim, day)`: it looks
at the day (working day? 1 Dec? a kit waiting?) and books actions on the agenda with `sim.at(...)`,
drawing from its own seeded random stream (`sim.rng(family)`). The loop then plays the agenda in time
order: before each action the clock moves to its instant, firing every due timer and launch on the
way (as the replay's `advance_to` does), so a flow's timers, reminders and escalations happen between the
users' actions exactly as they would in production. Mail is delivered to an in-process mailer at
the end of each day, so outbox rows end as sent.

A service's refusal (any `MCRError`: a quota, a rule, a state) is a business outcome and is counted
per family and kind; anything else stops the simulation (a defect, never hidden).

Determinism: the same seed, customers, days and start give the same agenda and the same counts.
"""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

from engine.clock import FakeClock, wall_time
from engine.errors import MCRError

TZ = ZoneInfo("Asia/Shanghai")
DAY_START = time(9, 0)
DAY_END = time(17, 30)


class SimulationError(MCRError):
    """A simulation argument is unusable (days, customers, start)."""


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    family: str = field(compare=False)
    fn: Callable[[], Any] = field(compare=False)


@dataclass
class Period:
    """What happened in one calendar month (or in the whole run)."""

    label: str
    events: dict[str, int] = field(default_factory=dict)
    timers_fired: int = 0
    mails_queued: int = 0
    mails_delivered: int = 0
    launches: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def as_json(self) -> dict[str, Any]:
        return {"period": self.label, "events": dict(sorted(self.events.items())), "total_events": self.total_events,
                "timers_fired": self.timers_fired, "mails_queued": self.mails_queued,
                "mails_delivered": self.mails_delivered, "launches": self.launches,
                "actions": dict(sorted(self.actions.items())), "refused": dict(sorted(self.refused.items()))}


class _CountingMailer:
    """The in-process mailer of a simulation: accepts every message and only counts it (a year of
    mail kept in memory would grow without need)."""

    def __init__(self) -> None:
        self.delivered = 0

    async def send_many(self, messages: list[Any], on_accepted: Any = None) -> list[Exception | None]:
        for i in range(len(messages)):
            self.delivered += 1
            if on_accepted is not None:
                on_accepted(i)
        return [None] * len(messages)

    def describe(self) -> str:
        return "simulation (counted, not sent)"


class Simulation:
    """The agenda, the clock and the counters a family's simulator hook works with."""

    def __init__(self, runtime: Any, clock: FakeClock, *, seed: int, customers: int) -> None:
        from engine.replay import ReplayContext, load_plugins

        load_plugins()
        self.runtime = runtime
        self.clock = clock
        self.seed = seed
        self.customers = customers
        self.tz = TZ
        self._ctx = ReplayContext(runtime, clock, TZ, seed, "simulate")
        self._agenda: list[_Action] = []
        self._seq = itertools.count()
        self._rngs: dict[str, random.Random] = {}
        self._principals: dict[str, Any] = {}
        self.state: dict[str, Any] = {}  # each family keeps its own book-keeping under its name
        self.actions: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.calendar = runtime.calendars.get(None)
        self._next_launch: Optional[datetime] = None

    # ------------------------------------------------------------------ for the families' hooks

    def rng(self, family: str) -> random.Random:
        """The family's own random stream: one family's draws never shift another's."""
        if family not in self._rngs:
            self._rngs[family] = random.Random(f"{self.seed}:simulate:{family}")
        return self._rngs[family]

    def principal(self, emp_no: str) -> Any:
        """The employee as the services see them (roles and tree from the master data), loaded once."""
        if emp_no not in self._principals:
            self._principals[emp_no] = self._ctx.principal(emp_no)
        return self._principals[emp_no]

    @property
    def db(self) -> Any:
        return self.runtime.db

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return self.clock.now().astimezone(TZ).date()

    def is_workday(self, day: date) -> bool:
        return self.calendar.is_workday(day)

    def office_hours(self, day: date, rng: random.Random) -> datetime:
        """A random instant of `day`'s office hours (local time)."""
        start = datetime.combine(day, DAY_START, TZ)
        span = (datetime.combine(day, DAY_END, TZ) - start).total_seconds() // 60
        return start + timedelta(minutes=rng.randrange(int(span)))

    def later(self, when: datetime, rng: random.Random, *, hours: float) -> datetime:
        """About `hours` after `when` (±50 %), moved into the next office hours if it falls outside."""
        target = when + timedelta(minutes=max(1, round(hours * 60 * rng.uniform(0.5, 1.5))))
        local = target.astimezone(TZ)
        day = local.date()
        if self.is_workday(day) and DAY_START <= local.time() < DAY_END:
            return target
        if local.time() >= DAY_END:
            day += timedelta(days=1)
        # Work left overnight or over a weekend is picked up early on the next working morning.
        return datetime.combine(self.calendar.next_workday(day), DAY_START, TZ) + timedelta(minutes=rng.randrange(90))

    def at(self, when: datetime, family: str, fn: Callable[[], Any]) -> None:
        """Book `fn` (one user action through a service) at `when`; it may book follow-ups."""
        heapq.heappush(self._agenda, _Action(max(when, self.clock.now()), next(self._seq), family, fn))

    # ------------------------------------------------------------------ the loop

    def _advance(self, target: datetime) -> None:
        """Move the clock to `target`, firing every due timer and launch on the way, in due order.

        Like the replay's `advance_to`, but the next launch instant is remembered between calls: a
        year holds thousands of user actions and only a few launches a day, and asking every launch
        for its period at each action cost more than the actions themselves."""
        from engine.launches import next_launch, run_due_launches

        rt = self.runtime
        if self._next_launch is None:
            run_due_launches(rt)
            self._next_launch = next_launch(rt)
        while True:
            now = self.clock.now()
            due = rt.next_due()
            launch = self._next_launch
            candidates = [t for t in (due, launch) if t is not None and t <= target]
            if not candidates:
                break
            step = max(min(candidates), now)
            self.clock.set(step)
            if launch is not None and launch <= step:
                run_due_launches(rt)
                self._next_launch = next_launch(rt)
            if due is not None and due <= step and not rt.sweep() and step == now:
                break  # nothing could fire (leased elsewhere): do not spin
        if target > self.clock.now():
            self.clock.set(target)

    def _play(self, action: _Action) -> None:
        self._advance(action.at)
        try:
            action.fn()
        except MCRError as exc:  # a refusal is an outcome of the business rules, counted, not an error
            self.refused[f"{action.family}:{type(exc).__name__}"] += 1
        else:
            self.actions[action.family] += 1

    def run_day(self, day: date, hooks: list[tuple[str, Callable[["Simulation", date], None]]]) -> None:
        for name, hook in hooks:
            hook(self, day)
        end = datetime.combine(day + timedelta(days=1), time(0, 0), TZ)
        while self._agenda and self._agenda[0].at < end:
            self._play(heapq.heappop(self._agenda))
        self._advance(end)


# ---------------------------------------------------------------------------------------------- counting


def _snapshot(db: Any) -> dict[str, Any]:
    """Cumulative counters from the database: events (history rows + starts) by flow, timers fired,
    mails queued, launches run."""
    with db.read() as tx:
        steps = dict(tx.all("SELECT i.flow, COUNT(*) FROM flow_history h JOIN flow_instance i ON i.id = h.instance_id "
                            "GROUP BY i.flow"))
        starts = dict(tx.all("SELECT flow, COUNT(*) FROM flow_instance GROUP BY flow"))
        timers = int(tx.one("SELECT COUNT(*) FROM timer WHERE status = 'fired'")[0])
        mails = int(tx.one("SELECT COUNT(*) FROM outbox")[0])
        launches = int(tx.one("SELECT COUNT(*) FROM launch_run WHERE status = 'done'")[0])
    events = {f: int(steps.get(f, 0)) + int(starts.get(f, 0)) for f in set(steps) | set(starts)}
    return {"events": events, "timers": timers, "mails": mails, "launches": launches}


def _diff(label: str, a: dict[str, Any], b: dict[str, Any], delivered: int, actions: Counter[str],
          refused: Counter[str]) -> Period:
    events = {f: n - a["events"].get(f, 0) for f, n in b["events"].items() if n - a["events"].get(f, 0)}
    return Period(label, events, b["timers"] - a["timers"], b["mails"] - a["mails"], delivered,
                  b["launches"] - a["launches"], dict(actions), dict(refused))


def _states(db: Any) -> dict[str, dict[str, int]]:
    with db.read() as tx:
        rows = tx.all("SELECT flow, state, COUNT(*) FROM flow_instance GROUP BY flow, state ORDER BY flow, state")
    out: dict[str, dict[str, int]] = {}
    for flow, state, n in rows:
        out.setdefault(flow, {})[state] = int(n)
    return out


def _families(rt: Any, events: dict[str, int]) -> dict[str, int]:
    """Events per flow family (the plugin whose folder holds the flow's file)."""
    from engine import plugins

    out: Counter[str] = Counter()
    for flow, n in events.items():
        try:
            owner = plugins.owner_of(rt.definitions.get(flow).source_file)
        except MCRError:
            owner = None
        out[owner.name if owner else "engine"] += n
    return dict(sorted(out.items()))


def hooks() -> list[tuple[str, Callable[[Simulation, date], None]]]:
    """Every installed family's simulator hook, by family name."""
    from engine import plugins

    return [(p.name, plugins.resolve(p.simulator)) for p in plugins.plugins() if p.simulator]


# ---------------------------------------------------------------------------------------------- E


class _HotPath:
    """The engine's hot path (engine/bench.py: one full step per transaction on SQLite), measured in
    rounds interleaved with the simulation so a noisy neighbour weighs on both alike."""

    def __init__(self, root: Path, events: int) -> None:
        from engine.bench import _EngineSide

        self.events = events
        self.rates: list[float] = []
        self.offset = 200
        if events:
            (root / "hot").mkdir()
            self.side = _EngineSide(root / "hot", max(50, min(500, events)))  # as many instances as a round touches
            self.side.run(200, 0)  # warm: imports, compiled templates

    def round(self) -> None:
        if self.events:
            self.rates.append(self.events / sum(self.side.run(self.events, self.offset)))
            self.offset += self.events

    def close(self) -> None:
        if self.events:
            self.side.db.dispose()


# ---------------------------------------------------------------------------------------------- entry point


def database_url(value: Optional[str]) -> Optional[str]:
    """`--database`: a URL as is, a plain path as a SQLite file."""
    if value is None:
        return None
    return value if "://" in value else f"sqlite:///{Path(value).expanduser().resolve()}"


def default_start(clock_now: datetime) -> date:
    """1 November of the current year: the 1 Dec planning launch, a quarter start, the weekly and
    monthly reviews all fall inside the first months."""
    return date(clock_now.astimezone(TZ).year, 11, 1)


def run_simulation(*, days: int, customers: int, seed: int, start: date, database: Optional[str] = None,
                   hot_path_events: int = 2000, progress: Optional[Callable[[Period], None]] = None) -> dict[str, Any]:
    """Simulate `days` days from `start` (00:00 Asia/Shanghai) on `database` (a URL; None: a temporary
    SQLite file); returns the JSON of `mcr simulate --json`."""
    import os

    from engine.i18n import t

    if days < 1:
        raise SimulationError(t("engine.simulate.bad_number", option="--days", value=days))
    if customers < 1:
        raise SimulationError(t("engine.simulate.bad_number", option="--customers", value=customers))
    if hot_path_events < 0:
        raise SimulationError(t("engine.simulate.bad_number", option="--hot-path-events", value=hot_path_events))
    with tempfile.TemporaryDirectory(prefix="mcr-simulate-") as tmp:
        root = Path(tmp)
        # Planning kits are written to MCR_KIT_DIR. A kept database keeps them where `mcr serve` will
        # look; a temporary one writes them beside itself (removed with it), never into the working
        # directory. The process's setting is restored at the end.
        previous_kits = os.environ.get("MCR_KIT_DIR")
        if database is None:
            os.environ["MCR_KIT_DIR"] = str(root / "kits")
        try:
            return _run(root, days=days, customers=customers, seed=seed, start=start, database=database,
                        hot_path_events=hot_path_events, progress=progress)
        finally:
            if previous_kits is None:
                os.environ.pop("MCR_KIT_DIR", None)
            else:
                os.environ["MCR_KIT_DIR"] = previous_kits


def _run(root: Path, *, days: int, customers: int, seed: int, start: date, database: Optional[str],
         hot_path_events: int, progress: Optional[Callable[[Period], None]]) -> dict[str, Any]:
    from engine.app import build_runtime
    from engine.db import Database
    from engine.masterdata.demo import generate_demo
    from engine.notify import OutboxSender

    url = database or f"sqlite:///{root / 'simulate.db'}"
    clock = FakeClock(datetime.combine(start, time(0, 0), TZ))
    db = Database(url, create=True)
    rt = build_runtime(db, clock=clock)
    t0 = wall_time()
    with rt.db.session() as session:
        generate_demo(session, customers=customers, seed=seed, clock=clock)
        session.commit()
    setup_s = wall_time() - t0
    sim = Simulation(rt, clock, seed=seed, customers=customers)
    mailer = _CountingMailer()
    sender = OutboxSender(rt.db, mailer, clock, worker_id="simulate")
    family_hooks = hooks()
    hot = _HotPath(root, hot_path_events)
    hot.round()
    months: list[Period] = []
    first = before = _snapshot(rt.db)
    delivered_before = 0
    actions_before: Counter[str] = Counter()
    refused_before: Counter[str] = Counter()
    sim_s = mail_s = 0.0
    for i in range(days):
        day = start + timedelta(days=i)
        if i == days // 2 and days > 1:
            hot.round()
        t1 = wall_time()
        sim.run_day(day, family_hooks)
        t2 = wall_time()
        # Delivery is the worker's job beside the flows (engine/notify.py): timed on its own.
        while sender.deliver_due_sync(limit=500).sent:
            pass
        mail_s += wall_time() - t2
        t1 += wall_time() - t2
        last = i == days - 1
        if last or (day + timedelta(days=1)).day == 1:
            after = _snapshot(rt.db)
            sim_s += wall_time() - t1
            period = _diff(day.strftime("%Y-%m"), before, after, mailer.delivered - delivered_before,
                           sim.actions - actions_before, sim.refused - refused_before)
            months.append(period)
            if progress is not None:
                progress(period)
            before, delivered_before = after, mailer.delivered
            actions_before, refused_before = Counter(sim.actions), Counter(sim.refused)
        else:
            sim_s += wall_time() - t1
    hot.round()
    hot.close()
    total = _diff("total", first, before, mailer.delivered, sim.actions, sim.refused)
    states = _states(rt.db)
    families = _families(rt, total.events)
    end = clock.now()
    shown = rt.db.safe_url if database else "temporary"
    rt.db.dispose()
    rate = total.total_events / sim_s if sim_s > 0 else 0.0
    e = statistics.median(hot.rates) if hot.rates else None
    return {
        "days": days, "customers": customers, "seed": seed, "start": start.isoformat(),
        "end": end.astimezone(TZ).strftime("%Y-%m-%d %H:%M"),
        "database": shown,
        "months": [p.as_json() for p in months], "total": total.as_json(), "instances_by_state": states,
        "events_by_family": families,
        "setup_s": round(setup_s, 2), "simulated_s": round(sim_s, 2), "mail_delivery_s": round(mail_s, 2),
        "events_per_s": round(rate, 1),
        "engine_hot_path": None if e is None else {
            "events_per_s": round(e, 1), "range": [round(min(hot.rates), 1), round(max(hot.rates), 1)],
            "rounds": len(hot.rates), "events_per_round": hot_path_events,
            "ratio": round(rate / e, 3), "target_ratio_ge_0.5": rate / e >= 0.5},
    }
