"""docs/survey.md stays true: its diagrams are what `mcr flows show` draws, its rules block is the
shipped defaults, and every command it shows exists."""

from __future__ import annotations

import re

import pytest
import yaml

from engine import diagram
from engine.definition import load_definitions
from flows.survey.rules import SurveyRules
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "survey.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("flow", ["project_callback", "activity_callback", "annual_survey"])
def test_each_flow_diagram_in_the_docs_is_the_one_the_engine_draws(flow: str) -> None:
    defn = load_definitions(ROOT / "flows" / "survey").get(flow)
    drawn = diagram.mermaid(defn, "zh-CN").strip()
    blocks = [b.strip() for b in re.findall(r"```mermaid\n(.*?)```", DOC, re.S)]
    assert drawn in blocks


def test_the_rules_block_in_the_docs_is_the_shipped_default() -> None:
    block = re.search(r"## 5\. rules/survey\.yaml\n\n```yaml\n(.*?)```", DOC, re.S)
    assert block is not None
    assert SurveyRules.model_validate(yaml.safe_load(block.group(1))) == SurveyRules()


def test_every_survey_command_in_the_docs_exists() -> None:
    from engine import cli

    if not any(g.name == "survey" for g in cli.app.registered_groups):
        cli._register_plugins()
    from flows.survey.cli import survey_app

    names = {c.name for c in survey_app.registered_commands}
    groups = {g.name: {c.name for c in g.typer_instance.registered_commands} for g in survey_app.registered_groups}
    for line in re.findall(r"^mcr survey ([a-z-]+)(?: ([a-z-]+))?", DOC, re.M):
        head, sub = line
        if head in groups:
            assert sub in groups[head], f"mcr survey {head} {sub}"
        else:
            assert head in names, f"mcr survey {head}"
