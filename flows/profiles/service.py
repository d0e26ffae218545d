"""The entry points of CP/VP profiles (CLI, API, replay, the launch): every call carries a `Principal`
and is checked here (or by the flow's actions, which check whoever sends the event).

* `launch_profiles_at` / `launch_profiles` — open the year's CP and VP of every customer of the
  refresh tiers (idempotent: one instance per customer, kind and year);
* `list_profiles`, `show_profile`, `history`, `diff_to_last_year` — reads (visibility below);
* `save`, `submit`, `comment`, `send_back`, `accept` — events of the profile flows;
* `export_workbook`, `import_workbook` — XLSX out and in (flows/profiles/workbook.py);
* `allowed_actions`, `take_action` — for the generic instance page (engine/instances.py).

Who may read a profile: the customer's owner and backup, the members of its team, the supervisors
above the owner, sales management and the operator; anyone else gets `NotVisible`.
"""

from __future__ import annotations

import calendar as _cal
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Optional

from engine.auth.principal import Principal
from engine.errors import MCRError, NotPermitted, NotVisible
from engine.i18n import t
from engine.masterdata.read import MasterData
from flows.profiles import sections
from flows.profiles.actions import editors
from flows.profiles.rules import ProfilesRules, pinned

FLOWS = {"CP": "customer_profile", "VP": "vendor_profile"}
KIND_OF = {v: k for k, v in FLOWS.items()}


class UnknownProfile(MCRError):
    """No such profile (customer, kind, year)."""

    status = 404


def subject(kind: str, customer: str, year: int) -> str:
    return f"profile:{kind}:{customer}:{year}"


def _kind(kind: str) -> str:
    k = str(kind).upper()
    if k not in FLOWS:
        raise sections.ProfileInvalid(t("profiles.bad_kind", kind=kind))
    return k


# ---------------------------------------------------------------------------------------------- launch


def _deadline_at(year: int, rules: ProfilesRules, cal: Any) -> tuple[date, datetime]:
    m, d = rules.refresh.month_day("deadline")
    nominal = date(year, m, min(d, _cal.monthrange(year, m)[1]))
    day = cal.roll_to_workday(nominal, "backward")
    hh, mm = map(int, rules.refresh.deadline_time.split(":"))
    return day, datetime.combine(day, time(hh, mm), tzinfo=cal.tz)


def launch_day(year: int, rules: ProfilesRules) -> date:
    """The day profile year `year` is launched: 1 Dec of the year before by default (with the planning cycle)."""
    lm, ld = rules.refresh.month_day("launch")
    dm, dd = rules.refresh.month_day("deadline")
    y = year - 1 if (lm, ld) > (dm, dd) else year
    return date(y, lm, min(ld, _cal.monthrange(y, lm)[1]))


def years_open_on(day: date, rules: ProfilesRules) -> list[int]:
    """The profile years launched on `day`: from the launch day for `refresh.launch_catch_up_days` more days
    (a launch missed while the engine was down still happens), never after the deadline."""
    dm, dd = rules.refresh.month_day("deadline")
    out = []
    for y in (day.year, day.year + 1):
        first = launch_day(y, rules)
        if first <= day <= min(first + timedelta(days=rules.refresh.launch_catch_up_days),
                               date(y, dm, min(dd, _cal.monthrange(y, dm)[1]))):
            out.append(y)
    return out


def launch_profiles_at(runtime: Any, at: datetime) -> list[int]:
    """The daily launch: on the rules' launch day (and the catch-up days after it) open that year's profiles."""
    rules = pinned(runtime)
    local = at.astimezone(runtime.calendars.get(None).tz).date()
    started: list[int] = []
    for year in years_open_on(local, rules):
        started += _launch(runtime, year, rules, actor="system")
    return started


def launch_profiles(runtime: Any, year: int, *, principal: Principal) -> list[int]:
    """Open year `year`'s profiles now (sales management or the operator) — a repeat opens only what is missing."""
    if not (principal.is_operator or principal.is_engine or principal.is_sales_management):
        raise NotPermitted(t("profiles.launch_not_allowed", actor=principal.actor))
    return _launch(runtime, int(year), pinned(runtime), actor=principal.actor)


