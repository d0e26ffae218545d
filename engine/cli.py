"""`mcr` — the command line: a thin shell over the service functions; no business rule lives here.

Every `MCRError` becomes one line on stderr and exit code 1; never a traceback for a user's
mistake.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, List, Optional

import typer

from engine.cli_usage import LocalizedGroup
from engine.clock import from_us
from engine.errors import MCRError
from engine.i18n import t
from engine.rules_cli import rules_app
from engine.sql import hot_only, with_archive
from engine.tables import print_table

app = typer.Typer(help="mcr — MCR/ITR 客户关系流程引擎", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False, cls=LocalizedGroup)
flows_app = typer.Typer(help="流程定义 / flow definitions", no_args_is_help=True)
instances_app = typer.Typer(help="流程实例 / flow instances", no_args_is_help=True)
event_app = typer.Typer(help="事件 / events", no_args_is_help=True)
timers_app = typer.Typer(help="定时器 / timers", no_args_is_help=True)
outbox_app = typer.Typer(help="待发邮件 / outbox", no_args_is_help=True)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
app.add_typer(flows_app, name="flows")
app.add_typer(instances_app, name="instances")
app.add_typer(event_app, name="event")
app.add_typer(timers_app, name="timers")
app.add_typer(outbox_app, name="outbox")
app.add_typer(db_app, name="db")
calendars_app = typer.Typer(help="工作日历 / business calendars", no_args_is_help=True)
app.add_typer(calendars_app, name="calendars")
app.add_typer(rules_app, name="rules")


TIMER_STATUSES = ("pending", "fired", "skipped", "cancelled")


# The CLI runs as the operator (the OS account); `--as EMP` acts for an employee of the master data,
# and history and audit record both ("operator root for E00012"). Identity is never self-declared.
AS_OPTION = typer.Option(None, "--as", help="代该员工执行（工号）；审计同时记录操作员 / act for this employee (the audit "
                                            "records the operator too)")


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _cols(*keys: str) -> list[str]:
    """Column headers of a list table, in the process locale (`cli.col.<key>`)."""
    return [t(f"cli.col.{k}") for k in keys]


def _ts(us: int | None) -> str:
    return from_us(us).isoformat(timespec="seconds") if us is not None else "-"


def _runtime(create: bool = False) -> Any:
    """The runtime on MCR_DATABASE_URL; only `init`, `serve` and `instances start` create a missing SQLite file."""
    from engine.app import build_runtime
    from engine.db import Database

    return build_runtime(Database(create=create))


def _db() -> Any:
    """The database for a command that only reads or updates existing rows: never creates one."""
    from engine.db import Database

    return Database(create=False)


# ---------------------------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (Alembic) to MCR_DATABASE_URL."""
    from engine import migrate
    from engine.db import Database

    db = Database()
    db.check()
    db.upgrade()
    typer.echo(t("cli.db_upgraded", rev=migrate.current(db), url=db.safe_url))


@app.command("init")
def init() -> None:
    """Create/upgrade the database, validate the shipped flows and rules, register the flows."""
    rt = _runtime(create=True)
    typer.echo(t("cli.init_done", url=rt.db.safe_url, flows=len(rt.definitions)))


# ---------------------------------------------------------------------------------------------- flows


@flows_app.command("validate")
def flows_validate(path: Optional[Path] = typer.Argument(None, help="flow file or folder (default: the shipped flows/)")) -> None:
    """Validate flow definitions; prints file:line: message for each problem, exit 1 if any."""
    from engine.definition import flow_files, load_definitions
    from engine.rules import flow_folders

    roots = [path] if path else flow_folders()
    defs = load_definitions(*roots)
    files = sum(len(flow_files(root)) for root in roots if root.exists())
    typer.echo(t("cli.flows_ok", files=files, flows=len(defs),
                 states=sum(len(d.states) for d in defs.by_key.values()),
                 transitions=sum(len(d.transitions) for d in defs.by_key.values())))


