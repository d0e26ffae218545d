"""The hot-path SQL of the engine, in one place, each statement named and explained.

Written for both SQLite (3.35+, for RETURNING) and PostgreSQL; `:name` parameters are
translated for psycopg by engine.db. Instants are integer microseconds (UTC).
"""

from __future__ import annotations

# --- hot and archived rows ---------------------------------------------------------------------

# `mcr archive` (engine/archive.py) moves the history, timers and sent mail of closed instances to
# `<table>_archive` (same columns, ids kept). The one way to read such rows wherever they are:
ARCHIVED_TABLES = ("flow_history", "timer", "outbox")


def with_archive(select: str) -> str:
    """`select`, whose archived tables are written in braces (`FROM {flow_history} h WHERE …`), run on
    the hot tables UNION ALL on their archives. Add ORDER BY / LIMIT after it: they then apply to
    both halves, and each half still walks its own indexes."""
    archived = select.format(**{name: f"{name}_archive" for name in ARCHIVED_TABLES})
    return f"{hot_only(select)}\nUNION ALL\n{archived}"


def hot_only(select: str) -> str:
    """The same `select` on the hot tables alone: for rows that are never archived (pending timers,
    unsent mail), so the query keeps to the hot tables' partial indexes."""
    return select.format(**{name: name for name in ARCHIVED_TABLES})


# --- instances ---------------------------------------------------------------------------------

# Start an instance. ON CONFLICT DO NOTHING + the partial unique index on (flow, subject) make a
# second start for the same subject a no-op (then RETURNING gives no row and the caller looks
# the existing one up) instead of a duplicate kit, reminder or survey.
INSERT_INSTANCE = """
INSERT INTO flow_instance (flow, flow_version, state, version, subject, calendar, locale, data,
                           created_us, updated_us, ended_us, rules_version)
VALUES (:flow, :flow_version, :state, 1, :subject, :calendar, :locale, :data, :now, :now, :ended, :rules_version)
ON CONFLICT DO NOTHING
RETURNING id
"""

SELECT_INSTANCE_BY_SUBJECT = "SELECT id, state, version FROM flow_instance WHERE flow = :flow AND subject = :subject"

SELECT_INSTANCE = """
SELECT id, flow, flow_version, state, version, calendar, locale, data, rules_version
FROM flow_instance WHERE id = :id
"""

# PostgreSQL: lock the row for the whole step, so two workers serialise on one instance instead
# of both computing a step and one failing the version check. SQLite already holds the single
# write lock from BEGIN IMMEDIATE.
SELECT_INSTANCE_FOR_UPDATE = SELECT_INSTANCE + " FOR UPDATE"

# The optimistic lock: the step applies only if nobody moved the instance since we read it.
UPDATE_INSTANCE = """
UPDATE flow_instance
SET state = :state, version = :new_version, data = :data, updated_us = :now, ended_us = :ended
WHERE id = :id AND version = :version
"""

# --- history -----------------------------------------------------------------------------------

INSERT_HISTORY = """
INSERT INTO flow_history (instance_id, at_us, actor, event, from_state, to_state, payload,
                          client_event_id, version)
VALUES (:instance_id, :now, :actor, :event, :from_state, :to_state, :payload, :client_event_id,
        :version)
"""

# A client event id (or a timer firing, `timer:<id>`) already applied: answer with its result —
# also when its instance has been archived since (a client retrying a long-closed issue).
SELECT_CLIENT_EVENT = with_archive(
    "SELECT instance_id, from_state, to_state, version FROM {flow_history} WHERE client_event_id = :cid")

# --- timers ------------------------------------------------------------------------------------

INSERT_TIMER = """
INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status, done_us, note)
VALUES (:instance_id, :timer_key, :name, :event, :state, :due_us, :catch_up, :status, :done_us, :note)
ON CONFLICT DO NOTHING
"""

# Leaving a state cancels the timers armed on entering it.
CANCEL_INSTANCE_TIMERS = """
UPDATE timer SET status = 'cancelled', done_us = :now, note = :note
WHERE instance_id = :instance_id AND status = 'pending'
"""

