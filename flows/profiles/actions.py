"""Guards, actions and launchers of customer_profile.yaml, vendor_profile.yaml and retrospective.yaml.

Every action checks who acts (`ctx.who()`) itself, so a refusal holds whoever sends the event (page,
API, CLI, replay): the team edits and submits, a reviewer in the owner's supervisor chain comments,
sends back or accepts, the owner (or the chain above) records the retrospective. Rows are written on
the step's own transaction (`ctx.tx`); mail leaves through the outbox. Never imports another family.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from engine.clock import to_us
from engine.errors import ActionNotPermitted
from engine.i18n import t
from engine.masterdata.read import MasterData
from engine.registry import action, launcher
from flows.profiles import sections
from flows.profiles.rules import pinned

# ---------------------------------------------------------------------------------------------- who


class NotOnProfile(ActionNotPermitted):
    """Someone not allowed to act on this profile or retrospective (not its team, not its reviewer chain)."""

    status = 403


def _emp(ctx: Any) -> str:
    return ctx.who().emp_no


def _is_engine(ctx: Any) -> bool:
    return bool(ctx.who().is_engine)


def editors(md: MasterData, data: dict[str, Any]) -> set[str]:
    """The customer's owner and backup and the members of its team."""
    team = data.get("team")
    members = {p.emp_no for p in md.members(team)} if team else set()
    return members | {e for e in (data.get("owner"), data.get("backup")) if e}


def reviewers(md: MasterData, data: dict[str, Any]) -> list[str]:
    """The owner's supervisor chain, nearest first: who may review (and no one else)."""
    return [p.emp_no for p in md.supervisor_chain(data["owner"])] if data.get("owner") else []


def check_editor(ctx: Any) -> None:
    if _is_engine(ctx):
        return
    md = MasterData(ctx.tx)
    allowed = editors(md, ctx.data)
    if _emp(ctx) not in allowed:
        ctx.refuse(t("profiles.not_editor", actor=ctx.actor, allowed="、".join(sorted(allowed)) or "-"),
                   NotOnProfile)


def check_reviewer(ctx: Any) -> None:
    chain = reviewers(MasterData(ctx.tx), ctx.data)
    if _emp(ctx) not in chain:
        ctx.refuse(t("profiles.not_reviewer", actor=ctx.actor, chain=" → ".join(chain) or "-"), NotOnProfile)


# ---------------------------------------------------------------------------------------------- the document row


def _doc(ctx: Any) -> tuple[int, dict[str, Any], int]:
    row = ctx.tx.one("SELECT id, content, round FROM profile_doc WHERE id = :i", {"i": ctx.data["doc_id"]})
    return int(row[0]), json.loads(row[1] or "{}"), int(row[2])


def _update_doc(ctx: Any, **values: Any) -> None:
    values = {**values, "updated_us": to_us(ctx.now), "updated_by": ctx.actor}
    sets = ", ".join(f"{k} = :{k}" for k in values)
    ctx.tx.execute(f"UPDATE profile_doc SET {sets} WHERE id = :id", {**values, "id": ctx.data["doc_id"]})


def _last_year(tx: Any, customer: str, kind: str, year: int) -> Optional[dict[str, Any]]:
    row = tx.one("SELECT content FROM profile_doc WHERE customer_code = :c AND kind = :k AND year < :y "
                 "ORDER BY year DESC LIMIT 1", {"c": customer, "k": kind, "y": year})
    return json.loads(row[0]) if row else None


def master_facts(md: MasterData, customer: str, top_n: int) -> sections.MasterFacts:
    c = md.customer(customer)
    extras = md.customer_extras(customer)
    contacts = md.contacts_of_customer(customer)
    execs = [" ".join(x for x in (k.code, k.name, k.title or "") if x) for k in contacts if k.level == "senior"]
    top = sections.top_contacts(md.latest_assessments(customer), top_n)
    return sections.MasterFacts(c.annual_revenue_usd if c else None, extras["credit_grade"],
                                extras["locked_competitors"], extras["key_events"], execs, top)


# ---------------------------------------------------------------------------------------------- profile actions


