"""What the ITR family adds to the engine (entry point `mcr.flows`, see engine/plugins.py)."""

from __future__ import annotations

from engine.plugins import Plugin

PLUGIN = Plugin(
    name="itr",
    package="flows.itr",
    models=("flows.itr.models",),
    migration_branch="itr",
    cli="flows.itr.cli:register",
    replay="flows.itr.replay",
    simulator="flows.itr.simulate:plan_day",
    inbox="flows.itr.inbox",
    web="flows.itr.web",
    callbacks="flows.itr.contacts",
    services={"open_issue_in": "flows.itr.service:open_issue_in",
              "customer_brief": "flows.itr.service:customer_brief"},  # read only: the pre-visit brief of care
    rules={"itr.yaml": "flows.itr.rules:ItrRules"},
)
