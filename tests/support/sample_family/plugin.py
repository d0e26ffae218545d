from __future__ import annotations

from engine.plugins import Plugin

PLUGIN = Plugin(
    name="sample_family",
    package="tests.support.sample_family",
    models=("tests.support.sample_family.models",),
    migration_branch="sample_family",
    cli="tests.support.sample_family.cli:register",
    replay="tests.support.sample_family.replay",
)
