"""What the planning family adds to the engine (entry point `mcr.flows`, see engine/plugins.py)."""

from __future__ import annotations

from engine.plugins import Plugin

PLUGIN = Plugin(
    name="planning",
    package="flows.planning",
    models=("flows.planning.models", "flows.planning.kit_models"),
    migration_branch="planning",
    cli="flows.planning.cli:register",
    replay="flows.planning.replay",
    simulator="flows.planning.simulate:plan_day",
    inbox="flows.planning.inbox",
    web="flows.planning.web",
)
