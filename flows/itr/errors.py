"""ITR refusals: precise `engine.errors` subclasses, each with its own `code` for the refusal log.

Raised inside a flow step they roll the whole step back and are recorded in `flow_refusal` by
the runtime; raised by the service before a step (an unknown customer at intake) the service
records them there itself. Messages are `itr.*` keys of the catalogue (`engine.i18n.t`) in the user's locale.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ActionFailed, EventNotAllowed, MCRError, NotVisible, QuotaExceeded, UnknownInstance


class UnknownCustomer(ActionFailed):
    """No customer with that code."""

    code = "unknown_customer"


class UnknownRecord(ActionFailed):
    """A contact, employee or organisation unit named in the request does not exist."""

    code = "unknown_record"


class InvalidIssueInput(ActionFailed):
    """A field of the request is missing or not one of the allowed values."""

    code = "invalid_input"


class NotSubmitter(ActionFailed):
    """Only the submitter (问题提交人) may close an issue."""

    code = "not_submitter"


class NotHandler(ActionFailed):
    """Only the issue's current handler may do this."""

    code = "not_handler"


class OverrideNotAllowed(ActionFailed):
    """The person named to override the escalation quota may not approve it."""

    code = "override_not_allowed"


class CallbackByHandler(ActionFailed):
    """A handler of the issue may not record its callback (利益不相关原则)."""

    code = "callback_by_handler"


class IssueNotVisible(NotVisible):
    """You may not see this issue."""

    code = "not_visible"


class NotQa(ActionFailed):
    """Only process QA (流程QA) may decide a QA case."""

    code = "not_qa"


class NoHandler(ActionFailed):
    """No issue handler is available at that level."""

    code = "no_handler"


class EscalationReasonMissing(ActionFailed):
    """An escalation needs one of the four allowed reasons."""

    code = "reason_missing"


class EscalationQuotaExceeded(QuotaExceeded):
    """The escalation would break the unit's self-resolution quota; an override (who, why) is needed."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.details = details or {}
        super().__init__(message, **kwargs)

    def on_refused(self, tx: Any, *, actor: str, now_us: int) -> None:
        """The refused step left nothing behind; the decision itself is kept for the report and QA
        (called by the runtime with the refusal log, whichever path sent the event)."""
        d = self.details
        if self.instance_id is None or not d:
            return
        tx.insert_row("itr_escalation", {
            "issue_id": self.instance_id, "at_us": now_us, "actor": actor, "from_level": d["level"],
            "to_level": d["to_level"], "unit_code": d["unit"], "reason": d["reason"], "note": d.get("note"),
            "decision": "refused", "automatic": False, "counted": False, "qa_flag": False,
            "escalated_before": d["escalated_before"], "unit_issues": d["unit_issues"],
            "quota_limit": d["quota_limit"], "window_start_us": d["window_start_us"],
            "window_end_us": d["window_end_us"], "message": str(self)})
        from flows.itr import counters  # report counters (itrweb)

        counters.report_escalation(tx, self.instance_id, decision="refused", automatic=False, counted=False,
                                   unit=d["unit"], at_us=now_us)


class ScoreOutOfRange(ActionFailed):
    """A callback score must be a whole number from 1 to 5."""

    code = "score_out_of_range"


class CallbackTooSoon(ActionFailed):
    """The same contact may not be called back twice within the gap (10 days)."""

    code = "callback_gap"


class IssueStateRefused(EventNotAllowed):
    """The issue is not in a state where this is possible (e.g. it is closed)."""


class UnknownIssue(UnknownInstance):
    """No issue with that number."""


class ItrUsageError(MCRError):
    """The command's arguments are not usable (a bad week, an unknown office for a report, …)."""