@action("open_profile")
def open_profile(ctx: Any, kind: str) -> None:
    """Create the year's document, pre-filled from master data and last year's version, and tell the team."""
    rules = pinned(ctx)
    md = MasterData(ctx.tx)
    customer, year = ctx.data["customer"], int(ctx.data["year"])
    content = sections.prefill(kind, master_facts(md, customer, rules.refresh.fishbone_top),
                               _last_year(ctx.tx, customer, kind, year))
    doc_id = ctx.tx.insert_row("profile_doc", {
        "customer_code": customer, "kind": kind, "year": year, "instance_id": ctx.instance_id, "status": "drafting",
        "round": 0, "content": json.dumps(content, ensure_ascii=False), "updated_us": to_us(ctx.now),
        "updated_by": ctx.actor, "accepted_us": None}, returning="id")
    ctx.data.update(doc_id=int(doc_id), round=0, issued_at=ctx.now.isoformat())
    ctx.mail("profile_issued", ctx.data.get("team_emails") or [], dedupe_key=f"{ctx.instance_id}:issued")


@action("save_sections")
def save_sections(ctx: Any) -> None:
    """Save sections ({section: {field: value}}); each value is checked, nothing is half-saved."""
    check_editor(ctx)
    kind = ctx.data["kind"]
    _, content, _ = _doc(ctx)
    locked = MasterData(ctx.tx).customer_extras(ctx.data["customer"])["locked_competitors"]
    merged = sections.merge(kind, content, ctx.payload.get("sections") or {}, rules=pinned(ctx), locked=locked)
    _update_doc(ctx, content=json.dumps(merged, ensure_ascii=False))
    ctx.data["saved_at"] = ctx.now.isoformat()


@action("submit_profile")
def submit_profile(ctx: Any) -> None:
    """Submit for review; a CP's decision chain must be the assessment's top N (鱼骨图)."""
    check_editor(ctx)
    _, content, rnd = _doc(ctx)
    if ctx.data["kind"] == "CP":
        rules = pinned(ctx)
        md = MasterData(ctx.tx)
        assessed = md.latest_assessments(ctx.data["customer"])
        top = sections.top_contacts(assessed, rules.refresh.fishbone_top)
        chain = (content.get("organisation") or {}).get("decision_chain") or []
        missing, extra = sections.fishbone_differences(chain, top, {c: v[0] for c, v in assessed.items()})
        if missing or extra:
            ctx.refuse(t("profiles.fishbone", n=rules.refresh.fishbone_top, missing="、".join(missing) or "-",
                         extra="、".join(extra) or "-"))
    rnd += 1
    _update_doc(ctx, status="in_review", round=rnd)
    ctx.data.update(round=rnd, submitted_at=ctx.now.isoformat(), submitted_by=ctx.actor, round_comments={})
    chain = reviewers(MasterData(ctx.tx), ctx.data)
    reviewer = MasterData(ctx.tx).person(chain[0]) if chain else None
    ctx.data["reviewer"] = reviewer.emp_no if reviewer else None
    ctx.mail("profile_submitted", [reviewer.email] if reviewer else ctx.data.get("sales_management") or [],
             dedupe_key=f"{ctx.instance_id}:submitted:{rnd}")


@action("profile_comment")
def profile_comment(ctx: Any) -> None:
    """A reviewer's comment on one section of the round under review."""
    check_reviewer(ctx)
    comments = _comments(ctx, {ctx.payload.get("section"): ctx.payload.get("text")})
    ctx.data["round_comments"] = comments


def _comments(ctx: Any, new: dict[Any, Any]) -> dict[str, list[str]]:
    kind = ctx.data["kind"]
    out: dict[str, list[str]] = {k: list(v) for k, v in (ctx.data.get("round_comments") or {}).items()}
    for section, text in new.items():
        if section not in sections.sections_of(kind):
            ctx.refuse(t("profiles.unknown_section", section=section, kind=kind,
                         known=", ".join(sections.sections_of(kind))))
        text = str(text or "").strip()
        if not text:
            ctx.refuse(t("profiles.comment_empty", field=f"comments.{section}"))
        out.setdefault(section, []).append(f"{ctx.emp_no}: {text}")
    return out


