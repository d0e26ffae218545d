"""Guards and actions of the survey flows: `project_callback`, `activity_callback`, `annual_survey`.

Everything runs inside the flow step's one transaction: rows through `ctx.tx`, master data read
with `engine.masterdata.read`, the ITR improvement issue opened with `flows.survey.itr_link`. A business
refusal is `ctx.refuse(...)` with a `flows.survey.errors` class; a sample list or result file with
problems raises `ImportRejected` listing all of them — either way the step, and everything it
wrote, is rolled back.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import delete, insert, update

from engine.clock import to_us
from engine.contacts import last_callback_at, next_allowed_at
from engine.errors import ActionNotPermitted
from engine.registry import action, guard

from engine.masterdata.read import Contact, MasterData
from flows.survey import rights
from flows.survey.deadlines import project_due
from flows.survey.errors import InvalidScore, NotInvited, SampleLocked, SurveyRefused
from flows.survey.itr_link import improvement_fields, open_improvement
from engine.i18n import label, t
from flows.survey.models import ResultImport, SampleEntry, SampleList, SurveyCallback, SurveyResult
from flows.survey import results, samples
from flows.survey.results import parse_score
from engine.masterdata.settings import MasterDataRules
from flows.survey.rules import CALLBACK_ITEMS, CONTACT_LEVELS, SurveyRules
from flows.survey.tables import rejected


def _local(ctx: Any, when: datetime) -> str:
    return when.astimezone(ctx.calendar.tz).isoformat(timespec="minutes")


def rules(ctx: Any) -> SurveyRules:
    """rules/survey.yaml as registered when this instance started (pinned)."""
    return ctx.rules.get("survey.yaml", SurveyRules)


def _inserted_id(cur: Any) -> int:
    return int(cur.fetchone()[0])


# ============================================================================================ project callback


def _candidates(ctx: Any) -> list[Contact]:
    """Whom the callback may call: the contact named at close, else the customer's contacts by level."""
    named = ctx.data.get("named_contact")
    if named:
        found = MasterData(ctx.tx).contact(named)
        return [found] if found else []
    prefs = rules(ctx).project_callback.contact_preference
    rank = {lv: i for i, lv in enumerate(prefs)}
    return sorted(MasterData(ctx.tx).contacts_of_customer(ctx.data["customer"]),
                  key=lambda c: (rank.get(c.level or "", len(prefs)), c.code))


def _choose(ctx: Any) -> tuple[Contact | None, Contact | None, datetime | None]:
    """(a contact free to call now, else None; the contact free soonest and when)."""
    gap = ctx.rules.get("masterdata.yaml", MasterDataRules).callback_gap_days  # one setting, every flow
    soonest: tuple[Contact | None, datetime | None] = (None, None)
    for c in _candidates(ctx):
        allowed = next_allowed_at(ctx.tx, c.code, gap, include_planned=True, exclude_instance=ctx.instance_id)
        if allowed is None or allowed <= ctx.now:
            return c, None, None
        if soonest[1] is None or allowed < soonest[1]:
            soonest = (c, allowed)
    return None, soonest[0], soonest[1]


@guard("contact_free")
def contact_free(ctx: Any) -> bool:
    """A contact of the project may be called now (none was called back within the gap)."""
    free, _, _ = _choose(ctx)
    return free is not None


@action("assign_callback")
def assign_callback(ctx: Any) -> None:
    contact, _, _ = _choose(ctx)
    if contact is None:  # the guard said yes in this same transaction
        ctx.refuse(t("survey.no_contact", customer=ctx.data["customer"]), error=SurveyRefused)
    if ctx.flow.version >= 3:
        # The flow declares both timers from the pinned rules; data keeps their instants for the mails,
        # the inbox and the same-contact planning (flows/survey/contact_gap.py).
        due_at, remind_at = ctx.timer_due("pending", "due"), ctx.timer_due("pending", "remind")
        if due_at is None or remind_at is None:
            ctx.refuse(t("survey.no_due", flow=ctx.flow.name), error=SurveyRefused)
    else:  # version 2: its timers read data.due_at / data.remind_at
        due = project_due(ctx.now, rules(ctx).project_callback, ctx.calendar)
        due_at, remind_at = due.due_at, due.remind_at
    ctx.data.update(contact=contact.code, contact_name=contact.name, contact_level=contact.level,
                    assigned_at=_local(ctx, ctx.now), due_at=_local(ctx, due_at),
                    remind_at=_local(ctx, remind_at))
    ctx.data.pop("not_before", None)


