"""Replaying scripted business scenarios on the fake clock, from a clean database.

A scenario (YAML) sets a start time, optional rules overrides, master data, and a list of
steps: user actions (`do:` a registered command, `as:` an employee), clock moves (`at:` an
instant, `after:` a duration) during which every timer and launch falls due in order, and
expectations. The output (JSON) lists every instance with its history, every refusal, every
mail, plus sections contributed by the flows (issues, escalations, reports, ...).

Flows plug in with three decorators:
* `@scenario_command("itr.open")` — `fn(ctx, actor, args) -> Any` performs one user action;
* `@scenario_setup("masterdata")` — `fn(ctx, value)` handles a top-level scenario key;
* `@scenario_section("issues")` — `fn(ctx) -> JSON` adds a section to the output.
Each flow package registers these in a `replay` module imported by `load_plugins()`.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import yaml

from engine.clock import FakeClock, from_us
from engine.errors import MCRError, Problem, ProblemsError, TransitionRefused
from engine.sql import with_archive
from engine.yamlsrc import LineDict, YamlSyntaxError, load_yaml

COMMANDS: dict[str, Callable[..., Any]] = {}
SETUPS: dict[str, Callable[..., Any]] = {}
SECTIONS: dict[str, Callable[..., Any]] = {}


class InvalidScenario(ProblemsError):
    """The scenario file is not valid."""


class ScenarioFailed(MCRError):
    """The scenario ran, but an expectation was not met."""


def scenario_command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def reg(fn: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[name] = fn
        return fn
    return reg


def scenario_setup(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def reg(fn: Callable[..., Any]) -> Callable[..., Any]:
        SETUPS[name] = fn
        return fn
    return reg


def scenario_section(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def reg(fn: Callable[..., Any]) -> Callable[..., Any]:
        SECTIONS[name] = fn
        return fn
    return reg


def load_plugins() -> None:
    """Register the scenario verbs of master data and of every installed flow family."""
    from engine import plugins

    importlib.import_module("engine.masterdata.replay")
    plugins.import_all("replay")


@dataclass
class ReplayContext:
    runtime: Any
    clock: FakeClock
    tz: ZoneInfo
    seed: int
    file: str
    refs: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.runtime.db

    def principal(self, actor: str | None) -> Any:
        """The scenario's `as:` as the services see it: the employee's principal (roles and tree as
        they are now); without `as:` the engine itself ("scenario"). A name that is no employee acts
        with no rights at all, so a scenario can show what a stranger is refused."""
        from engine.auth.principal import Principal, UnknownEmployee, load_principal

        if not actor:
            return Principal.engine("scenario")
        try:
            with self.db.session() as session:
                return load_principal(session, str(actor), via="cli")
        except UnknownEmployee:
            return Principal(emp_no=str(actor), name=str(actor), via="cli")

    def rng(self, purpose: str) -> random.Random:
        """A reproducible random stream per purpose (sampling stays the same run after run)."""
        return random.Random(f"{self.seed}:{purpose}")

    def resolve(self, value: Any) -> Any:
        """`$name` refers to the result of an earlier step with `id: name` (`$name.field` digs in)."""
        if isinstance(value, str) and value.startswith("$"):
            head, _, rest = value[1:].partition(".")
            if head not in self.refs:
                raise InvalidScenario([Problem(self.file, 0, f"unknown reference '{value}'")])
            node = self.refs[head]
            for part in rest.split(".") if rest else []:
                if isinstance(node, dict):
                    node = node[part]
                elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit():
                    node = node[int(part)]
                else:
                    node = getattr(node, part)
            return node
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def local(self, when: datetime) -> str:
        return when.astimezone(self.tz).isoformat(timespec="minutes")


def parse_instant(text: Any, tz: ZoneInfo, file: str, line: int) -> datetime:
    raw = str(text).strip()
    parts = raw.split()
    zone = tz
    if len(parts) == 3 or (len(parts) == 2 and "/" in parts[-1]) or (parts and parts[-1] == "UTC"):
        try:
            zone = ZoneInfo(parts[-1])
            parts = parts[:-1]
        except Exception:
            raise InvalidScenario([Problem(file, line, f"unknown time zone in '{raw}'")]) from None
    try:
        value = datetime.fromisoformat(" ".join(parts))
    except ValueError:
        raise InvalidScenario([Problem(file, line, f"bad instant '{raw}': write 'YYYY-MM-DD HH:MM [Zone]'")]) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _plain(value: Any) -> Any:
    """Line-tracking YAML containers back to plain dicts and lists (yaml.safe_dump needs them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base.get(k), v)
        return out
    return _plain(copy.deepcopy(override))