@flows_app.command("list")
def flows_list(path: Optional[Path] = typer.Option(None, "--path")) -> None:
    """List loaded flows with version, states and source file."""
    from engine.definition import load_definitions
    from engine.i18n import locale
    from engine.rules import flow_folders

    defs = load_definitions(*([path] if path else flow_folders()))
    for d in sorted(defs.by_key.values(), key=lambda d: d.key):
        typer.echo(f"{d.name}\tv{d.version}\t{d.title_of(locale())}\t{len(d.states)} states\t{d.source_file}")


@flows_app.command("show")
def flows_show(name: str, format: str = typer.Option("text", "--format", help="text | mermaid"),
               path: Optional[Path] = typer.Option(None, "--path")) -> None:
    """Show one flow as text or as a Mermaid state diagram."""
    from engine import diagram
    from engine.definition import load_definitions
    from engine.i18n import locale
    from engine.rules import flow_folders

    defn = load_definitions(*([path] if path else flow_folders())).get(name)
    if format == "mermaid":
        typer.echo(diagram.mermaid(defn, locale()), nl=False)
    elif format == "text":
        typer.echo(diagram.text(defn, locale()), nl=False)
    else:
        raise MCRError(f"unknown format '{format}': use text or mermaid")


@flows_app.command("diagrams")
def flows_diagrams(output: Path = typer.Option(Path("docs/diagrams.md"), "--output"),
                   path: Optional[Path] = typer.Option(None, "--path")) -> None:
    """Write the Mermaid diagram of every flow into one Markdown file (default docs/diagrams.md)."""
    from engine.definition import load_definitions
    from engine.docgen import diagrams_markdown
    from engine.rules import flow_folders

    from engine.paths import output_file

    output_file(output).write_text(diagrams_markdown(load_definitions(*([path] if path else flow_folders()))), encoding="utf-8")
    typer.echo(str(output))


# ---------------------------------------------------------------------------------------------- instances


@instances_app.command("start")
def instances_start(flow: str, data: str = typer.Option("{}", "--data", help="JSON object"),
                    subject: Optional[str] = typer.Option(None, "--subject"),
                    as_emp: Optional[str] = AS_OPTION,
                    calendar: Optional[str] = typer.Option(None, "--calendar")) -> None:
    """Start an instance of FLOW (latest version), as the operator or `--as` an employee."""
    from engine.auth.principal import cli_principal

    body = _json_arg(data, "--data")  # the user's input first, before touching the database
    rt = _runtime(create=True)
    principal = cli_principal(rt.db, as_emp)
    res = rt.start(flow, body, actor=principal.actor, principal=principal, subject=subject, calendar=calendar)
    typer.echo(t("cli.start_duplicate", id=res.instance_id) if res.duplicate else
               t("cli.started", id=res.instance_id, flow=flow, state=res.to_state))