@action("defer_callback")
def defer_callback(ctx: Any) -> None:
    _, contact, until = _choose(ctx)
    if contact is None or until is None:
        ctx.refuse(t("survey.no_contact", customer=ctx.data["customer"]), error=SurveyRefused)
    last = last_callback_at(ctx.tx, contact.code)
    ctx.data.update(not_before=_local(ctx, until), deferred_contact=contact.code, deferred_contact_name=contact.name,
                    deferred_last_callback=_local(ctx, last) if last else None,
                    deferrals=int(ctx.data.get("deferrals", 0)) + 1)


@action("mark_escalated")
def mark_escalated(ctx: Any) -> None:
    ctx.data["escalated_at"] = _local(ctx, ctx.now)


def _score(ctx: Any, item: str, value: Any, *, required: bool = True) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            ctx.refuse(t("survey.score_missing", item=label("survey.item", item)), error=InvalidScore)
        return None
    score = parse_score(value)
    if score is None:
        ctx.refuse(t("survey.score_invalid", item=label("survey.item", item), value=value), error=InvalidScore)
    return score


def _check_caller(ctx: Any) -> None:
    if not rights.calls_back(ctx.who(), ctx.flow.name, ctx.data):
        ctx.refuse(t("survey.not_caller", actor=ctx.actor, named=ctx.data.get(rights.CALLER_KEY.get(ctx.flow.name, "")) or "-"),
                   error=ActionNotPermitted)


@action("record_project_callback")
def record_project_callback(ctx: Any) -> None:
    """Scores 1–5 for product, solution, delivery and service attitude; a low item opens an ITR issue."""
    _check_caller(ctx)
    policy = rules(ctx).project_callback
    scores = {item: _score(ctx, item, ctx.payload.get(item)) for item in CALLBACK_ITEMS}
    comment = (str(ctx.payload.get("comment") or "").strip() or None)
    low = {k: v for k, v in scores.items() if v is not None and v < policy.low_score_below}
    issue_id = None
    if low:
        fields = improvement_fields(project=ctx.data["project"], project_name=ctx.data.get("project_name", ""),
                                    customer=ctx.data["customer"], contact=ctx.data["contact"],
                                    owner=ctx.data["owner"], low=low, comment=comment,
                                    callback_instance=ctx.instance_id, policy=policy.improvement,
                                    locale=ctx.locale)
        issue_id = open_improvement(ctx, fields)
    ctx.tx.run(insert(SurveyCallback.__table__).values(
        kind="project", instance_id=ctx.instance_id, project_code=ctx.data["project"],
        customer_code=ctx.data["customer"], contact_code=ctx.data["contact"], at_us=to_us(ctx.now), actor=ctx.actor,
        reached=True, comment=comment, low_items=json.dumps(sorted(low)), improvement_issue_id=issue_id, **scores))
    ctx.data.update(scores=scores, comment=comment, low_items=sorted(low), improvement_issue=issue_id,
                    called_back_at=_local(ctx, ctx.now), called_back_by=ctx.actor,
                    on_time=ctx.now <= datetime.fromisoformat(ctx.data["due_at"]))


@action("record_attempt")
def record_attempt(ctx: Any) -> None:
    """A call that did not reach the contact: recorded, the callback stays open."""
    _check_caller(ctx)
    contact = ctx.data.get("contact") if ctx.flow.name == "project_callback" else ctx.payload.get("contact")
    if ctx.flow.name == "activity_callback":
        _invited_and_open(ctx, contact)
    comment = (str(ctx.payload.get("comment") or "").strip() or None)
    ctx.tx.run(insert(SurveyCallback.__table__).values(
        kind="project" if ctx.flow.name == "project_callback" else "activity", instance_id=ctx.instance_id,
        project_code=ctx.data.get("project"), activity_code=ctx.data.get("activity"),
        customer_code=ctx.data["customer"], contact_code=contact, at_us=to_us(ctx.now), actor=ctx.actor,
        reached=False, comment=comment, low_items="[]"))
    if ctx.flow.name == "activity_callback":
        entry = ctx.data["contacts"][contact]
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
    else:
        ctx.data["attempts"] = int(ctx.data.get("attempts", 0)) + 1


@action("cancel_callback")
def cancel_callback(ctx: Any) -> None:
    _check_caller(ctx)
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        ctx.refuse(t("survey.cancel_needs_reason"), error=SurveyRefused)
    ctx.data.update(cancel_reason=reason, cancelled_by=ctx.actor, cancelled_at=_local(ctx, ctx.now))


# ============================================================================================ activity callback