def _launch(runtime: Any, year: int, rules: ProfilesRules, *, actor: str) -> list[int]:
    plans = []
    with runtime.db.read() as tx:
        md = MasterData(tx)
        sales = md.sales_management(rules.refresh.sales_management_emails)
        for c in md.customers_with_tiers(rules.refresh.tiers):
            owner = md.person(c.owner_emp_no)
            sup = md.supervisor(c.owner_emp_no)
            team = md.unit(c.team_code) if c.team_code else None
            members = md.members(c.team_code) if c.team_code else []
            emails = sorted({m.email for m in members} | {p.email for p in (owner, md.person(c.backup_emp_no)) if p})
            cal_name = md.calendar_of(c.team_code or c.office_code, runtime.calendars)
            plans.append((c, owner, sup, team, emails, cal_name))
    started = []
    for c, owner, sup, team, emails, cal_name in plans:
        cal = runtime.calendars.get(cal_name)
        deadline, deadline_at = _deadline_at(year, rules, cal)
        for kind in rules.refresh.documents:
            data = {"kind": kind, "customer": c.code, "customer_name": c.name, "tier": c.tier, "year": year,
                    "team": c.team_code, "team_name": team.name if team else c.office_code, "office": c.office_code,
                    "owner": c.owner_emp_no, "owner_name": owner.name if owner else c.owner_emp_no,
                    "backup": c.backup_emp_no, "team_emails": emails,
                    "supervisor": sup.emp_no if sup else None, "supervisor_email": sup.email if sup else None,
                    "sales_management": sales, "locale": owner.locale if owner else "zh-CN", "calendar": cal_name,
                    "deadline": deadline.isoformat(), "deadline_at": deadline_at.isoformat(),
                    "escalate_at": (deadline_at + timedelta(days=rules.refresh.escalate_to_sales_management_days)).isoformat()}
            res = runtime.start(FLOWS[kind], data, actor=actor, subject=subject(kind, c.code, year), calendar=cal_name,
                                internal=True)
            if not res.duplicate:
                started.append(res.instance_id)
    return started


# ---------------------------------------------------------------------------------------------- reads


def _instance_of(tx: Any, kind: str, customer: str, year: int) -> tuple[int, str, dict[str, Any]]:
    row = tx.one("SELECT id, state, data FROM flow_instance WHERE flow = :f AND subject = :s",
                 {"f": FLOWS[kind], "s": subject(kind, customer, year)})
    if row is None:
        raise UnknownProfile(t("profiles.unknown_profile", kind=kind, customer=customer, year=year))
    return int(row[0]), row[1], json.loads(row[2])


def may_read(md: MasterData, p: Principal, data: dict[str, Any]) -> bool:
    return (p.is_operator or p.is_engine or p.is_sales_management or p.covers(data.get("owner"))
            or p.emp_no in editors(md, data))


def _visible(tx: Any, p: Principal, kind: str, customer: str, year: int) -> tuple[int, str, dict[str, Any]]:
    iid, state, data = _instance_of(tx, kind, customer, year)
    if not may_read(MasterData(tx), p, data):
        raise NotVisible(t("profiles.not_visible", viewer=p.actor, kind=kind, customer=customer))
    return iid, state, data


def show_profile(runtime: Any, kind: str, customer: str, year: int, *, principal: Principal) -> dict[str, Any]:
    """The profile with its sections, the VP's comparison table, every review round and the diff to last year."""
    kind = _kind(kind)
    rules = pinned(runtime)
    with runtime.db.read() as tx:
        iid, state, data = _visible(tx, principal, kind, customer, int(year))
        doc = tx.one("SELECT id, status, round, content, updated_us, updated_by, accepted_us FROM profile_doc "
                     "WHERE customer_code = :c AND kind = :k AND year = :y", {"c": customer, "k": kind, "y": int(year)})
        reviews = tx.all("SELECT round, reviewer_emp_no, decision, comments, at_us FROM profile_review "
                         "WHERE doc_id = :d ORDER BY round", {"d": doc[0]})
        last = tx.one("SELECT year, content FROM profile_doc WHERE customer_code = :c AND kind = :k AND year < :y "
                      "ORDER BY year DESC LIMIT 1", {"c": customer, "k": kind, "y": int(year)})
    content = json.loads(doc[3])
    out: dict[str, Any] = {
        "instance_id": iid, "kind": kind, "customer": customer, "customer_name": data.get("customer_name"),
        "year": int(year), "state": state, "status": doc[1], "round": doc[2], "deadline": data.get("deadline"),
        "owner": data.get("owner"), "reviewer": data.get("reviewer"), "content": content,
        "open_comments": data.get("round_comments") or {},
        "reviews": [{"round": r[0], "reviewer": r[1], "decision": r[2], "comments": json.loads(r[3]),
                     "at_us": r[4]} for r in reviews],
        "last_year": last[0] if last else None,
        "diff_to_last_year": sections.diff(kind, json.loads(last[1]) if last else None, content),
    }
    if kind == "VP":
        out["comparison"] = sections.comparison_table(content, rules)
    return out