# A `when:` that stops holding cancels that timer (each item of a list timer: name1, name2, …).
CANCEL_NAMED_TIMER = """
UPDATE timer SET status = 'cancelled', done_us = :now, note = :note
WHERE instance_id = :instance_id AND status = 'pending' AND name = :name
"""

# Claim due timers with a lease. A timer whose lease ran out (its worker died) is claimable
# again; the fire step below still fires it at most once.
CLAIM_DUE_TIMERS_SQLITE = """
UPDATE timer SET claimed_by = :worker, claimed_until_us = :lease_until
WHERE id IN (
    SELECT id FROM timer
    WHERE status = 'pending' AND due_us <= :now
      AND (claimed_until_us IS NULL OR claimed_until_us < :now)
    ORDER BY due_us LIMIT :limit)
RETURNING id, instance_id, name, event, due_us, catch_up, timer_key
"""

# PostgreSQL: SKIP LOCKED lets several workers claim disjoint batches without waiting.
CLAIM_DUE_TIMERS_PG = """
UPDATE timer SET claimed_by = :worker, claimed_until_us = :lease_until
WHERE id IN (
    SELECT id FROM timer
    WHERE status = 'pending' AND due_us <= :now
      AND (claimed_until_us IS NULL OR claimed_until_us < :now)
    ORDER BY due_us LIMIT :limit
    FOR UPDATE SKIP LOCKED)
RETURNING id, instance_id, name, event, due_us, catch_up, timer_key
"""

SELECT_TIMER = """
SELECT id, instance_id, name, event, due_us, catch_up, timer_key, status, state
FROM timer WHERE id = :id
"""

# Exactly once: only the step that moves the row out of 'pending' fires it.
FINISH_TIMER = """
UPDATE timer SET status = :status, done_us = :now, note = :note, claimed_until_us = NULL
WHERE id = :id AND status = 'pending'
"""

NEXT_DUE_TIMER = "SELECT MIN(due_us) FROM timer WHERE status = 'pending'"

# --- outbox ------------------------------------------------------------------------------------

# The dedupe key (e.g. one birthday reminder per contact per year) makes a second queueing of
# the same mail a no-op.
INSERT_OUTBOX = """
INSERT INTO outbox (instance_id, dedupe_key, template, locale, recipient, subject, body, status,
                    attempts, next_attempt_us, created_us)
VALUES (:instance_id, :dedupe_key, :template, :locale, :recipient, :subject, :body, 'pending',
        0, :now, :now)
ON CONFLICT DO NOTHING
"""

# What a step writes (engine/channels/outbox.py): the same row with its channel — mail or a robot
# kind (wecom, dingtalk) with the robot's name in `target` — and, on a reminder mail, its calendar
# invitation (`invite`, engine/channels/invite.py).
INSERT_OUTBOX_NOTICE = """
INSERT INTO outbox (instance_id, dedupe_key, template, locale, recipient, subject, body, status,
                    attempts, next_attempt_us, created_us, channel, target, invite)
VALUES (:instance_id, :dedupe_key, :template, :locale, :recipient, :subject, :body, 'pending',
        0, :now, :now, :channel, :target, :invite)
ON CONFLICT DO NOTHING
"""

# --- refusals ----------------------------------------------------------------------------------

INSERT_REFUSAL = """
INSERT INTO flow_refusal (instance_id, at_us, actor, event, code, message)
VALUES (:instance_id, :now, :actor, :event, :code, :message)
"""

# --- launches ----------------------------------------------------------------------------------

INSERT_LAUNCH_RUN = """
INSERT INTO launch_run (launch, period_key, due_us, status, started, note, at_us)
VALUES (:launch, :period_key, :due_us, :status, 0, :note, :now)
ON CONFLICT DO NOTHING
RETURNING id
"""

FINISH_LAUNCH_RUN = """
UPDATE launch_run SET status = :status, started = :started, note = :note, at_us = :now WHERE id = :id
"""