def _outstanding(data: dict[str, Any]) -> list[str]:
    return sorted(c for c, e in data.get("contacts", {}).items() if e.get("status") != "done")


def _invited_and_open(ctx: Any, contact: Any) -> dict[str, Any]:
    contacts = ctx.data.get("contacts", {})
    if not contact or contact not in contacts:
        ctx.refuse(t("survey.not_invited", contact=contact or "∅", activity=ctx.data["activity"]), error=NotInvited)
    entry = contacts[contact]
    if entry.get("status") == "done":
        ctx.refuse(t("survey.already_called", contact=contact, at=entry.get("at")), error=NotInvited)
    return entry


@guard("completes_callbacks")
def completes_callbacks(ctx: Any) -> bool:
    """This callback is the last one outstanding for the activity."""
    return _outstanding(ctx.data) == [ctx.payload.get("contact")]


@action("record_activity_callback")
def record_activity_callback(ctx: Any) -> None:
    _check_caller(ctx)
    contact = ctx.payload.get("contact")
    entry = _invited_and_open(ctx, contact)
    score = _score(ctx, "overall", ctx.payload.get("score"), required=False)
    comment = (str(ctx.payload.get("comment") or "").strip() or None)
    ctx.tx.run(insert(SurveyCallback.__table__).values(
        kind="activity", instance_id=ctx.instance_id, activity_code=ctx.data["activity"],
        project_code=ctx.data.get("project"), customer_code=ctx.data["customer"], contact_code=contact,
        at_us=to_us(ctx.now), actor=ctx.actor, reached=True, score=score, comment=comment, low_items="[]"))
    entry.update(status="done", at=_local(ctx, ctx.now), by=ctx.actor, score=score, comment=comment,
                 on_time=ctx.now <= datetime.fromisoformat(ctx.data["due_at"]))
    ctx.data["outstanding"] = _outstanding(ctx.data)


@action("note_missed")
def note_missed(ctx: Any) -> None:
    ctx.data["missed"] = _outstanding(ctx.data)
    ctx.data["missed_at"] = _local(ctx, ctx.now)


# ============================================================================================ annual survey


def _year(ctx: Any) -> int:
    return int(ctx.data["year"])


def _sample_row(ctx: Any, customer: str) -> Any:
    return ctx.tx.one("SELECT id, status, revision FROM survey_sample WHERE year = :y AND customer_code = :c",
                      {"y": _year(ctx), "c": customer})


def _rows(payload: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(int(r[0]), dict(r[1])) for r in payload.get("rows") or []]


@action("accept_sample_list")
def accept_sample_list(ctx: Any) -> None:
    """Check the team's list against the rules and store it (replacing an earlier, unpublished one)."""
    policy = rules(ctx).annual
    code = str(ctx.payload.get("customer") or "")
    source = str(ctx.payload.get("source") or "inline")
    checked = samples.check_in(ctx.tx, source, _rows(ctx.payload), customer_code=code, year=_year(ctx), rules=policy)
    if checked.problems:
        raise rejected(source, checked.problems)
    existing = _sample_row(ctx, code)
    if existing is not None and existing[1] == "published":
        ctx.refuse(t("survey.sample_published", customer=code, year=_year(ctx)), error=SampleLocked)
    values = dict(status="accepted", required_size=checked.required, size=len(checked.rows), source=source,
                  submitted_us=to_us(ctx.now), submitted_by=ctx.actor, exported_us=None, instance_id=ctx.instance_id)
    if existing is None:
        sample_id = _inserted_id(ctx.tx.run(insert(SampleList.__table__).values(
            year=_year(ctx), customer_code=code, revision=1, **values).returning(SampleList.__table__.c.id)))
        revision = 1
    else:
        sample_id, revision = existing[0], existing[2] + 1
        ctx.tx.run(delete(SampleEntry.__table__).where(SampleEntry.__table__.c.sample_id == sample_id))
        ctx.tx.run(update(SampleList.__table__).where(SampleList.__table__.c.id == sample_id)
                   .values(revision=revision, **values))
    ctx.tx.run(insert(SampleEntry.__table__).values([
        {"sample_id": sample_id, "row_no": r.row, "contact_code": r.contact_code, "level": r.level, "method": r.method}
        for r in checked.rows]))
    ctx.data.setdefault("lists", {})[code] = {"status": "accepted", "size": len(checked.rows),
                                              "required": checked.required, "revision": revision,
                                              **{lv: checked.counts.get(lv, 0) for lv in CONTACT_LEVELS}}
    ctx.data["last_result"] = {"customer": code, "size": len(checked.rows), "revision": revision}


