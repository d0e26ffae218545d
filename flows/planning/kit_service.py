"""The planning kit as its page and its JSON API use it: the kits a person may see, one kit's three
sections pre-filled like the workbook, drafts, submitting section by section, the workbook taken back
by upload, the supervisor's review and the budget roll-up.

One validator serves every way in: the form's rows, the API's rows and an uploaded workbook all
become the workbook reader's model (`workbook.raw_from_rows` / `read_kit_workbook`) and go through
`workbook.validate_kit`. Each problem it finds carries its sheet, row and column AND the page's form
field (`workbook.form_field`), so the page marks the very field the workbook message names.

Permissions are decided here (and again by the flow's steps): reading a kit through
`engine.instances.read_instance` (the team, its supervisor chain, sales management), editing and
submitting by the team or its chain (`rights.in_team`), reviewing by the supervisor chain or sales
management (`rights.reviews_kit`). A draft records nothing; only a submitted section reaches the
kit flow, and a section with any problem writes nothing at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from engine import i18n
from engine.auth import Principal
from engine.clock import to_us
from engine.errors import ActionNotPermitted, ImportRejected, MCRError
from engine.instances import InstanceView, load_instance, read_instance
from engine.sql import with_archive
from flows.planning import rights
from engine.steps import one_transaction
from flows.planning.kit import KIT_FLOW, KitRefused, budget_rollup
from flows.planning.rules import registered_kit_rules
from flows.planning.workbook import (ASSESSMENT_COLS, COLUMNS, DIMENSIONS, OBJECTIVE_COLS, PLAN_COLS, SECTIONS,
                                     SHEET_OF_SECTION, KCol, KitContent, ParsedKit, SheetProblem, _text, kit_content,
                                     load_reference, raw_from_rows, read_kit_workbook, validate_kit)

SECTION_EVENT = {"assessment": "submit_assessment", "objectives": "submit_objectives", "plan": "submit_plan"}
# The state in which the kit waits for each section (the flow takes them in this order).
SECTION_WAITS_IN = {"assessment": "issued", "objectives": "assessment_submitted", "plan": "objectives_submitted"}
STATE_ORDER = ("preparing", "issued", "assessment_submitted", "objectives_submitted", "plan_submitted",
               "supervisor_review", "done")
PLAN_BLANK_ROWS = 3  # empty lines offered under the action plan's rows


class UnknownSection(MCRError):
    """There is no such kit section (assessment, objectives, plan)."""

    status = 404


def _check_section(section: str) -> None:
    if section not in SECTIONS:
        raise UnknownSection(i18n.t("planning.kit.web.unknown_section", section=section, sections=", ".join(SECTIONS)))


# ============================================================================================ who may


def _kit(rt: Any, instance_id: int, principal: Principal, what: str = "read") -> tuple[InstanceView, bool]:
    """The kit and whether `principal` may edit it (its team or the team's chain): the instance and the
    team's members on one read transaction, once per service call."""
    from flows.planning.kit_actions import team_members

    with rt.db.read() as tx:
        inst = load_instance(rt, instance_id)
        team = str(inst.data.get("team"))
        may_edit = inst.flow == KIT_FLOW and rights.in_team(principal, team, team_members(tx, team))
    # The team, its chain and the reviewers read the kit; anyone else is decided, and a refusal recorded,
    # by the engine's one rule for reading an instance.
    if inst.flow != KIT_FLOW or not (may_edit or rights.reviews_kit(principal, inst.data)):
        inst = read_instance(rt, instance_id, principal=principal, what=what)
    if inst.flow != KIT_FLOW:
        raise KitRefused(i18n.t("web.instance.no_kit", locale=principal.locale, id=instance_id))
    return inst, may_edit


def _require_team(rt: Any, inst: InstanceView, may_edit: bool, principal: Principal, what: str) -> None:
    if not may_edit:
        exc = ActionNotPermitted(i18n.t("planning.not_team", actor=principal.actor, team=inst.data.get("team")))
        rt.record_refusal(inst.id, principal.actor, what, exc)
        raise exc


def _require_open(inst: InstanceView, section: Optional[str] = None) -> None:
    """The kit takes drafts and submissions only before review; a section only while it is not in."""
    team, year = inst.data.get("team"), inst.data.get("year")
    if inst.state == "done":
        raise KitRefused(i18n.t("planning.kit.web.approved", team=team, year=year))
    if inst.state == "supervisor_review":
        raise KitRefused(i18n.t("planning.kit_in_review", team=team, year=year))
    if inst.state == "preparing":
        raise KitRefused(i18n.t("planning.kit_preparing", team=team, year=year))
    if section is not None and _section_status(inst.state, section) == "submitted":
        raise KitRefused(i18n.t("planning.kit.web.section_submitted", section=_section_title(section), team=team,
                                year=year))


# ============================================================================================ views


def _section_title(section: str, locale: Optional[str] = None) -> str:
    return i18n.t(f"planning.kit.web.section.{section}", locale)


def _section_status(state: str, section: str) -> str:
    """open (the kit waits for it) | later (an earlier section first) | submitted | approved."""
    if state == "done":
        return "approved"
    waits = STATE_ORDER.index(SECTION_WAITS_IN[section])
    here = STATE_ORDER.index(state)
    return "open" if here == waits else ("later" if here < waits else "submitted")


@dataclass
class KitSummary:
    instance_id: int
    team: str
    team_name: str
    year: int
    office: Optional[str]
    region: Optional[str]
    state: str
    deadline: str
    budget: Optional[int]


@dataclass
class SectionView:
    name: str
    sheet: str
    status: str  # open | later | submitted | approved
    editable: bool
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    draft_saved_at: Optional[str] = None
    draft_by: Optional[str] = None
    submitted: Optional[dict[str, Any]] = None
    sent_back: Optional[str] = None  # the supervisor's comment on this section when the kit came back


@dataclass
class KitView:
    instance_id: int
    team: str
    team_name: str
    year: int
    office: Optional[str]
    office_name: Optional[str]
    region: Optional[str]
    state: str
    deadline: Optional[str]
    supervisor: Optional[str]
    supervisor_name: Optional[str]
    budget: Optional[int]
    can_edit: bool
    can_review: bool
    sections: list[SectionView]
    scale: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    customers: list[dict[str, Any]] = field(default_factory=list)
    send_backs: list[dict[str, Any]] = field(default_factory=list)
    approved_by: Optional[str] = None
    approved_at: Optional[str] = None
    review_comment: Optional[str] = None


def list_kits(rt: Any, *, principal: Principal, year: Optional[int] = None) -> list[KitSummary]:
    """The kits `principal` may read (the team's own, its chain's, everything for sales management), by team."""
    sql = "SELECT id, state, data FROM flow_instance WHERE flow = :f"
    params: dict[str, Any] = {"f": KIT_FLOW}
    if year is not None:
        sql += " AND subject LIKE :s"
        params["s"] = f"kit:%:{int(year)}"
    with rt.db.read() as tx:
        rows = tx.all(sql + " ORDER BY id", params)
    broad = principal.is_engine or principal.is_operator or principal.is_sales_management or principal.is_qa
    units_below: set[str] = set()
    if not broad and principal.below:
        # The units of the people below: one read, instead of the members of every kit's team.
        names = sorted(principal.below)
        marks = ", ".join(f":e{i}" for i in range(len(names)))
        with rt.db.read() as tx:
            units_below = {r[0] for r in tx.all(f"SELECT DISTINCT unit_code FROM employee WHERE emp_no IN ({marks})",
                                                {f"e{i}": n for i, n in enumerate(names)}) if r[0]}
    out = []
    for iid, state, raw in rows:
        data = json.loads(raw)
        team = str(data.get("team"))
        # engine.instances.may_read's rule for a kit (its team, the team's chain, its supervisor), without a
        # read per kit
        if not (broad or team == principal.unit_code or team in units_below or principal.covers(data.get("supervisor"))):
            continue
        out.append(KitSummary(iid, team, str(data.get("team_name") or team), int(data.get("year") or 0),
                              data.get("office"), data.get("region"), state, str(data.get("deadline") or ""),
                              data.get("budget")))
    out.sort(key=lambda k: (-k.year, k.region or "", k.office or "", k.team))
    return out


def _content(rt: Any, data: dict[str, Any]) -> KitContent:
    rules = registered_kit_rules(rt)
    with rt.db.session() as session:
        return kit_content(session, str(data["team"]), str(data.get("team_name") or ""), int(data["year"]),
                           rules.tiers, rules.masterdata)


def _drafts(rt: Any, instance_id: int) -> dict[str, dict[str, Any]]:
    with rt.db.read() as tx:
        rows = tx.all("SELECT section, rows, actor, updated_us FROM planning_kit_draft WHERE instance_id = :i",
                      {"i": instance_id})
    return {r[0]: {"rows": json.loads(r[1]), "actor": r[2], "updated_us": int(r[3])} for r in rows}


def _columns(cols: Iterable[KCol], locale: str) -> list[dict[str, Any]]:
    en = locale == "en"
    return [{"key": c.key, "label": c.en if en else c.zh, "input": c.input, "required": c.required and c.input}
            for c in cols]


def _overlay(base: list[dict[str, Any]], draft: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Pre-filled lines with the draft's values laid over them by `key`; draft lines no line matches at the end."""
    by_key = {str(r.get(key)): r for r in draft if r.get(key)}
    rows = []
    for line in base:
        rows.append({**line, **{k: v for k, v in by_key.pop(str(line.get(key)), {}).items() if v not in (None, "")}})
    return rows + list(by_key.values())


def prefilled_rows(content: KitContent, section: str) -> list[dict[str, Any]]:
    """The lines the workbook is pre-filled with, as form rows keyed by column key."""
    if section == "assessment":
        rows = []
        for line in content.contacts:
            row: dict[str, Any] = {"customer_code": line.customer_code, "customer_name": line.customer_name,
                                   "contact_code": line.code, "contact_name": line.name, "title": line.title,
                                   "roles": line.roles, "owner": line.owner, "locked": "；".join(line.locked) or None}
            row.update({f"last_{d}": line.last_scores.get(d) for d in DIMENSIONS})
            rows.append(row)
        return rows
    if section == "objectives":
        return [{"customer_code": c["code"], "customer_name": c["name"], "tier": c["tier"]} for c in content.customers]
    return []


def _form_rows(content: KitContent, section: str, draft: list[dict[str, Any]], md_rules: Any) -> list[dict[str, Any]]:
    base = prefilled_rows(content, section)
    if section == "assessment":
        rows = _overlay(base, draft, "contact_code")
    elif section == "objectives":
        rows = _overlay(base, draft, "customer_code")
    else:
        # A workbook's 活动类型 is Chinese text, the API's the code: the form's choice is the code.
        rows = [{**r, "activity_type": md_rules.parse_activity_type(str(r.get("activity_type") or ""))
                 or r.get("activity_type")} for r in draft]
    return rows


def rows_from_form(form: dict[str, str], section: str) -> list[dict[str, Any]]:
    """The rows of one section posted by the kit page: fields `<section>-<i>-<key>` (`workbook.form_field`)."""
    keys = {c.key for c in COLUMNS[SHEET_OF_SECTION[section]]}
    rows: dict[int, dict[str, Any]] = {}
    prefix = section + "-"
    for name, value in form.items():
        if not name.startswith(prefix):
            continue
        index, _, key = name[len(prefix):].partition("-")
        if index.isdigit() and key in keys and int(index) < 5000:
            rows.setdefault(int(index), {})[key] = value
    return [rows.get(i, {}) for i in range(max(rows) + 1)] if rows else []


def kit_view(rt: Any, instance_id: int, *, principal: Principal,
             posted: Optional[dict[str, list[dict[str, Any]]]] = None) -> KitView:
    """One kit as its page shows it: each section's rows (draft over the pre-filled lines, or `posted`
    rows a refused submission sent back to correct), who may edit and review, the projects and scale."""
    inst, may_edit = _kit(rt, instance_id, principal)
    data = inst.data
    content = _content(rt, data)
    md = registered_kit_rules(rt).masterdata
    drafts = _drafts(rt, inst.id)
    can_edit = inst.state in SECTION_WAITS_IN.values() and may_edit
    can_review = inst.state == "supervisor_review" and rights.reviews_kit(principal, data)
    last_back = (data.get("send_backs") or [None])[-1]
    sections = []
    for section in SECTIONS:
        status = _section_status(inst.state, section) if inst.state != "preparing" else "later"
        draft = drafts.get(section, {})
        given = (posted or {}).get(section)
        rows = _form_rows(content, section, given if given is not None else draft.get("rows") or [], md)
        editable = can_edit and status in ("open", "later")  # a later section may be drafted ahead
        if section == "plan" and editable:
            rows += [{} for _ in range(PLAN_BLANK_ROWS)]
        back = None
        if last_back and status != "submitted":
            back = (last_back.get("comments") or {}).get(section) or (
                last_back.get("comment") if last_back.get("step") == section else None)
        sections.append(SectionView(
            section, SHEET_OF_SECTION[section], status, editable,
            _columns(COLUMNS[SHEET_OF_SECTION[section]], principal.locale), rows,
            draft_saved_at=_iso(rt, draft.get("updated_us")), draft_by=draft.get("actor"),
            submitted=(data.get("sections") or {}).get(section), sent_back=back))
    en = principal.locale == "en"
    return KitView(
        inst.id, str(data["team"]), str(data.get("team_name") or ""), int(data["year"]), data.get("office"),
        data.get("office_name"), data.get("region"), inst.state, data.get("deadline"), data.get("supervisor"),
        data.get("supervisor_name"), data.get("budget"), can_edit, can_review, sections,
        [{"score": lvl.score, "label": lvl.en if en else lvl.zh} for lvl in md.assessment_scale],
        [{"code": p.code, "name": p.name, "customer_code": p.customer_code, "level": p.level,
          "decision_date": p.decision_date.isoformat() if p.decision_date else None} for p in content.projects],
        [{"code": c["code"], "name": c["name"], "tier": c["tier"]} for c in content.customers],
        list(data.get("send_backs") or []), data.get("approved_by"), data.get("approved_at"),
        data.get("review_comment"))


def _iso(rt: Any, us: Optional[int]) -> Optional[str]:
    if us is None:
        return None
    from engine.clock import from_us

    return from_us(us).isoformat()


# ============================================================================================ validating


def _clean_rows(rows: Iterable[dict[str, Any]], section: str) -> list[dict[str, Any]]:
    """Only the section's columns, values as text (what a draft keeps and the validator reads)."""
    keys = [c.key for c in COLUMNS[SHEET_OF_SECTION[section]]]
    out = []
    for r in rows:
        row = {k: (_text(r[k]) if r.get(k) is not None else None) for k in keys}
        out.append({k: (v if v != "" else None) for k, v in row.items()})
    return out


def _has_input(row: dict[str, Any], section: str) -> bool:
    return any(row.get(c.key) not in (None, "") for c in COLUMNS[SHEET_OF_SECTION[section]] if c.input)


def _kept(clean: list[dict[str, Any]], section: str) -> list[dict[str, Any]]:
    """The rows a draft keeps: those with input, and the pre-filled contact and customer lines."""
    return [r for r in clean if _has_input(r, section)
            or (section != "plan" and (r.get("contact_code") or r.get("customer_code")))]


def check_rows(rt: Any, data: dict[str, Any], section: str, rows: list[dict[str, Any]], *,
               file: str = "form") -> tuple[Optional[ParsedKit], list[SheetProblem]]:
    """Validate one section's rows with the workbook's validator: (the parsed rows, no problems) or
    (None, every problem — each with its sheet/row/column and its form field)."""
    team, year = str(data["team"]), int(data["year"])
    raw = raw_from_rows({section: rows}, team=team, year=year, file=file)
    rules = registered_kit_rules(rt)
    with rt.db.read() as tx:
        ref = load_reference(tx, raw, team, year, rules.tiers, rules.masterdata, rules.planning.kit)
    try:
        return validate_kit(raw, ref), []
    except ImportRejected as exc:
        return None, [p for p in exc.problems if isinstance(p, SheetProblem)]


class KitProblems(ImportRejected):
    """The section was not submitted (nothing was recorded): each problem names its field and its cell."""


def _reject(problems: list[SheetProblem], section: str) -> KitProblems:
    return KitProblems(problems, header=i18n.t("planning.kit.web.rejected", section=_section_title(section),
                                               n=len(problems)))


# ============================================================================================ drafts


def _store_draft(rt: Any, instance_id: int, section: str, rows: list[dict[str, Any]], *, actor: str,
                 source: str) -> None:
    with rt.db.tx() as tx:
        _store_draft_in(tx, rt, instance_id, section, rows, actor=actor, source=source)


def _store_draft_in(tx: Any, rt: Any, instance_id: int, section: str, rows: list[dict[str, Any]], *, actor: str,
                    source: str) -> None:
    """Keep a section's rows as its draft, inside the caller's transaction (one row per kit and section)."""
    params = {"i": instance_id, "s": section, "r": json.dumps(rows, ensure_ascii=False), "src": source, "a": actor,
              "now": to_us(rt.clock.now())}
    found = tx.one("SELECT id FROM planning_kit_draft WHERE instance_id = :i AND section = :s", params)
    if found is None:
        tx.execute("INSERT INTO planning_kit_draft (instance_id, section, rows, source, actor, updated_us) "
                   "VALUES (:i, :s, :r, :src, :a, :now)", params)
    else:
        tx.execute("UPDATE planning_kit_draft SET rows = :r, source = :src, actor = :a, updated_us = :now "
                   "WHERE id = :id", {**params, "id": found[0]})


@dataclass
class DraftResult:
    instance_id: int
    section: str
    rows: int
    problems: list[SheetProblem]


def save_draft(rt: Any, instance_id: int, section: str, rows: list[dict[str, Any]], *, principal: Principal,
               source: str = "form") -> DraftResult:
    """Keep what the team typed into one section (草稿): saved as it is, checked, problems answered (not
    raised) so the page can mark them; nothing is submitted or recorded by the kit."""
    _check_section(section)
    inst, may_edit = _kit(rt, instance_id, principal)
    _require_team(rt, inst, may_edit, principal, f"draft {section}")
    _require_open(inst, section)
    every = _clean_rows(rows, section)
    clean = _kept(every, section)
    problems: list[SheetProblem] = []
    if any(_has_input(r, section) for r in clean):
        _, problems = check_rows(rt, inst.data, section, every)
    _store_draft(rt, inst.id, section, clean, actor=principal.actor, source=source)
    return DraftResult(inst.id, section, sum(1 for r in clean if _has_input(r, section)), problems)


# ============================================================================================ submitting


@dataclass
class SectionSubmitted:
    instance_id: int
    section: str
    state: str
    rows: int
    budget: Optional[int] = None


def _applied(rt: Any, client_event_id: str) -> bool:
    with rt.db.read() as tx:
        return tx.one(with_archive("SELECT 1 FROM {flow_history} WHERE client_event_id = :c"),
                      {"c": client_event_id}) is not None


def submit_section(rt: Any, instance_id: int, section: str, *, principal: Principal,
                   rows: Optional[list[dict[str, Any]]] = None, client_event_id: Optional[str] = None,
                   source: str = "form") -> SectionSubmitted:
    """Submit one section: `rows` (the form's or the API's), else the section's draft.

    Checked with the one validator first: any problem → `KitProblems` (422), nothing saved. The kit
    takes its sections in order (assessment → objectives → action plan); the action plan in asks the
    supervisor to review. A section already in, or any section of an approved kit → `KitRefused` (409).
    With a `client_event_id` already applied, the kit as it is now is answered."""
    _check_section(section)
    inst, may_edit = _kit(rt, instance_id, principal)
    event = SECTION_EVENT[section]
    if client_event_id is not None and _applied(rt, f"{client_event_id}:{event}"):
        return SectionSubmitted(inst.id, section, inst.state, 0, inst.data.get("budget"))
    _require_team(rt, inst, may_edit, principal, event)
    _require_open(inst, section)
    if inst.state != SECTION_WAITS_IN[section]:
        first = next(s for s in SECTIONS if _section_status(inst.state, s) == "open")
        raise KitRefused(i18n.t("planning.kit.web.section_order", section=_section_title(section),
                                first=_section_title(first)))
    from_draft = rows is None
    with rt.db.read():  # the draft and the master data it names, on one read transaction
        if rows is None:
            rows = _drafts(rt, inst.id).get(section, {}).get("rows") or []
        clean = _clean_rows(rows, section)
        parsed, problems = check_rows(rt, inst.data, section, clean, file=source)
    if problems or parsed is None:
        raise _reject(problems, section)
    # One transaction for the user's action: the rows kept as the draft, the section's step and, with the
    # action plan in, the request for review — one commit. A step the flow refuses is undone alone (what
    # came before it commits, as when each was its own transaction), recorded and raised.
    review_res: Any = None
    with one_transaction(rt) as steps:
        if not from_draft:  # what was submitted stays on the page as the section's rows (sent back: edited again)
            _store_draft_in(steps.tx, rt, inst.id, section, _kept(clean, section), actor=principal.actor,
                            source=source)
        res = steps.send(inst.id, event, actor=principal.actor, principal=principal,
                         payload={"file": source, "rows": parsed.section_payload(section)},
                         client_event_id=f"{client_event_id}:{event}" if client_event_id else None)
        if res is not None and res.to_state == "plan_submitted":
            review_res = steps.send(inst.id, "request_review", actor=principal.actor, principal=principal,
                                    payload={"budget": parsed.budget},
                                    client_event_id=f"{client_event_id}:request_review" if client_event_id else None)
    state = res.to_state
    budget = None
    if state == "plan_submitted":
        budget = parsed.budget
        state = review_res.to_state
    return SectionSubmitted(inst.id, section, state, len(parsed.section_payload(section)), budget)


# ============================================================================================ upload


@dataclass
class UploadResult:
    instance_id: int
    sections: list[str]  # drafted from the workbook
    skipped: list[str]  # in the workbook but already submitted


def upload_workbook(rt: Any, instance_id: int, file: Path, *, principal: Principal, section: Optional[str] = None,
                    name: Optional[str] = None) -> UploadResult:
    """A filled kit workbook (the downloaded one) taken back as drafts — one section or every open one.

    Checked by the same validator as the form (sheet, row and column named): a workbook with any
    problem, of another team or year, or that is not a workbook saves nothing. The sections drafted
    are then submitted from the page, like typed ones."""
    if section is not None:
        _check_section(section)
    inst, may_edit = _kit(rt, instance_id, principal)
    _require_team(rt, inst, may_edit, principal, "upload")
    _require_open(inst, section)
    team, year = str(inst.data["team"]), int(inst.data["year"])
    wanted = [section] if section else [s for s in SECTIONS if _section_status(inst.state, s) in ("open", "later")]
    label = name or file.name
    raw = read_kit_workbook(file, wanted)
    raw.file = label
    raw.problems.file = label
    rules = registered_kit_rules(rt)
    with rt.db.session() as session:
        ref = load_reference(session, raw, team, year, rules.tiers, rules.masterdata, rules.planning.kit)
    parsed = validate_kit(raw, ref)  # ImportRejected: every problem, nothing saved
    done, skipped = [], []
    for s in SECTIONS:
        if s not in parsed.sections:
            continue
        if s not in wanted:
            skipped.append(s)
            continue
        sheet = raw.sheets[SHEET_OF_SECTION[s]]
        rows = _clean_rows([cells for _, cells in sheet.rows], s)
        _store_draft(rt, inst.id, s, [r for r in rows if _has_input(r, s)], actor=principal.actor, source=label)
        done.append(s)
    return UploadResult(inst.id, done, skipped)


# ============================================================================================ review


def review(rt: Any, instance_id: int, *, principal: Principal, approve: bool,
           comments: Optional[dict[str, str]] = None, comment: Optional[str] = None,
           client_event_id: Optional[str] = None) -> Any:
    """The supervisor approves the kit, or sends it back with comments per section: it goes back to the
    first section commented (the flow redoes the sections from there on)."""
    inst, _ = _kit(rt, instance_id, principal)
    if client_event_id is not None and _applied(rt, client_event_id):
        return load_instance(rt, inst.id)
    if not rights.reviews_kit(principal, inst.data):
        exc = ActionNotPermitted(i18n.t("planning.not_reviewer", actor=principal.actor, team=inst.data["team"],
                                        reviewer=inst.data.get("supervisor") or "-"))
        rt.record_refusal(inst.id, principal.actor, "approve" if approve else "send_back", exc)
        raise exc
    if inst.state != "supervisor_review":
        key = "planning.kit.web.approved" if inst.state == "done" else "planning.kit.web.not_in_review"
        raise KitRefused(i18n.t(key, team=inst.data["team"], year=inst.data["year"]))
    notes = {s: c.strip() for s, c in (comments or {}).items() if s in SECTIONS and (c or "").strip()}
    if approve:
        return rt.send(inst.id, "approve", actor=principal.actor, principal=principal,
                       payload={"comment": (comment or "").strip()}, client_event_id=client_event_id)
    if not notes:
        raise KitRefused(i18n.t("planning.comment_required"))
    step = next(s for s in SECTIONS if s in notes)
    text = "\n".join(f"{_section_title(s)}: {c}" for s, c in notes.items())
    return rt.send(inst.id, "send_back", actor=principal.actor, principal=principal,
                   payload={"step": step, "comment": text, "comments": notes}, client_event_id=client_event_id)


# ============================================================================================ budget


def budget_view(rt: Any, year: int, *, principal: Principal) -> dict[str, Any]:
    """`budget_rollup` of the teams `principal` may see (all of them for sales management), re-totalled."""
    with rt.db.session() as session:
        full = budget_rollup(session, year)
    if principal.is_engine or principal.is_operator or principal.is_sales_management or principal.is_qa:
        return full
    units: set[str] = {principal.unit_code} if principal.unit_code else set()
    if principal.below:
        names = sorted(principal.below)
        marks = ", ".join(f":e{i}" for i in range(len(names)))
        with rt.db.read() as tx:
            units |= {r[0] for r in tx.all(f"SELECT DISTINCT unit_code FROM employee WHERE emp_no IN ({marks})",
                                           {f"e{i}": n for i, n in enumerate(names)}) if r[0]}
    teams = [t for t in full["teams"] if t["team"] in units]
    offices: dict[str, int] = {}
    regions: dict[str, int] = {}
    for t in teams:
        offices[t["office"] or "-"] = offices.get(t["office"] or "-", 0) + t["budget"]
        regions[t["region"] or "-"] = regions.get(t["region"] or "-", 0) + t["budget"]
    return {"year": year, "total": sum(t["budget"] for t in teams), "regions": dict(sorted(regions.items())),
            "offices": dict(sorted(offices.items())), "teams": teams}
