"""The survey flows' refusals, each an `MCRError` the CLI prints as one line (exit 1).

Refusals inside a flow step are `ActionFailed` subclasses (the step is rolled back and logged in
`flow_refusal`); refusals before any step (an unknown project, an activity type that needs no
callback) are plain `MCRError`s. File problems are `engine.errors.ImportRejected` with every
problem listed.
"""

from __future__ import annotations

from engine.errors import ActionFailed, MCRError


class SurveyRefused(ActionFailed):
    """A survey rule refused the step; nothing was changed."""

    code = "survey_refused"


class InvalidScore(SurveyRefused):
    """A score is missing or not a whole number from 1 to 5."""

    code = "invalid_score"


class NotInvited(SurveyRefused):
    """The contact was not invited to the activity, or was already called back."""

    code = "not_invited"


class SampleLocked(SurveyRefused):
    """The sample list can no longer change: its results are published."""

    code = "sample_locked"


class UnknownSurveyRecord(MCRError):
    """No such project, activity, customer or callback."""


class NoCallbackNeeded(MCRError):
    """The activity or project needs no callback (type not configured, cancelled, no invitee, not drawn)."""