def list_profiles(runtime: Any, *, principal: Principal, year: Optional[int] = None,
                  customer: Optional[str] = None) -> list[dict[str, Any]]:
    sql = ("SELECT d.customer_code, d.kind, d.year, d.status, d.round, i.id, i.data FROM profile_doc d "
           "JOIN flow_instance i ON i.id = d.instance_id WHERE 1 = 1")
    params: dict[str, Any] = {}
    if year is not None:
        sql, params["y"] = sql + " AND d.year = :y", int(year)
    if customer:
        sql, params["c"] = sql + " AND d.customer_code = :c", customer
    out = []
    with runtime.db.read() as tx:
        md = MasterData(tx)
        for code, kind, y, status, rnd, iid, data_text in tx.all(sql + " ORDER BY d.year, d.customer_code, d.kind",
                                                                  params):
            data = json.loads(data_text)
            if may_read(md, principal, data):
                out.append({"customer": code, "customer_name": data.get("customer_name"), "kind": kind, "year": y,
                            "status": status, "round": rnd, "instance_id": iid, "deadline": data.get("deadline")})
    return out


def history(runtime: Any, customer: str, kind: str, *, principal: Principal) -> list[dict[str, Any]]:
    """Every year's version of a customer's CP or VP, oldest first, each with its diff to the year before."""
    kind = _kind(kind)
    with runtime.db.read() as tx:
        rows = tx.all("SELECT year FROM profile_doc WHERE customer_code = :c AND kind = :k ORDER BY year",
                      {"c": customer, "k": kind})
    return [{k: v for k, v in show_profile(runtime, kind, customer, r[0], principal=principal).items()
             if k in ("year", "status", "round", "reviews", "last_year", "diff_to_last_year")} for r in rows]


def diff_to_last_year(runtime: Any, kind: str, customer: str, year: int, *, principal: Principal) -> list[dict[str, Any]]:
    return show_profile(runtime, kind, customer, year, principal=principal)["diff_to_last_year"]


# ---------------------------------------------------------------------------------------------- events


def _send(runtime: Any, kind: str, customer: str, year: int, event: str, payload: dict[str, Any], *,
          principal: Principal, client_event_id: Optional[str] = None) -> dict[str, Any]:
    kind = _kind(kind)
    with runtime.db.read() as tx:
        iid, _, _ = _visible(tx, principal, kind, customer, int(year))
    res = runtime.send(iid, event, actor=principal.actor, payload=payload, principal=principal,
                       client_event_id=client_event_id)
    return {"instance_id": iid, "state": res.to_state, "version": res.version, "duplicate": res.duplicate}


def save(runtime: Any, kind: str, customer: str, year: int, sections_in: dict[str, Any], *, principal: Principal,
         client_event_id: Optional[str] = None) -> dict[str, Any]:
    return _send(runtime, kind, customer, year, "save", {"sections": sections_in}, principal=principal,
                 client_event_id=client_event_id)


def submit(runtime: Any, kind: str, customer: str, year: int, *, principal: Principal,
           client_event_id: Optional[str] = None) -> dict[str, Any]:
    return _send(runtime, kind, customer, year, "submit", {}, principal=principal, client_event_id=client_event_id)


def comment(runtime: Any, kind: str, customer: str, year: int, section: str, text: str, *, principal: Principal,
            client_event_id: Optional[str] = None) -> dict[str, Any]:
    return _send(runtime, kind, customer, year, "comment", {"section": section, "text": text}, principal=principal,
                 client_event_id=client_event_id)


