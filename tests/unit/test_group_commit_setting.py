"""MCR_GROUP_COMMIT: where `mcr serve` groups concurrent steps (engine/group_commit.py `wanted`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.db import Database
from engine.errors import ConfigError
from engine.group_commit import wanted


@pytest.mark.parametrize("value, sqlite, pg", [(None, True, False), ("auto", True, False), ("on", True, True),
                                               ("1", True, True), ("off", False, False), ("0", False, False)])
def test_group_commit_is_on_for_sqlite_and_off_for_postgresql_unless_forced(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, sqlite: bool, pg: bool) -> None:
    if value is None:
        monkeypatch.delenv("MCR_GROUP_COMMIT", raising=False)
    else:
        monkeypatch.setenv("MCR_GROUP_COMMIT", value)
    assert wanted(Database(f"sqlite:///{tmp_path / 'x.db'}")) is sqlite
    assert wanted(Database("postgresql://nobody@127.0.0.1:1/none")) is pg  # no connection is made


def test_a_misspelt_group_commit_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MCR_GROUP_COMMIT", "sometimes")
    with pytest.raises(ConfigError, match="MCR_GROUP_COMMIT='sometimes': use auto, on or off"):
        wanted(Database(f"sqlite:///{tmp_path / 'x.db'}"))


def test_a_failed_group_commit_answers_503_on_the_web() -> None:
    from engine.group_commit import GroupCommitFailed
    from engine.web.errors import http_status

    assert http_status(GroupCommitFailed("not applied")) == 503
