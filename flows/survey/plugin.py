"""What the surveys family adds to the engine (entry point `mcr.flows`, see engine/plugins.py)."""

from __future__ import annotations

from engine.plugins import Plugin

PLUGIN = Plugin(
    name="survey",
    package="flows.survey",
    models=("flows.survey.models",),
    migration_branch="survey",
    cli="flows.survey.cli:register",
    replay="flows.survey.replay",
    simulator="flows.survey.simulate:plan_day",
    inbox="flows.survey.inbox",
    web="flows.survey.web",
    callbacks="flows.survey.contact_gap",
    services={"activity_ended": "flows.survey.service:activity_ended"},
)
