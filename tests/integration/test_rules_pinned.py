"""Rules pinned like flow definitions (engine/rules.py): a registered change reaches the instances
started after it and never one already running, and the change itself is on record (who, when,
what) — on a real SQLite file and PostgreSQL, through the ITR service."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.rules import rules_history
from engine.runtime import Runtime
from tests.conftest import ROOT
from tests.integration.test_itr_service import make_runtime, resolved
from tests.support.principals import principal_of
from flows.itr import service
from flows.itr.rules import ItrRules


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    monkeypatch.setenv("MCR_RULES_DIR", str(folder))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    return folder


def raise_close_min_score(rules: Path, to: int) -> None:
    path = rules / "itr.yaml"
    text = path.read_text(encoding="utf-8")
    assert "close_min_score: 3 " in text
    path.write_text(text.replace("close_min_score: 3 ", f"close_min_score: {to} "), encoding="utf-8")


def test_registering_the_same_folder_again_makes_no_new_version(db: Database, clock: FakeClock, rules: Path) -> None:
    rt = make_runtime(db, clock)
    first = rt.current_rules().version
    assert rt.register_rules("E-OPS").version == first
    with db.read() as tx:
        assert [v["version"] for v in rules_history(tx)] == [first]


def test_a_rules_change_reaches_new_issues_only_and_is_on_record(db: Database, clock: FakeClock, rules: Path) -> None:
    rt: Runtime = make_runtime(db, clock)
    before = resolved(rt, severity="urgent", contact="K-BIG1")
    assert service.close(rt, before.id, principal=principal_of(rt, "SZ-HL")).state == "callback_pending"

    raise_close_min_score(rules, 5)
    # Edited on disk but not registered: nothing changes, not even for a new issue.
    assert rt.current_rules().get("itr.yaml", ItrRules).callback.close_min_score == 3
    version = rt.register_rules("E-QA-LEAD").version
    after = resolved(rt, severity="urgent", contact="K-BIG2")
    assert service.close(rt, after.id, principal=principal_of(rt, "SZ-HL")).state == "callback_pending"

    # Score 4: enough under the rules the first issue started with (≥ 3), not under the new ones (≥ 5).
    assert service.record_callback(rt, before.id, principal=principal_of(rt, "SZ-CC"), score=4).state == "closed"
    assert service.record_callback(rt, after.id, principal=principal_of(rt, "SZ-CC"), score=4).state == "qa_review"

    with db.read() as tx:
        pinned = dict(tx.all("SELECT id, rules_version FROM flow_instance WHERE id IN (:a, :b)",
                             {"a": before.id, "b": after.id}))
        history = rules_history(tx)
    assert pinned[after.id] == version and pinned[before.id] == history[0]["version"] != version
    last = history[-1]
    assert (last["version"], last["registered_by"], last["registered_us"]) == (version, "E-QA-LEAD",
                                                                             int(clock.now().timestamp() * 1_000_000))
    assert [(c["file"], c["change"]) for c in last["changes"]] == [("itr.yaml", "changed")]
    assert "-  close_min_score: 3 " in last["changes"][0]["diff"] and "+  close_min_score: 5 " in last["changes"][0]["diff"]