def _prepare_rules(overrides: dict[str, Any], workdir: Path) -> Path:
    from engine.rules import rules_dir

    target = workdir / "rules"
    shutil.copytree(rules_dir(), target)
    for name, value in (overrides or {}).items():
        path = target / name
        current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(_merge(current or {}, value), allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return target


def advance_to(ctx: ReplayContext, target: datetime) -> None:
    """Move the clock to `target`, firing every timer and launch on the way, in due order."""
    from engine.launches import next_launch, run_due_launches

    rt = ctx.runtime
    only = ctx.extra.get("launches")
    while True:
        now = ctx.clock.now()
        candidates = [t for t in (rt.next_due(), next_launch(rt, only)) if t is not None and t <= target]
        if not candidates:
            break
        step_to = max(min(candidates), now)
        ctx.clock.set(step_to)
        run_due_launches(rt, only=only)
        fired = rt.sweep()
        if not fired and step_to == now and rt.next_due() is not None and rt.next_due() <= now:
            break  # nothing could fire (all leased elsewhere): avoid spinning
    ctx.clock.set(max(target, ctx.clock.now()))
    run_due_launches(rt, only=only)
    rt.sweep()


def run_scenario(path: Path, *, database_url: str | None = None) -> dict[str, Any]:
    """Run one scenario file from a clean database; returns the JSON-able outcome."""
    from engine.app import build_runtime
    from engine.db import Database

    load_plugins()
    try:
        raw = load_yaml(path)
    except YamlSyntaxError as exc:
        raise InvalidScenario([exc.problem]) from exc
    file = str(path)
    if not isinstance(raw, dict) or "steps" not in raw:
        raise InvalidScenario([Problem(file, 1, "a scenario needs 'scenario', 'start' and 'steps'")])
    tz = ZoneInfo(str(raw.get("timezone", "Asia/Shanghai")))
    start = parse_instant(raw.get("start", "2026-11-23 09:00"), tz, file, getattr(raw, "key_lines", {}).get("start", 1))
    known = {"scenario", "description", "start", "timezone", "seed", "rules", "steps", "expect", "flows", "launches"}
    problems = [Problem(file, raw.key_lines.get(k, 1) if isinstance(raw, LineDict) else 1,
                        f"unknown scenario key '{k}'; known: {', '.join(sorted(known | set(SETUPS)))}")
                for k in raw if k not in known and k not in SETUPS]
    for i, step in enumerate(raw["steps"] or []):
        line = getattr(step, "line", 0)
        if not isinstance(step, dict):
            problems.append(Problem(file, line, f"step {i + 1} must be a mapping"))
        elif "do" in step and step["do"] not in COMMANDS:
            problems.append(Problem(file, line, f"unknown command '{step['do']}'; known: {', '.join(sorted(COMMANDS))}"))
        elif not ({"do", "at", "after", "expect"} & set(step)):
            problems.append(Problem(file, line, "a step needs 'do', 'at', 'after' or 'expect'"))
    if problems:
        raise InvalidScenario(problems)

    with tempfile.TemporaryDirectory(prefix="mcr-replay-") as tmp:
        work = Path(tmp)
        rules = _prepare_rules(dict(raw.get("rules") or {}), work)
        old_rules = os.environ.get("MCR_RULES_DIR")
        os.environ["MCR_RULES_DIR"] = str(rules)
        db = Database(database_url or f"sqlite:///{work / 'replay.db'}")
        try:
            clock = FakeClock(start)
            from engine.rules import flow_folders

            extra = [(path.parent / f) if (path.parent / f).exists() else Path(f) for f in raw.get("flows") or []]
            rt = build_runtime(db, clock=clock, rules=rules, flows=[*flow_folders(), *extra])
            ctx = ReplayContext(rt, clock, tz, int(raw.get("seed", 1)), file)
            # `launches: none` or a list of `flow:launch` names keeps other processes' recurring
            # launches (the 1 Dec kit, the daily care scan …) out of a scenario about one rule.
            launches = raw.get("launches", "all")
            if launches != "all":
                ctx.extra["launches"] = set() if launches in ("none", None) else {str(x) for x in launches}
            for key, handler in SETUPS.items():
                if key in raw:
                    handler(ctx, raw[key])
            for step in raw["steps"]:
                _run_step(ctx, step, raw)
            outcome = _outcome(ctx, raw)
            failures = _check(outcome, ctx.resolve(raw.get("expect") or {}), "")
            outcome["expectations"] = {"checked": bool(raw.get("expect")), "failures": failures}
            return outcome
        finally:
            db.dispose()
            if old_rules is None:
                os.environ.pop("MCR_RULES_DIR", None)
            else:
                os.environ["MCR_RULES_DIR"] = old_rules


def _run_step(ctx: ReplayContext, step: dict[str, Any], raw: dict[str, Any]) -> None:
    line = getattr(step, "line", 0)
    if "at" in step:
        advance_to(ctx, parse_instant(step["at"], ctx.tz, ctx.file, line))
    if "after" in step:
        from engine.timespec import TimeSpecError, parse_duration

        try:
            d = parse_duration(str(step["after"]))
        except TimeSpecError as exc:
            raise InvalidScenario([Problem(ctx.file, line, str(exc))]) from exc
        cal = ctx.runtime.calendars.get(step.get("calendar")) if d.business else None
        advance_to(ctx, d.add_to(ctx.clock.now(), cal))
    if "do" not in step:
        if "expect" in step:
            failures = _check(_outcome(ctx, raw), ctx.resolve(step["expect"]), "")
            if failures:
                raise ScenarioFailed(f"{ctx.file}:{line}: at {ctx.local(ctx.clock.now())}: " + "; ".join(failures))
        return
    name, actor = step["do"], step.get("as")
    args = ctx.resolve(dict(step.get("with") or {}))
    entry: dict[str, Any] = {"at": ctx.local(ctx.clock.now()), "do": name, "as": actor, "line": line}
    expected = step.get("expect_error")
    try:
        result = COMMANDS[name](ctx, actor, args)
    except (TransitionRefused, MCRError) as exc:
        if isinstance(exc, InvalidScenario):
            raise
        entry.update(outcome="refused", error=type(exc).__name__, message=str(exc))
        ctx.log.append(entry)
        names = {cls.__name__ for cls in type(exc).__mro__} | {getattr(exc, "code", None), "any"}
        if expected and expected not in names:
            raise ScenarioFailed(f"{ctx.file}:{line}: expected {expected}, got {type(exc).__name__}: {exc}") from exc
        return
    if expected:
        raise ScenarioFailed(f"{ctx.file}:{line}: expected the step to be refused ({expected}), but it succeeded")
    entry.update(outcome="ok", result=_jsonable(result))
    ctx.log.append(entry)
    if "id" in step:
        ctx.refs[str(step["id"])] = result


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(value), default=str))
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _outcome(ctx: ReplayContext, raw: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.read() as tx:
        insts = tx.all("SELECT id, flow, flow_version, state, version, subject, data FROM flow_instance ORDER BY id")
        hist = tx.all(with_archive("SELECT instance_id, at_us, actor, event, from_state, to_state, id "
                                   "FROM {flow_history}") + " ORDER BY id")
        mails = tx.all(with_archive("SELECT id, instance_id, template, locale, recipient, subject, created_us, dedupe_key "
                                    "FROM {outbox}") + " ORDER BY id")
        refusals = tx.all("SELECT instance_id, at_us, actor, event, code, message FROM flow_refusal ORDER BY id")
        timers = tx.all(with_archive("SELECT instance_id, name, status, due_us, note, id FROM {timer} "
                                     "WHERE status = 'skipped'") + " ORDER BY id")
    by_inst: dict[int, list[dict[str, Any]]] = {}
    for h in hist:
        by_inst.setdefault(h[0], []).append({"at": ctx.local(from_us(h[1])), "actor": h[2], "event": h[3],
                                             "from": h[4], "to": h[5]})
    out: dict[str, Any] = {
        "scenario": raw.get("scenario", Path(ctx.file).stem),
        "final_time": ctx.local(ctx.clock.now()),
        "instances": [{"id": i[0], "flow": i[1], "version": i[2], "state": i[3], "steps": i[4], "subject": i[5],
                       "data": json.loads(i[6]), "history": by_inst.get(i[0], [])} for i in insts],
        "steps": ctx.log,
        "refusals": [{"instance": r[0], "at": ctx.local(from_us(r[1])), "actor": r[2], "event": r[3], "code": r[4],
                      "message": r[5]} for r in refusals],
        "mails": [{"id": m[0], "instance": m[1], "template": m[2], "locale": m[3], "to": m[4], "subject": m[5],
                   "at": ctx.local(from_us(m[6]))} for m in mails],
        "skipped_timers": [{"instance": t[0], "name": t[1], "due": ctx.local(from_us(t[3])), "note": t[4]}
                           for t in timers],
    }
    for name, fn in SECTIONS.items():
        out[name] = _jsonable(fn(ctx))
    return out


def _check(actual: Any, expected: Any, where: str) -> list[str]:
    """Subset match: every key/value in `expected` must be in `actual`; lists match by position,
    or with `{contains: [...]}` by membership; `{count: N}` checks a list's length."""
    failures: list[str] = []
    if isinstance(expected, dict) and set(expected) <= {"count", "contains"} and isinstance(actual, list):
        if "count" in expected and len(actual) != expected["count"]:
            failures.append(f"{where}: expected {expected['count']} item(s), found {len(actual)}")
        for item in expected.get("contains", []):
            if not any(not _check(a, item, "") for a in actual):
                failures.append(f"{where}: no item matches {json.dumps(item, ensure_ascii=False)}")
        return failures
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected a mapping, found {json.dumps(actual, ensure_ascii=False, default=str)}"]
        for k, v in expected.items():
            if k not in actual:
                failures.append(f"{where}.{k}: missing")
            else:
                failures.extend(_check(actual[k], v, f"{where}.{k}"))
        return failures
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} item(s), found {len(actual) if isinstance(actual, list) else actual!r}"]
        for i, (a, e) in enumerate(zip(actual, expected)):
            failures.extend(_check(a, e, f"{where}[{i}]"))
        return failures
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return [] if abs(actual - expected) < 1e-6 else [f"{where}: expected {expected}, found {actual}"]
    return [] if actual == expected else [f"{where}: expected {expected!r}, found {actual!r}"]


# ---------------------------------------------------------------------------------------------- built-ins


@scenario_command("flow.start")
def _flow_start(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    principal = ctx.principal(actor)
    res = ctx.runtime.start(args["flow"], args.get("data") or {}, actor=principal.actor, principal=principal,
                            subject=args.get("subject"), calendar=args.get("calendar"))
    return {"instance": res.instance_id, "state": res.to_state}


@scenario_command("flow.send")
def _flow_send(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    principal = ctx.principal(actor)
    res = ctx.runtime.send(int(args["instance"]), args["event"], actor=principal.actor, principal=principal,
                           payload=args.get("payload") or {}, client_event_id=args.get("client_event_id"))
    return {"instance": res.instance_id, "state": res.to_state, "version": res.version}