@action("profile_close_round")
def profile_close_round(ctx: Any, decision: str) -> None:
    """Send back or accept: the round is kept with every comment, whichever way it goes."""
    check_reviewer(ctx)
    extra = ctx.payload.get("comments") or {}
    comments = _comments(ctx, extra) if extra else dict(ctx.data.get("round_comments") or {})
    if decision == "send_back" and not comments:
        ctx.refuse(t("profiles.send_back_needs_comment"))
    doc_id, _, rnd = _doc(ctx)
    ctx.tx.insert_row("profile_review", {"doc_id": doc_id, "round": rnd, "reviewer_emp_no": ctx.emp_no,
                                         "decision": decision, "comments": json.dumps(comments, ensure_ascii=False),
                                         "at_us": to_us(ctx.now)})
    if decision == "accept":
        _update_doc(ctx, status="accepted", accepted_us=to_us(ctx.now))
        ctx.data.update(accepted_at=ctx.now.isoformat(), accepted_by=ctx.emp_no)
    else:
        _update_doc(ctx, status="drafting")
    ctx.data["round_comments"] = {}
    ctx.data["last_decision"] = decision
    ctx.mail("profile_accepted" if decision == "accept" else "profile_sent_back", ctx.data.get("team_emails") or [],
             dedupe_key=f"{ctx.instance_id}:{decision}:{rnd}", comments=comments)


@action("profile_reminder")
def profile_reminder(ctx: Any) -> None:
    name = str(ctx.payload.get("timer") or "")
    ctx.mail("profile_reminder", ctx.data.get("team_emails") or [], dedupe_key=f"{ctx.instance_id}:remind:{name}")


@action("profile_overdue")
def profile_overdue(ctx: Any) -> None:
    """Past the deadline and not submitted: the owner's supervisor is told."""
    ctx.data["overdue_at"] = ctx.now.isoformat()
    to = [ctx.data["supervisor_email"]] if ctx.data.get("supervisor_email") else ctx.data.get("sales_management") or []
    ctx.mail("profile_overdue", to, dedupe_key=f"{ctx.instance_id}:overdue")


@action("profile_escalate")
def profile_escalate(ctx: Any) -> None:
    """Still not submitted some days after the deadline: sales management is told."""
    ctx.data["escalated_at"] = ctx.now.isoformat()
    ctx.mail("profile_escalated", ctx.data.get("sales_management") or [], dedupe_key=f"{ctx.instance_id}:escalated")


@action("profile_review_reminder")
def profile_review_reminder(ctx: Any) -> None:
    reviewer = MasterData(ctx.tx).person(ctx.data.get("reviewer"))
    if reviewer is not None:
        ctx.mail("profile_review_reminder", reviewer.email,
                 dedupe_key=f"{ctx.instance_id}:review_reminder:{ctx.data.get('round')}")


@action("profile_review_escalate")
def profile_review_escalate(ctx: Any) -> None:
    """A review waiting too long: the reviewer's own supervisor and sales management are told."""
    md = MasterData(ctx.tx)
    boss = md.supervisor(ctx.data.get("reviewer"))
    to = sorted({*(ctx.data.get("sales_management") or []), *([boss.email] if boss else [])})
    ctx.data["review_escalated_at"] = ctx.now.isoformat()
    ctx.mail("profile_review_escalated", to, dedupe_key=f"{ctx.instance_id}:review_escalated:{ctx.data.get('round')}")


@launcher("launch_profiles")
def launch_profiles(ctx: Any) -> int:
    from flows.profiles.service import launch_profiles_at

    return len(launch_profiles_at(ctx.runtime, ctx.occurrence))


# ---------------------------------------------------------------------------------------------- retrospective


def _retro_people(ctx: Any) -> set[str]:
    md = MasterData(ctx.tx)
    return {ctx.data.get("owner"), *(p.emp_no for p in md.supervisor_chain(ctx.data["owner"]))} - {None}


def _check_retro_owner(ctx: Any) -> None:
    if _is_engine(ctx):
        return
    allowed = _retro_people(ctx)
    if _emp(ctx) not in allowed:
        ctx.refuse(t("profiles.retro_not_owner", actor=ctx.actor, allowed="、".join(sorted(allowed)) or "-"),
                   NotOnProfile)