@instances_app.command("list")
def instances_list(flow: Optional[str] = typer.Option(None, "--flow"), state: Optional[str] = typer.Option(None, "--state"),
                   limit: int = typer.Option(50, "--limit"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List instances, newest first."""
    _known_flow_and_state(flow, state)
    db = _db()
    sql_text = "SELECT id, flow, flow_version, state, version, subject, updated_us FROM flow_instance WHERE 1=1"
    params: dict[str, Any] = {"limit": limit}
    if flow:
        sql_text += " AND flow = :flow"
        params["flow"] = flow
    if state:
        sql_text += " AND state = :state"
        params["state"] = state
    with db.read() as tx:
        rows = tx.all(sql_text + " ORDER BY id DESC LIMIT :limit", params)
    items = [{"id": r[0], "flow": r[1], "flow_version": r[2], "state": r[3], "version": r[4], "subject": r[5],
              "updated": _ts(r[6])} for r in rows]
    if as_json:
        _echo_json(items)
        return
    if not print_table(_cols("id", "flow", "state", "version", "subject", "updated"),
                       ([f"#{i['id']}", f"{i['flow']} v{i['flow_version']}", i["state"], i["version"],
                         i["subject"] or "-", i["updated"]] for i in items)):
        typer.echo(t("cli.nothing"))


def _known_flow_and_state(flow: Optional[str], state: Optional[str]) -> None:
    """An unknown --flow or --state would list nothing and look like "no such instances": refuse it."""
    if flow is None and state is None:
        return
    from engine.definition import load_definitions
    from engine.rules import flow_folders

    defs = list(load_definitions(*flow_folders()).by_key.values())
    names = sorted({d.name for d in defs})
    if flow is not None and flow not in names:
        raise MCRError(t("cli.unknown_choice", option="--flow", value=flow, allowed=", ".join(names)))
    states = sorted({s.name for d in defs if flow is None or d.name == flow for s in d.states})
    if state is not None and state not in states:
        raise MCRError(t("cli.unknown_choice", option="--state", value=state, allowed=", ".join(states)))


@instances_app.command("show")
def instances_show(instance_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one instance with its data, history and timers."""
    from engine.errors import UnknownInstance

    db = _db()
    with db.read() as tx:
        row = tx.one("SELECT id, flow, flow_version, state, version, subject, calendar, locale, data, created_us, "
                     "updated_us, ended_us FROM flow_instance WHERE id = :i", {"i": instance_id})
        if row is None:
            raise UnknownInstance(t("engine.unknown_instance", id=instance_id))
        hist = tx.all(with_archive("SELECT id, at_us, actor, event, from_state, to_state, payload, client_event_id, "
                                   "version FROM {flow_history} WHERE instance_id = :i") + " ORDER BY id",
                      {"i": instance_id})
        tms = tx.all(with_archive("SELECT id, name, event, status, due_us, note FROM {timer} WHERE instance_id = :i")
                     + " ORDER BY id", {"i": instance_id})
    out = {"id": row[0], "flow": row[1], "flow_version": row[2], "state": row[3], "version": row[4], "subject": row[5],
           "calendar": row[6], "locale": row[7], "data": json.loads(row[8]), "created": _ts(row[9]),
           "updated": _ts(row[10]), "ended": _ts(row[11]),
           "history": [{"at": _ts(h[1]), "actor": h[2], "event": h[3], "from": h[4], "to": h[5],
                        "payload": json.loads(h[6]), "client_event_id": h[7], "version": h[8]} for h in hist],
           "timers": [{"id": x[0], "name": x[1], "event": x[2], "status": x[3], "due": _ts(x[4]), "note": x[5]}
                      for x in tms]}
    if as_json:
        _echo_json(out)
        return
    typer.echo(f"#{out['id']} {out['flow']} v{out['flow_version']}  state={out['state']}  version={out['version']}  "
               f"subject={out['subject'] or '-'}")
    typer.echo(f"data: {json.dumps(out['data'], ensure_ascii=False)}")
    typer.echo("history:")
    for h in out["history"]:
        typer.echo(f"  {h['at']}  {h['actor']}: {h['event']}  {h['from'] or '∅'} -> {h['to']}  "
                   f"{json.dumps(h['payload'], ensure_ascii=False) if h['payload'] else ''}")
    typer.echo("timers:")
    for x in out["timers"]:
        typer.echo(f"  {x['id']}  {x['name']} -> {x['event']}  {x['status']}  due {x['due']}  {x['note'] or ''}")


# ---------------------------------------------------------------------------------------------- events


def _json_arg(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MCRError(t("cli.bad_json", option=option, msg=exc.msg, col=exc.colno)) from exc
    if not isinstance(value, dict):
        raise MCRError(t("cli.json_object", option=option))
    return value


@event_app.command("send")
def event_send(instance_id: int, event: str, as_emp: Optional[str] = AS_OPTION,
               payload: str = typer.Option("{}", "--payload", help="JSON object"),
               client_event_id: Optional[str] = typer.Option(None, "--client-event-id"),
               expected_version: Optional[int] = typer.Option(None, "--expected-version")) -> None:
    """Send EVENT to instance ID, as the operator or `--as` an employee. A refused event exits 1 and
    changes nothing; an event the flow marks internal (timers' events) is always refused here."""
    from engine.auth.principal import cli_principal

    body = _json_arg(payload, "--payload")  # the user's input first, before touching the database
    rt = _runtime()
    principal = cli_principal(rt.db, as_emp)
    res = rt.send(instance_id, event, actor=principal.actor, principal=principal, payload=body,
                  client_event_id=client_event_id, expected_version=expected_version)
    key = "cli.event_duplicate" if res.duplicate else "cli.event_applied"
    typer.echo(t(key, id=res.instance_id, src=res.from_state, dst=res.to_state, version=res.version))


# ---------------------------------------------------------------------------------------------- timers


@timers_app.command("list")
def timers_list(status: Optional[str] = typer.Option("pending", "--status", help="pending|fired|skipped|cancelled|all"),
                limit: int = typer.Option(50, "--limit"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List timers (by default the pending ones, soonest first)."""
    if status not in (None, "all", *TIMER_STATUSES):
        raise MCRError(t("cli.unknown_choice", option="--status", value=status,
                         allowed=", ".join((*TIMER_STATUSES, "all"))))
    db = _db()
    where = "" if status in (None, "all") else "WHERE status = :status"
    with db.read() as tx:
        select = "SELECT id, instance_id, name, event, status, due_us, claimed_by, note FROM {timer} " + where
        # Pending timers are never archived: the default listing stays on the hot partial index.
        rows = tx.all((hot_only(select) if status == "pending" else with_archive(select))
                      + " ORDER BY due_us, id LIMIT :limit", {"status": status, "limit": limit})
    items = [{"id": r[0], "instance": r[1], "name": r[2], "event": r[3], "status": r[4], "due": _ts(r[5]),
              "claimed_by": r[6], "note": r[7]} for r in rows]
    if as_json:
        _echo_json(items)
        return
    if not print_table(_cols("id", "instance", "timer", "status", "due", "note"),
                       ([i["id"], f"#{i['instance']}", f"{i['name']} -> {i['event']}", i["status"], i["due"], i["note"]]
                        for i in items)):
        typer.echo(t("cli.nothing"))


@timers_app.command("sweep")
def timers_sweep() -> None:
    """Fire every due timer now (what `mcr serve` does at each due time)."""
    rt = _runtime()
    typer.echo(t("cli.swept", n=rt.sweep()))


# ---------------------------------------------------------------------------------------------- outbox


@outbox_app.command("list")
def outbox_list(failed: bool = typer.Option(False, "--failed", help="only mail that could not be delivered"),
                status: Optional[str] = typer.Option(None, "--status", help="pending|sent|failed"),
                limit: int = typer.Option(50, "--limit"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List outbox rows (mail), newest first."""
    from engine.notify import list_outbox

    rows = list_outbox(_db(), "failed" if failed else status, limit)
    if as_json:
        _echo_json([r.__dict__ if hasattr(r, "__dict__") else r for r in rows])
        return
    if not print_table(_cols("id", "status", "recipient", "mail_subject", "attempts", "error"),
                       ([r.id, r.status, r.where, r.subject, r.attempts, r.last_error] for r in rows)):
        typer.echo(t("cli.nothing"))


@outbox_app.command("send")
def outbox_send() -> None:
    """Deliver due mail now (what `mcr serve` does continuously)."""
    from engine.clock import SystemClock
    from engine.mailers import mailer_from_env
    from engine.notify import OutboxSender

    sender = OutboxSender(_db(), mailer_from_env(), SystemClock(), worker_id=f"cli:{os.getpid()}")
    r = sender.deliver_due_sync()
    typer.echo(t("cli.sent", sent=r.sent, retried=r.retried, failed=r.failed))


@outbox_app.command("retry")
def outbox_retry(ids: Optional[list[int]] = typer.Argument(None)) -> None:
    """Put failed mail back in the queue (all failed rows, or the given ids)."""
    from engine.clock import SystemClock
    from engine.notify import retry_failed

    n = retry_failed(_db(), SystemClock(), list(ids) if ids else None)
    typer.echo(t("cli.retried", n=n))


# ---------------------------------------------------------------------------------------------- calendars


def _calendar_warnings(weeks: Optional[int] = None) -> list[str]:
    """One line per calendar and year ahead that will run on projected days off (docs/calendars.md)."""
    from engine.app import load_calendar_registry
    from engine.calendar import china_official_through, coverage_gaps
    from engine.clock import SystemClock

    if weeks is None:
        weeks = int(os.environ.get("MCR_CALENDAR_WARN_WEEKS", "8"))
    registry = load_calendar_registry()
    today = SystemClock().now().astimezone(registry.get(None).tz).date()
    return [t("cli.calendar_gap", calendar=g.calendar, year=g.year, through=china_official_through())
            for g in coverage_gaps(registry, today, weeks)]


@calendars_app.command("check")
def calendars_check(weeks: Optional[int] = typer.Option(
        None, "--weeks", min=0, help="how far ahead to look (default MCR_CALENDAR_WARN_WEEKS, 8)")) -> None:
    """Warn about coming years a calendar knows no official holidays for; exit 1 if there is one."""
    lines = _calendar_warnings(weeks)
    for line in lines:
        typer.echo(f"{t('cli.warning')}: {line}", err=True)
    if lines:
        raise typer.Exit(1)
    typer.echo(t("cli.calendars_ok"))


# ---------------------------------------------------------------------------------------------- serve


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host", help="address the web app listens on"),
          port: int = typer.Option(8080, "--port", help="port of the web app"),
          demo: bool = typer.Option(False, "--demo", help="load demo data first (an organisation, 200 customers)"),
          pause_after_claim: float = typer.Option(
              float(os.environ.get("MCR_FAULT_PAUSE_AFTER_CLAIM_S", "0")), "--pause-after-claim", hidden=True,
              help="fault injection for crash drills: seconds to wait between claiming and firing timers")) -> None:
    """Run the engine: migrations, scheduler (timers, launches), mail delivery and the web app, until Ctrl+C."""
    _run_engine(web=(host, port), demo=demo, pause_after_claim=pause_after_claim)


@app.command("worker")
def worker(pause_after_claim: float = typer.Option(
        float(os.environ.get("MCR_FAULT_PAUSE_AFTER_CLAIM_S", "0")), "--pause-after-claim", hidden=True,
        help="fault injection for crash drills: seconds to wait between claiming and firing timers")) -> None:
    """Run the engine without the web app: timers, launches and notifications, until Ctrl+C.

    On PostgreSQL any number of workers (and `mcr serve` processes) share one database: each claims
    due timers and outbox rows with leases (FOR UPDATE SKIP LOCKED). A SQLite file takes one process."""
    _run_engine(web=None, demo=False, pause_after_claim=pause_after_claim)


@app.command("deploy")
def deploy(pool: str = typer.Option("mcr", "--pool", help="Prefect work pool (type process; created if missing)"),
           launch: Optional[List[str]] = typer.Option(None, "--launch", help="flow:launch (repeat); default: every launch"),
           schedule: bool = typer.Option(True, "--schedule/--no-schedule", help="a cron schedule per launch"),
           source: Optional[Path] = typer.Option(None, "--source", help="folder workers run mcr from (default: this one)")) -> None:
    """Register every batch process (each flow's launches) as a deployment on the Prefect server of PREFECT_API_URL.

    Workers (`prefect worker start --pool POOL --type process`) then run them with MCR_DATABASE_URL
    from their own environment; a launch occurrence runs once however many workers pick it up."""
    from engine.errors import ConfigError

    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise ConfigError(t("cli.deploy.no_api"))
    rt = _runtime()
    from engine import prefect_runs

    if prefect_runs.ensure_pool(pool):
        typer.echo(t("cli.deploy.pool_created", pool=pool))
    done = prefect_runs.deploy(rt, pool, only=list(launch) if launch else None, schedule=schedule, source=source)
    for name, deployment, cron in done:
        typer.echo(t("cli.deploy.deployed", launch=name, deployment=deployment, cron=cron) if cron
                   else t("cli.deploy.deployed_unscheduled", launch=name, deployment=deployment))
    typer.echo(t("cli.deploy.summary", n=len(done), api=api, pool=pool))


def _run_engine(*, web: Optional[tuple[str, int]], demo: bool, pause_after_claim: float) -> None:
    from engine.clock import SystemClock
    from engine.mailers import mailer_from_env
    from engine.notify import OutboxSender
    from engine.scheduler import EngineScheduler

    logging.basicConfig(level=os.environ.get("MCR_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from engine.app import build_runtime
    from engine.db import Database

    db = Database(create=True)
    db.hold_server_lock()  # one server per SQLite file, before migrations or any work
    rt = build_runtime(db)
    from engine.group_commit import GroupCommitter, wanted

    if web is not None and wanted(rt.db):
        rt.group_commit = GroupCommitter(rt.db)  # concurrent requests' steps share commits
    if demo:
        _load_demo(rt)
    mailer = mailer_from_env()
    sender = OutboxSender(rt.db, mailer, SystemClock(), worker_id=rt.worker_id,
                          lease=timedelta(seconds=float(os.environ.get("MCR_MAIL_LEASE_S", "60"))))
    from engine import prefect_local

    # Launches as Prefect flow runs; Prefect's API starts in the background, once (MCR_PREFECT=off: directly).
    local = prefect_local.LocalPrefect(rt).start() if prefect_local.wanted() else None
    sched = EngineScheduler(rt, sender, pause_after_claim=pause_after_claim, run_launch=local.run if local else None)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sched.start()
    for line in _calendar_warnings():
        logging.getLogger("mcr.calendar").warning("%s", line)
        typer.echo(f"{t('cli.warning')}: {line}", err=True)
    typer.echo(t("cli.serving", url=rt.db.safe_url, flows=len(rt.definitions), mail=_describe(mailer)), err=True)
    try:
        if web is not None:
            _serve_web(rt, web[0], web[1], stop)
        while not stop.wait(1.0):
            pass
    finally:
        sched.shutdown()
        typer.echo(t("cli.stopped"), err=True)


def _serve_web(rt: Any, host: str, port: int, stop: threading.Event) -> None:
    """The web app (uvicorn) in this thread, beside the scheduler's threads; returns on Ctrl+C/SIGTERM.

    uvicorn takes over SIGINT/SIGTERM while it runs and hands them back when it stops, so `stop`
    is set either way and the scheduler is shut down by the caller."""
    import uvicorn

    from engine.web import WebSettings, create_app

    settings = WebSettings.from_env()
    # X-Forwarded-Proto / -For are trusted only from the addresses in FORWARDED_ALLOW_IPS (uvicorn's
    # setting; default 127.0.0.1, i.e. a reverse proxy on the same machine).
    config = uvicorn.Config(create_app(rt, settings), host=host, port=port, log_level="warning", proxy_headers=True,
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    typer.echo(t("cli.web_serving", url=f"http://{host}:{bound}"), err=True)
    if settings.base_url != f"http://{host}:{bound}":
        typer.echo(f"MCR_BASE_URL={settings.base_url}", err=True)
    # A SIGTERM that arrives before uvicorn has installed its own handlers only sets `stop`: pass
    # it on, or the server would run on and ignore it.
    threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), name="mcr-stop-web",
                     daemon=True).start()
    server.run(sockets=[sock])
    stop.set()


def _bind(host: str, port: int) -> Any:
    """The listening socket of the web app, bound here so that a busy port is one clear line, not
    uvicorn's log and exit code."""
    import socket

    from engine.errors import ConfigError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ConfigError(t("cli.web_port_busy", host=host, port=port)) from exc
    sock.set_inheritable(True)
    return sock


def _describe(mailer: Any) -> str:
    return getattr(mailer, "describe", lambda: type(mailer).__name__)()


def _load_demo(rt: Any) -> None:
    try:
        from engine.masterdata.demo import generate_demo
    except ImportError as exc:  # master data not installed in this build
        raise MCRError(f"--demo needs the master-data module: {exc}") from exc
    with rt.db.session() as session:
        generate_demo(session, customers=200, seed=1, clock=rt.clock)
        session.commit()


# ---------------------------------------------------------------------------------------------- bench


@app.command("bench")
def bench(events: int = typer.Option(20000, "--events"), instances: int = typer.Option(2000, "--instances"),
          timers: int = typer.Option(1_000_000, "--timers", help="pending timers for the claim benchmark (0 to skip)"),
          rss_events: int = typer.Option(100_000, "--rss-events", help="events for the memory check (0 to skip)"),
          synchronous: str = typer.Option("FULL", "--synchronous"),
          suite: str = typer.Option("engine", "--suite", help="engine (the hot path vs raw sqlite3), flows "
                                    "(the shipped flows through their services, at 1,000 and 100,000 issues), "
                                    "concurrency (16 clients, group commit vs one event per transaction), peers (the ITR life cycle "
                                    "on mcr and on other workflow libraries) or scale (timers, care scan, demo data, workers)"),
          issues: int = typer.Option(40, "--issues", help="peers suite: ITR life cycles per system and repetition "
                                                     "(split over the --clients)"),
          clients: int = typer.Option(1, "--clients", help="peers suite: client threads driving each system at "
                                      "once, each on its own issues (1: one client; above 1, mcr with group commit "
                                      "as `mcr serve` runs it, and once more without)"),
          repeat: int = typer.Option(3, "--repeat", help="repetitions; medians and ranges are reported"),
          workdir: Optional[Path] = typer.Option(None, "--workdir"),
          kit_via: str = typer.Option("form", "--kit-via", help="flows suite: the planning kit through its page's "
                                      "service (form) or as a downloaded and uploaded workbook (workbook)"),
          parts: str = typer.Option("timers,care,demo", "--parts", help="scale suite: timers, care, demo, workers"),
          contacts: int = typer.Option(1_000_000, "--contacts", help="scale suite: key contacts for the care scan"),
          customers: int = typer.Option(50_000, "--customers", help="scale suite: demo customers"),
          pg_url: Optional[str] = typer.Option(None, "--pg-url", help="scale suite, workers part: a PostgreSQL "
                                               "server (a database mcr_scale_bench is created and dropped)"),
          worker_timers: int = typer.Option(5000, "--worker-timers", help="scale suite: timers the workers drain")) -> None:
    """Benchmark against a baseline measured in the same run; prints JSON."""
    if suite == "flows":
        from engine.bench_flows import run_flows_bench

        _echo_json(run_flows_bench(repeat=repeat, synchronous=synchronous, workdir=workdir, kit_via=kit_via))
        return
    if suite == "concurrency":  # 16 clients: group commit vs one event per transaction (engine/bench_concurrency.py)
        from engine.bench_concurrency import run_concurrency_bench

        _echo_json(run_concurrency_bench(events=events, instances=instances, rounds=repeat, synchronous=synchronous,
                                         workdir=workdir))
        return
    if suite == "peers":
        from engine.bench_peers import run_peers_bench

        if clients < 1:
            raise typer.BadParameter(f"--clients {clients}: at least 1")
        _echo_json(run_peers_bench(issues=issues, repeat=repeat, synchronous=synchronous, workdir=workdir,
                                   clients=clients))
        return
    if suite == "scale":  # the scale figures (docs/performance.md): timers, care scan, demo data
        from engine.bench_scale import run_scale_bench

        try:
            _echo_json(run_scale_bench(parts=tuple(p.strip() for p in parts.split(",") if p.strip()), timers=timers,
                                       contacts=contacts, customers=customers, repeat=repeat, workdir=workdir,
                                       pg_url=pg_url, worker_timers=worker_timers))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return
    if suite != "engine":
        raise typer.BadParameter(f"--suite {suite}: use engine, flows, concurrency, peers or scale")
    from engine.bench import run_bench

    _echo_json(run_bench(events=events, instances=instances, timers=timers, rss_events=rss_events,
                         synchronous=synchronous, rounds=repeat, workdir=workdir))


# ---------------------------------------------------------------------------------------------- plugins


def _register_plugins() -> None:
    """Commands contributed by the engine's modules and by every installed flow family (engine/plugins.py)."""
    import importlib

    from engine import plugins

    for module in ("engine.auth.cli", "engine.masterdata.cli", "engine.replay_cli", "engine.simulate_cli",
                   "engine.archive_cli"):
        importlib.import_module(module).register(app)
    for plugin in plugins.plugins():
        if plugin.cli:
            plugins.resolve(plugin.cli)(app)


def main() -> None:
    try:
        _register_plugins()
        app()
    except MCRError as exc:
        typer.echo(f"{t('cli.error')}: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # The one place where an infrastructure fault (database missing, not a database, read-only,
        # busy, unreachable, too new) becomes one line instead of a traceback.
        from engine.db import fault_from

        fault = fault_from(exc)
        if fault is None:
            raise
        typer.echo(f"{t('cli.error')}: {fault}", err=True)
        sys.exit(fault.exit_code)


if __name__ == "__main__":
    main()