@action("mark_exported")
def mark_exported(ctx: Any) -> None:
    customers = [str(c) for c in ctx.payload.get("customers") or []]
    t = SampleList.__table__
    for code in customers:
        ctx.tx.run(update(t).where(t.c.year == _year(ctx), t.c.customer_code == code, t.c.status != "published")
                   .values(status="exported", exported_us=to_us(ctx.now)))
        entry = ctx.data.setdefault("lists", {}).get(code)
        if entry is not None and entry.get("status") != "published":
            entry["status"] = "exported"
    ctx.data.setdefault("exports", []).append({"at": _local(ctx, ctx.now), "file": ctx.payload.get("file"),
                                               "customers": customers})


def _result_rows(ctx: Any) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    from flows.survey.results import COLUMNS, inline_rows
    from flows.survey.tables import read_rows

    if ctx.payload.get("file"):
        path = Path(str(ctx.payload["file"]))
        source = str(path)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            ctx.refuse(t("survey.file_missing", reason=exc.strerror or str(exc)), error=SurveyRefused)
        if ctx.payload.get("sha256") and digest != ctx.payload["sha256"]:
            ctx.refuse(t("survey.bad_file", reason="changed while it was being imported"), error=SurveyRefused)
        sheet = read_rows(path, COLUMNS, sheets=("结果", "results", "Results", "结果模板"), xlsx_only=False)
        return source, sheet.rows
    return str(ctx.payload.get("source") or "inline"), inline_rows(list(ctx.payload.get("rows") or []))


@action("publish_results")
def publish_results(ctx: Any) -> None:
    """Import the survey firm's results all or nothing, store them, and publish them in full to the teams."""
    year = _year(ctx)
    source, rows = _result_rows(ctx)
    tx = ctx.tx
    checked = results.check_in(tx, source, rows, year=year)
    if checked.problems:
        raise rejected(source, checked.problems)
    import_id = _inserted_id(tx.run(insert(ResultImport.__table__).values(
        year=year, source=source, rows=len(checked.rows), customers=json.dumps(checked.customers),
        imported_us=to_us(ctx.now), actor=ctx.actor, instance_id=ctx.instance_id).returning(ResultImport.__table__.c.id)))
    snapshot = {}
    md = MasterData(tx)
    for code in checked.customers:
        c = md.customer(code)
        region = md.region_of(c.office_code)
        snapshot[code] = {"tier": c.tier, "office_code": c.office_code, "region_code": region.code if region else None}
    values = [{"import_id": import_id, "year": year, "row_no": r.row, "customer_code": r.customer_code,
               "contact_code": r.contact_code, "category": r.category, "item": r.item, "score": r.score,
               "comment": r.comment, **snapshot[r.customer_code]} for r in checked.rows]
    for start in range(0, len(values), 500):
        tx.run(insert(SurveyResult.__table__).values(values[start:start + 500]))
    t = SampleList.__table__
    from flows.survey.report import customer_summary

    md = MasterData(tx)
    for code in checked.customers:
        tx.run(update(t).where(t.c.year == year, t.c.customer_code == code)
               .values(status="published", published_us=to_us(ctx.now)))
        c = md.customer(code)
        mine = [r for r in checked.rows if r.customer_code == code]
        summary = customer_summary(mine)
        team = {}  # the account manager, the backup (B角) and the manager's supervisor, once each
        for person in (md.person(c.owner_emp_no), md.person(c.backup_emp_no), md.supervisor(c.owner_emp_no)):
            if person is not None and person.email:
                team.setdefault(person.email.lower(), person)
        contact_names = {k: v.name for k, v in md.contacts([r.contact_code for r in mine if r.contact_code]).items()}
        for person in team.values():
            ctx.mail("survey_results_published", person.email, locale=person.locale,
                     dedupe_key=f"results:{year}:{code}:{import_id}", customer={"code": c.code, "name": c.name},
                     year=year, summary=summary,
                     rows=[{**r.as_dict(), "contact_name": contact_names.get(r.contact_code or "", "")}
                           for r in sorted(mine, key=lambda r: (r.contact_code or "", r.category, r.item))])
        entry = ctx.data.setdefault("lists", {}).setdefault(code, {})
        entry.update(status="published", results=len(mine), average=summary["average"])
    opened = _open_improvements(ctx, year, checked.customers)
    ctx.data.setdefault("imports", []).append({"id": import_id, "at": _local(ctx, ctx.now), "source": source,
                                               "rows": len(checked.rows), "customers": checked.customers,
                                               "improvements": opened})