def _check_retro_manager(ctx: Any) -> None:
    """The owner's supervisor chain or sales management confirms; never the owner alone."""
    who = ctx.who()
    chain = _retro_people(ctx) - {ctx.data.get("owner")}
    if who.emp_no not in chain and not who.is_sales_management:
        ctx.refuse(t("profiles.retro_not_manager", actor=ctx.actor, allowed="、".join(sorted(chain)) or "-"),
                   NotOnProfile)


@action("open_retrospective")
def open_retrospective(ctx: Any) -> None:
    ctx.data.update(findings="", actions=[], opened_at=ctx.now.isoformat())
    to = [e for e in (ctx.data.get("owner_email"), ctx.data.get("supervisor_email")) if e]
    ctx.mail("retro_open", to, dedupe_key=f"{ctx.instance_id}:retro_open")


@action("record_retrospective")
def record_retrospective(ctx: Any) -> None:
    """The owner records findings (what happened, why) and improvement actions."""
    _check_retro_owner(ctx)
    if "findings" in ctx.payload:
        ctx.data["findings"] = str(ctx.payload.get("findings") or "").strip()
    if "actions" in ctx.payload:
        acts = ctx.payload.get("actions") or []
        ctx.data["actions"] = sections._as_list(acts, "actions")
    ctx.data["recorded_at"] = ctx.now.isoformat()


@action("submit_retrospective")
def submit_retrospective(ctx: Any) -> None:
    _check_retro_owner(ctx)
    record_retrospective(ctx)
    for name in ("findings", "actions"):
        if not ctx.data.get(name):
            ctx.refuse(t("profiles.retro_missing", field=name))
    ctx.data.update(submitted_at=ctx.now.isoformat(), submitted_by=ctx.emp_no)
    to = [ctx.data["supervisor_email"]] if ctx.data.get("supervisor_email") else ctx.data.get("sales_management") or []
    ctx.mail("retro_submitted", to, dedupe_key=f"{ctx.instance_id}:retro_submitted:{ctx.now.isoformat()}")


@action("decide_retrospective")
def decide_retrospective(ctx: Any, confirm: bool) -> None:
    _check_retro_manager(ctx)
    comment = str(ctx.payload.get("comment") or "").strip()
    if not confirm and not comment:
        ctx.refuse(t("profiles.retro_comment_required"))
    history = list(ctx.data.get("decisions") or [])
    history.append({"by": ctx.emp_no, "at": ctx.now.isoformat(), "confirm": confirm, "comment": comment})
    ctx.data["decisions"] = history
    if confirm:
        ctx.data["closed_at"] = ctx.now.isoformat()
    if ctx.data.get("owner_email"):
        ctx.mail("retro_decided", ctx.data["owner_email"], dedupe_key=f"{ctx.instance_id}:retro_decided:{len(history)}",
                 confirm=confirm, comment=comment)


@action("retro_remind")
def retro_remind(ctx: Any) -> None:
    name = str(ctx.payload.get("timer") or "")
    if ctx.data.get("owner_email"):
        ctx.mail("retro_reminder", ctx.data["owner_email"], dedupe_key=f"{ctx.instance_id}:retro_remind:{name}")


@action("retro_overdue")
def retro_overdue(ctx: Any) -> None:
    ctx.data["overdue_at"] = ctx.now.isoformat()
    to = [ctx.data["supervisor_email"]] if ctx.data.get("supervisor_email") else ctx.data.get("sales_management") or []
    ctx.mail("retro_overdue", to, dedupe_key=f"{ctx.instance_id}:retro_overdue")


@action("retro_escalate")
def retro_escalate(ctx: Any) -> None:
    ctx.data["escalated_at"] = ctx.now.isoformat()
    ctx.mail("retro_escalated", ctx.data.get("sales_management") or [], dedupe_key=f"{ctx.instance_id}:retro_escalated")


@launcher("launch_watch")
def launch_watch(ctx: Any) -> int:
    from flows.profiles.watch import run_watch_due

    return run_watch_due(ctx.runtime, ctx.occurrence)