def send_back(runtime: Any, kind: str, customer: str, year: int, *, principal: Principal,
              comments: Optional[dict[str, str]] = None, client_event_id: Optional[str] = None) -> dict[str, Any]:
    return _send(runtime, kind, customer, year, "send_back", {"comments": comments or {}}, principal=principal,
                 client_event_id=client_event_id)


def accept(runtime: Any, kind: str, customer: str, year: int, *, principal: Principal,
           comments: Optional[dict[str, str]] = None, client_event_id: Optional[str] = None) -> dict[str, Any]:
    return _send(runtime, kind, customer, year, "accept", {"comments": comments or {}}, principal=principal,
                 client_event_id=client_event_id)


# ---------------------------------------------------------------------------------------------- workbook


def export_workbook(runtime: Any, kind: str, customer: str, year: int, target: Path, *,
                    principal: Principal) -> Path:
    from flows.profiles.workbook import write_workbook

    view = show_profile(runtime, kind, customer, year, principal=principal)
    return write_workbook(view, pinned(runtime), Path(target))


def import_workbook(runtime: Any, kind: str, customer: str, year: int, source: Path, *, principal: Principal,
                    client_event_id: Optional[str] = None) -> dict[str, Any]:
    """Read the workbook (every problem with sheet/row/column, nothing saved on any) and save its sections."""
    from flows.profiles.workbook import read_workbook

    kind = _kind(kind)
    changes = read_workbook(Path(source), kind, pinned(runtime))
    return save(runtime, kind, customer, year, changes, principal=principal, client_event_id=client_event_id)


# ---------------------------------------------------------------------------------------------- instance page


_EVENTS = {"customer_profile": ("save", "submit", "comment", "send_back", "accept"),
           "vendor_profile": ("save", "submit", "comment", "send_back", "accept"),
           "retrospective": ("record", "submit", "confirm", "send_back")}


def allowed_actions(rt: Any, instance_id: int, *, principal: Principal) -> list[str]:
    from engine.instances import read_instance

    view = read_instance(rt, instance_id, principal=principal)
    allowed = set(rt.definitions.compiled(view.flow, view.flow_version).allowed.get(view.state, ()))
    return [e for e in _EVENTS.get(view.flow, ()) if e in allowed]


def take_action(rt: Any, instance_id: int, event: str, *, principal: Principal, form: dict[str, Any],
                client_event_id: Optional[str] = None) -> Any:
    from engine.instances import read_instance

    read_instance(rt, instance_id, principal=principal)  # visibility first
    payload: dict[str, Any] = dict(form)
    if "sections" in payload and isinstance(payload["sections"], str):
        try:
            payload["sections"] = json.loads(payload["sections"])
        except ValueError:
            raise sections.ProfileInvalid(t("profiles.bad_value", field="sections", value=payload["sections"])) from None
    if event in ("send_back", "accept") and payload.get("section") and payload.get("text"):
        # a page form carries one comment as two fields; the step takes {section: text}
        payload["comments"] = {payload.pop("section"): payload.pop("text")}
    return rt.send(instance_id, event, actor=principal.actor, payload=payload, principal=principal,
                   client_event_id=client_event_id)


# ---------------------------------------------------------------------------------------------- retrospectives


def retrospective_send(rt: Any, instance_id: int, event: str, payload: dict[str, Any], *, principal: Principal,
                       client_event_id: Optional[str] = None) -> dict[str, Any]:
    """An event of a management retrospective (record, submit, confirm, send_back); the step checks who."""
    from engine.instances import read_instance

    inst = read_instance(rt, instance_id, principal=principal)
    if inst.flow != "retrospective":
        raise UnknownProfile(t("profiles.not_a_retrospective", id=instance_id))
    res = rt.send(inst.id, event, actor=principal.actor, payload=payload, principal=principal,
                  client_event_id=client_event_id)
    return {"instance_id": inst.id, "state": res.to_state, "version": res.version, "duplicate": res.duplicate}


def retrospective_of(rt: Any, customer: str, period: str) -> int:
    with rt.db.read() as tx:
        row = tx.one("SELECT id FROM flow_instance WHERE flow = 'retrospective' AND subject = :s",
                     {"s": f"retro:{customer}:{period}"})
    if row is None:
        raise UnknownProfile(t("profiles.unknown_retrospective", customer=customer, period=period))
    return int(row[0])
