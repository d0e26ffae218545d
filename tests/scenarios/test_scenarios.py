"""Every scenario under tests/scenarios/ replays from a clean database and meets its expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.replay import ScenarioFailed, run_scenario

HERE = Path(__file__).parent
SCENARIOS = sorted(p for p in HERE.rglob("*.yaml") if "data" not in p.parts)


@pytest.mark.parametrize("path", SCENARIOS, ids=[str(p.relative_to(HERE)) for p in SCENARIOS])
def test_scenario_meets_its_expectations(path: Path) -> None:
    outcome = run_scenario(path)
    assert outcome["expectations"]["checked"], f"{path} has no final 'expect:' block"
    assert outcome["expectations"]["failures"] == []


def test_a_scenario_whose_expectation_fails_is_reported_with_its_line(tmp_path: Path) -> None:
    src = (HERE / "engine" / "ticket_sla_over_weekend.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(src.replace("flows: [../../flows]", f"flows: [{HERE.parent / 'flows'}]")
                   .replace("- at: 2026-09-29 15:59", "- at: 2026-09-29 16:01"), encoding="utf-8")
    with pytest.raises(ScenarioFailed, match=r"bad.yaml:16: at 2026-09-29T16:01\+08:00: .instances: no item matches"):
        run_scenario(bad)