def _open_improvements(ctx: Any, year: int, customers: list[str]) -> list[int]:
    """One improvement item per customer and item averaging below the threshold (once a year), owned by the
    customer's team, with an ITR improvement issue in this same step when ITR is installed."""
    from flows.survey.itr_link import annual_improvement_fields
    from flows.survey.models import Improvement
    from flows.survey.quality import low_items

    annual = rules(ctx).annual
    below = annual.improvement_below
    md = MasterData(ctx.tx)
    table = Improvement.__table__
    opened: list[int] = []
    for low in low_items(ctx.tx, year, customers, below):
        if ctx.tx.one("SELECT 1 FROM survey_improvement WHERE year = :y AND customer_code = :c AND category = :k "
                      "AND item = :i", {"y": year, "c": low["customer"], "k": low["category"], "i": low["item"]}):
            continue
        c = md.customer(low["customer"])
        item_id = _inserted_id(ctx.tx.run(insert(table).values(
            year=year, customer_code=c.code, team_code=c.team_code, category=low["category"], item=low["item"],
            average=low["average"], threshold=below, status="open", opened_us=to_us(ctx.now),
            instance_id=ctx.instance_id).returning(table.c.id)))
        contact = low["contact"] or next((k.code for k in md.contacts_of_customer(c.code)), None)
        owner = md.person(c.owner_emp_no)
        if contact and owner is not None:
            fields = annual_improvement_fields(
                year=year, customer=c.code, contact=contact, owner=owner.emp_no, category=low["category"],
                item=low["item"], average=low["average"], threshold=below, item_id=item_id,
                policy=rules(ctx).project_callback.improvement, locale=owner.locale or "zh-CN")
            issue = open_improvement(ctx, fields)
            if issue is not None:
                ctx.tx.run(update(table).where(table.c.id == item_id).values(issue_id=issue))
        opened.append(item_id)
    return opened


def _customers_without_a_list(ctx: Any, policy: Any, year: int,
                              team: str | None = None) -> Iterator[tuple[Any, Any, int, dict[str, int]]]:
    """In-scope customers (of `team`, or all) with no sample list for `year` and an owner to mail:
    (customer, owner, list size, split by contact level)."""
    have = {r[0] for r in ctx.tx.all("SELECT customer_code FROM survey_sample WHERE year = :y", {"y": year})}
    for c in MasterData(ctx.tx).customers_with_tiers(list(policy.tiers)):
        if c.code in have or (team is not None and c.team_code != team):
            continue
        owner = MasterData(ctx.tx).person(c.owner_emp_no)
        if owner is None or not owner.email:
            continue
        size = policy.required_size(c.annual_revenue_usd)
        yield c, owner, size, {lv: round(policy.levels[lv] * size) for lv in CONTACT_LEVELS}


@action("remind_missing_lists")
def remind_missing_lists(ctx: Any) -> None:
    """Teams whose in-scope customer has no accepted list for the year get a reminder (once a day)."""
    policy = rules(ctx).annual
    year = _year(ctx)
    today = ctx.now.astimezone(ctx.calendar.tz).date().isoformat()
    missing = []
    for c, owner, size, split in _customers_without_a_list(ctx, policy, year):
        ctx.mail("sample_list_reminder", owner.email, locale=owner.locale,
                 dedupe_key=f"sample-reminder:{year}:{c.code}:{today}", customer={"code": c.code, "name": c.name},
                 year=year, size=size, split=split)
        missing.append(c.code)
    ctx.data["missing_lists"] = missing
    ctx.data["reminded_at"] = _local(ctx, ctx.now)


@action("request_sample_lists")
def request_sample_lists(ctx: Any) -> None:
    """The yearly launch asks one team (payload `team`) for the lists of its in-scope customers that have none."""
    policy = rules(ctx).annual
    year, team = _year(ctx), str(ctx.payload["team"])
    asked = []
    for c, owner, size, split in _customers_without_a_list(ctx, policy, year, team):
        ctx.mail("sample_list_request", owner.email, locale=owner.locale,
                 dedupe_key=f"sample-request:{year}:{c.code}", customer={"code": c.code, "name": c.name},
                 year=year, size=size, split=split, remind_every=policy.remind_every)
        asked.append(c.code)
    ctx.data.setdefault("requested", {})[team] = {"at": _local(ctx, ctx.now), "customers": asked}


@action("close_year")
def close_year(ctx: Any) -> None:
    ctx.data.update(closed_by=ctx.actor, closed_at=_local(ctx, ctx.now))
