"""What the profiles family adds to the engine (entry point `mcr.flows`, see engine/plugins.py)."""

from __future__ import annotations

from engine.plugins import Plugin

PLUGIN = Plugin(
    name="profiles",
    package="flows.profiles",
    models=("flows.profiles.models",),
    migration_branch="profiles",
    cli="flows.profiles.cli:register",
    replay="flows.profiles.replay",
    simulator="flows.profiles.simulate:plan_day",
    inbox="flows.profiles.inbox",
    web="flows.profiles.web",
    services={"watch_report": "flows.profiles.watch:watch_report",
              "profile_history": "flows.profiles.service:history"},
)
