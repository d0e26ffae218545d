"""The shipped rules files load, equal the models' defaults, and a bad value is reported with
file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidRules
from flows.planning.rules import (CareRules, FestivalRules, PlanningRules, kit_tiers, load_care_rules,
                                  load_festival_rules, load_planning_rules)


def test_shipped_rules_load_and_carry_the_spec_defaults() -> None:
    planning, care, festivals = load_planning_rules(), load_care_rules(), load_festival_rules()
    assert planning == PlanningRules() and care == CareRules()
    assert planning.kit.deadline_month_day == (3, 31) and planning.kit.reminder_days_before == [14, 7, 1]
    assert planning.kit.escalate_to_sales_management_days == 7
    assert planning.rhythm.self_check.due_business_days == 10 and planning.rhythm.revisions_per_half == 1
    assert care.birthday_days_before == 1 and care.rotation.years == 4
    assert care.visits.sponsor_days == {"monthly": 30, "bimonthly": 60}
    assert [f.name for f in festivals.lunar] == ["spring_festival", "dragon_boat", "mid_autumn"]
    assert kit_tiers(planning) == ["S", "A"]


def test_kit_tiers_can_be_set_in_planning_rules() -> None:
    assert kit_tiers(PlanningRules.model_validate({"kit": {"tiers": ["S"]}})) == ["S"]


@pytest.mark.parametrize(("name", "loader", "text", "where"), [
    ("planning.yaml", load_planning_rules, "kit:\n  deadline: \"02-30\"\n", ":2:"),
    ("planning.yaml", load_planning_rules, "rhythm:\n  self_check:\n    due_business_days: 2\n"
                                           "    reminder_business_days_before: [3]\n", ":3:"),
    ("care.yaml", load_care_rules, "handover:\n  remind_after_business_days: 5\n  escalate_after_business_days: 2\n",
     ":2:"),
    ("festivals.yaml", load_festival_rules, "lunar: []\ncompany:\n  - {name: x, zh: x, en: x}\n", ":3:"),
])
def test_a_bad_value_is_reported_with_file_and_line(tmp_path: Path, name: str, loader: object, text: str,
                                                    where: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        loader(tmp_path)  # type: ignore[operator]
    assert f"{name}{where}" in str(err.value)


def test_missing_files_give_the_defaults(tmp_path: Path) -> None:
    assert load_festival_rules(tmp_path) == FestivalRules()
