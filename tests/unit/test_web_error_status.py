"""How errors become HTTP statuses (engine/web/errors.py)."""

from __future__ import annotations

from engine.errors import DatabaseBusy, DatabaseMissing, InvalidRules, NotVisible, TransitionRefused, UnknownFlow
from engine.web.errors import error_code, http_status


def test_a_database_that_cannot_be_used_now_answers_503_not_bad_input() -> None:
    assert http_status(DatabaseBusy("busy")) == 503
    assert http_status(DatabaseMissing("gone")) == 503
    assert error_code(DatabaseBusy("busy")) == "database_busy"


def test_user_errors_keep_their_statuses() -> None:
    assert http_status(NotVisible("x")) == 403
    assert http_status(UnknownFlow("x")) == 404
    assert http_status(InvalidRules("x", [])) == 422
    assert http_status(TransitionRefused("x")) == 409
