"""Replay plugin of planning and care (loaded by engine/replay.py): scenario commands, the
`planning_masterdata:` setup and the output sections `kits`, `plans`, `revisions`, `reminders`,
`digests`, `handovers`, `contacts`.

Commands take the scenario step's `as:` as the acting employee. Workbooks for `planning.submit`
and `planning.revise` are built from inline rows (keys as in flows/planning/workbook.py:
customer_code, contact_code, acceptance, acceptance_evidence, …; project_code, planned_date,
budget, …), so a scenario shows exactly what the team typed.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from engine.auth.principal import Principal
from engine.errors import ImportRejected, MCRError
from engine.replay import ReplayContext, scenario_command, scenario_section, scenario_setup


def _kits_folder() -> Path:
    # Kits issued by the 1 Dec launch go to MCR_KIT_DIR; a replay must never write into the
    # working directory, so it gets a private folder unless the caller chose one.
    if not os.environ.get("MCR_KIT_DIR"):
        os.environ["MCR_KIT_DIR"] = tempfile.mkdtemp(prefix="mcr-replay-kits-")
    return Path(os.environ["MCR_KIT_DIR"])


# Every scenario (ITR's and the survey's too) runs with all flows loaded, so one that crosses
# 1 Dec 09:00 with S/A teams in its master data issues planning kits: set the folder as soon as
# the replay loads this plugin, not only in planning's own setup.
_kits_folder()


def _work(ctx: ReplayContext) -> Path:
    if "planning_tmp" not in ctx.extra:
        ctx.extra["planning_tmp"] = Path(tempfile.mkdtemp(prefix="mcr-replay-planning-"))
    return ctx.extra["planning_tmp"]


def _today(ctx: ReplayContext) -> date:
    return ctx.clock.now().astimezone(ctx.tz).date()


def _d(value: Any) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _who(ctx: ReplayContext, actor: str | None) -> Any:
    """The step's `as:` as a principal; without one the engine itself ("system")."""
    return ctx.principal(actor) if actor else Principal.engine("system")


# ============================================================================================ setup


@scenario_setup("planning_masterdata")
def setup_masterdata(ctx: ReplayContext, value: Any) -> None:
    """`planning_masterdata: {sample: 2027, contacts: [...], ...}` — the sample organisation of
    flows/planning/sample.py for planning year `sample` (omit or false: none), plus rows per kind
    (org, customers, contacts, assessments, sponsors, projects), upserted by code."""
    from flows.planning.sample import load_records, sample_records

    _kits_folder()
    value = dict(value or {})
    year = value.pop("sample", 2027)
    with ctx.db.session() as session:
        if year:
            load_records(session, sample_records(int(year)), clock=ctx.clock)
        if value:
            load_records(session, {k: list(v) for k, v in value.items()}, clock=ctx.clock)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@scenario_setup("planning_rules")
def setup_rules(ctx: ReplayContext, value: Any) -> None:
    """`planning_rules: {planning.yaml: {rhythm: {weekly_teams: [T-SZ-EG]}}}` — like the engine's
    `rules:`, merged into the scenario's copy of rules/, but also for overrides holding lists (the
    engine's `rules:` cannot dump YAML lists yet; see docs/planning.md). Calendar files are reloaded."""
    import yaml

    from engine.app import load_calendar_registry
    from engine.rules import rules_dir

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    folder = rules_dir()
    for name, override in _plain(dict(value or {})).items():
        path = folder / name
        current = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(merge(current or {}, override), allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    if any(str(name).startswith("calendars/") for name in (value or {})):
        ctx.runtime.calendars = load_calendar_registry(folder)


# ============================================================================================ planning commands


@scenario_command("planning.launch")
def cmd_launch(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """The launch's plain steps (the replay never starts Prefect)."""
    from flows.planning.kit import launch_kits_direct

    _kits_folder()
    report = launch_kits_direct(ctx.runtime, int(args["year"]))
    return {"teams": report.teams, "issued": report.issued, "already": report.already,
            "failures": report.failures}


def _workbook(ctx: ReplayContext, args: dict[str, Any], team: str, year: int) -> Path:
    from flows.planning.workbook import workbook_from_rows

    n = ctx.extra["planning_wb"] = ctx.extra.get("planning_wb", 0) + 1
    return workbook_from_rows(_work(ctx) / f"{team}-{year}-{n}.xlsx", team=team, year=year,
                              assessments=args.get("assessments"), objectives=args.get("objectives"),
                              plan=args.get("plan"), sheet_names=args.get("sheet_names"))


def _short_paths(exc: ImportRejected, path: Path) -> ImportRejected:
    """The same refusal, naming the workbook by its file name (a replay's output must not carry the
    random temporary folder, so scenarios can expect the whole message)."""
    from dataclasses import replace

    from engine import i18n

    problems = [replace(p, file=path.name, message=p.message.replace(str(path), path.name)) for p in exc.problems]
    return ImportRejected(problems, header=i18n.t("planning.kit_rejected", file=path.name, n=len(problems)))


@scenario_command("planning.submit")
def cmd_submit(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.kit import kit_instance, submit_kit

    team = args["team"]
    year = int(args.get("year") or kit_instance(ctx.runtime, team).data["year"])
    path = _workbook(ctx, args, team, year)
    try:
        res = submit_kit(ctx.runtime, team, path, principal=_who(ctx, actor), year=year)
    except ImportRejected as exc:
        raise _short_paths(exc, path) from exc
    return {"instance": res.instance_id, "sections": res.sections, "state": res.state, "budget": res.budget}


@scenario_command("planning.review")
def cmd_review(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.kit import review_kit

    res = review_kit(ctx.runtime, args["team"], int(args["year"]), principal=_who(ctx, actor),
                     approve=args.get("decision", "approve") == "approve", step=args.get("step"),
                     comment=args.get("comment"))
    return {"instance": res.instance_id, "state": res.to_state}


@scenario_command("planning.revise")
def cmd_revise(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.rhythm import revise

    team, year = args["team"], int(args["year"])
    path = _workbook(ctx, args, team, year)
    try:
        return revise(ctx.runtime, team, year, path, principal=_who(ctx, actor), reason=str(args.get("reason") or ""))
    except ImportRejected as exc:
        raise _short_paths(exc, path) from exc


@scenario_command("planning.start")
def cmd_start(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """Start a rhythm round now: self-checks, weekly-checks, cards, half-year, evaluations, tier-reviews."""
    from flows.planning import rhythm, strategy

    at = ctx.clock.now()
    kind = args["kind"]
    fns = {"self-checks": lambda: rhythm.start_self_checks(ctx.runtime, at, weekly=False),
           "weekly-checks": lambda: rhythm.start_self_checks(ctx.runtime, at, weekly=True),
           "cards": lambda: rhythm.start_card_reviews(ctx.runtime, at),
           "half-year": lambda: rhythm.start_team_reviews(ctx.runtime, "half_year_review", at),
           "evaluations": lambda: rhythm.start_team_reviews(ctx.runtime, "annual_evaluation", at),
           "tier-reviews": lambda: strategy.start_tier_reviews(ctx.runtime, at)}
    return {"started": fns[kind]()}


def _send(ctx: ReplayContext, flow: str, subject: str, event: str, actor: str | None, payload: dict[str, Any]) -> Any:
    from flows.planning.common import find_instance

    inst = find_instance(ctx.db, flow, subject)
    if inst is None:
        raise MCRError(f"no {flow} instance for {subject}")
    principal = _who(ctx, actor)
    res = ctx.runtime.send(inst.id, event, actor=principal.actor, principal=principal, payload=payload)
    return {"instance": res.instance_id, "state": res.to_state}


@scenario_command("planning.check")
def cmd_check(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    emp = args.get("emp") or actor
    kind = "weeklycheck" if "-W" in str(args["period"]) else "selfcheck"
    return _send(ctx, "self_check", f"{kind}:{emp}:{args['period']}", "submit", actor,
                 {"progress": args.get("progress"), "note": args.get("note")})


@scenario_command("planning.card")
def cmd_card(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{emp, period, confirm: false, kept, committed, pbc}` — the employee's review, or with
    `confirm: true` the supervisor's confirmation."""
    emp = args.get("emp") or actor
    if args.get("confirm"):
        return _send(ctx, "card_review", f"card:{emp}:{args['period']}", "confirm", actor, {"comment": args.get("comment")})
    return _send(ctx, "card_review", f"card:{emp}:{args['period']}", "review", actor,
                 {k: args.get(k) for k in ("kept", "committed", "pbc", "note")})


@scenario_command("planning.halfyear")
def cmd_halfyear(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return _send(ctx, "half_year_review", f"halfyear:{args['team']}:{args['year']}", "complete", actor,
                 {"summary": args.get("summary")})


@scenario_command("planning.evaluation")
def cmd_evaluation(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    event = "approve" if args.get("approve") else "submit"
    return _send(ctx, "annual_evaluation", f"evaluation:{args['team']}:{args['year']}", event, actor,
                 {"score": args.get("score"), "summary": args.get("summary")})


@scenario_command("planning.tier")
def cmd_tier(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{customer, period, propose: S|A|B|C, reason}` or `{customer, period, decide: approve|reject}`."""
    subject = f"tier-review:{args['customer']}:{args['period']}"
    if "decide" in args:
        return _send(ctx, "tier_review", subject, args["decide"], actor, {"comment": args.get("comment")})
    return _send(ctx, "tier_review", subject, "propose", actor, {"tier": args.get("propose"),
                                                                 "reason": args.get("reason")})


@scenario_command("planning.win_rate")
def cmd_win_rate(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.strategy import record_win_rate

    out = record_win_rate(ctx.runtime, args["customer"], str(args["period"]), principal=_who(ctx, actor),
                          rate=args.get("rate"), wins=args.get("wins"), bids=args.get("bids"))
    return {"rate": out["rate"], "alert": out["alert"]}


# ============================================================================================ care commands


@scenario_command("care.scan")
def cmd_scan(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.care import run_care_scan

    r = run_care_scan(ctx.runtime, _d(args.get("date")) or _today(ctx))
    return {"day": r.day, "people": r.people, "items": r.items, "mails": r.mails}


@scenario_command("care.visit")
def cmd_visit(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.care import log_visit

    out = log_visit(ctx.db, ctx.clock, args["contact"], principal=_who(ctx, actor), by=args.get("by"),
                    tz=ctx.runtime.calendars.get(None).tz,
                    on=_d(args.get("date")) or _today(ctx), kind=args.get("kind", "visit"), note=args.get("note"),
                    place=args.get("place"))
    return {"next_due": out["next_due"], "duplicate": out["duplicate"]}


@scenario_command("care.contact_moved")
def cmd_contact_moved(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.handover import contact_moved

    r = contact_moved(ctx.runtime, args["contact"], reason=args["reason"], principal=_who(ctx, actor),
                      new_customer=args.get("customer"), new_title=args.get("title"), new_level=args.get("level"),
                      to=args.get("to"))
    return {"instance": r.instance_id, "from": r.from_owner, "to": r.to_owner, "started": r.started}


@scenario_command("care.employee_moved")
def cmd_employee_moved(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.handover import employee_moved

    rs = employee_moved(ctx.runtime, args["emp"], reason=args["reason"], principal=_who(ctx, actor), to=args.get("to"))
    return {r.contact: {"instance": r.instance_id, "to": r.to_owner} for r in rs}  # `$id.K002.instance`


@scenario_command("care.introduce")
def cmd_introduce(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.handover import introduce

    res = introduce(ctx.runtime, int(args["handover"]), principal=_who(ctx, actor), note=args.get("note") or "")
    return {"instance": res.instance_id, "state": res.to_state}


@scenario_command("care.coverage")
def cmd_coverage(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from flows.planning.care import set_coverage

    set_coverage(ctx.db, ctx.clock, args["customer"], args["emp"], _d(args["since"]), principal=_who(ctx, actor))  # type: ignore[arg-type]
    return {"ok": True}


# ============================================================================================ sections


def _instances(ctx: ReplayContext, flow: str) -> list[tuple[int, str, dict[str, Any]]]:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT id, state, data FROM flow_instance WHERE flow = :f ORDER BY id", {"f": flow})
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


@scenario_section("kits")
def section_kits(ctx: ReplayContext) -> Any:
    return [{"instance": i, "team": d["team"], "year": d["year"], "state": s, "deadline": d.get("deadline"),
             "reminded": d.get("reminded", []), "overdue_at": d.get("overdue_at"),
             "escalated_at": d.get("escalated_at"), "budget": d.get("budget"),
             "sections": sorted((d.get("sections") or {}).keys()), "sent_back": d.get("sent_back", 0)}
            for i, s, d in _instances(ctx, "planning_kit")]


@scenario_section("plans")
def section_plans(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        acts = tx.all("SELECT team_code, year, customer_code, project_code, planned_date, budget, superseded_by "
                      "FROM planning_activity ORDER BY id")
        objs = tx.all("SELECT team_code, year, customer_code, relationship_target, superseded_by "
                      "FROM planning_objective ORDER BY id")
    return {"activities": [{"team": a[0], "year": a[1], "customer": a[2], "project": a[3], "date": str(a[4])[:10],
                            "budget": a[5], "current": a[6] is None} for a in acts],
            "objectives": [{"team": o[0], "year": o[1], "customer": o[2], "target": o[3], "current": o[4] is None}
                           for o in objs]}


@scenario_section("revisions")
def section_revisions(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT team_code, year, half, seq, actor, budget_before, budget_after FROM planning_revision "
                      "ORDER BY id")
    return [{"team": r[0], "year": r[1], "half": r[2], "seq": r[3], "by": r[4], "budget_before": r[5],
             "budget_after": r[6]} for r in rows]


@scenario_section("reminders")
def section_reminders(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT item_key, recipient_emp_no, kind, digest_day FROM care_reminder ORDER BY id")
    return [{"key": r[0], "to": r[1], "kind": r[2], "day": str(r[3])[:10]} for r in rows]


@scenario_section("visit_norms")
def section_visit_norms(ctx: ReplayContext) -> Any:
    """The weekly visit-norm reminders and escalations alone (an exact list is then easy to expect)."""
    return [r for r in section_reminders(ctx) if r["kind"] in ("visit_norm", "visit_norm_escalation")]


@scenario_section("visits")
def section_visits(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT contact_code, emp_no, kind, visit_date, place FROM care_visit ORDER BY id")
    return [{"contact": r[0], "by": r[1], "kind": r[2], "date": str(r[3])[:10], "place": r[4]} for r in rows]


@scenario_section("digests")
def section_digests(ctx: ReplayContext) -> Any:
    return [{"instance": i, "emp": d["emp"], "day": d["day"], "state": s, "sent": d.get("sent", 0),
             "items": [{"kind": x["kind"], "key": x["key"], "day": x["day"], "sponsors": x.get("sponsors") or [],
                        "owner": x.get("owner")} for x in d.get("items") or []]}
            for i, s, d in _instances(ctx, "care_digest")]


@scenario_section("handovers")
def section_handovers(ctx: ReplayContext) -> Any:
    return [{"instance": i, "contact": d["contact"], "reason": d["reason"], "from": d["from_owner"],
             "to": d["to_owner"], "customer": d["customer"], "state": s, "escalated_at": d.get("escalated_at"),
             "introduced_by": d.get("introduced_by")} for i, s, d in _instances(ctx, "handover")]


@scenario_section("contacts")
def section_contacts(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT code, customer_code, owner_emp_no, backup_emp_no, title, level FROM contact ORDER BY code")
        assessments = dict(tx.all("SELECT contact_code, COUNT(*) FROM contact_assessment GROUP BY contact_code"))
        visits = dict(tx.all("SELECT contact_code, COUNT(*) FROM care_visit GROUP BY contact_code"))
        pbc = dict(tx.all("SELECT code, visit_pbc FROM contact WHERE visit_pbc IS NOT NULL"))
    return [{"code": r[0], "customer": r[1], "owner": r[2], "backup": r[3], "title": r[4], "level": r[5],
             "assessments": int(assessments.get(r[0], 0)), "visits": int(visits.get(r[0], 0)),
             "pbc": json.loads(pbc[r[0]]) if r[0] in pbc else None} for r in rows]


# ============================================================================================ marketing activities


@scenario_command("activity.track")
def cmd_activity_track(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{code: A1}` — start the activity's life cycle (what the daily sync does)."""
    from flows.planning.activities import track_activity

    return {"instance": track_activity(ctx.runtime, args["code"], principal=_who(ctx, actor))}


@scenario_command("activity.act")
def cmd_activity_act(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{code: A1, event: hold|invite|submit_summary|close_item|close|cancel, ...payload}`."""
    from flows.planning.activities import act

    payload = {k: _plain(v) for k, v in args.items() if k not in ("code", "event")}
    out = act(ctx.runtime, args["code"], args["event"], principal=_who(ctx, actor), payload=payload)
    return {"instance": out["instance"], "state": out["state"]}


@scenario_command("activity.meeting")
def cmd_activity_meeting(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{office: O-SZ}` — the weekly sales meeting's list; compare with `expect_result`."""
    from flows.planning.activities import meeting_list

    return [{"activity": l.activity, "state": l.state, "open_items": [i["text"] for i in l.open_items]}
            for l in meeting_list(ctx.runtime, args["office"], principal=_who(ctx, actor))]
