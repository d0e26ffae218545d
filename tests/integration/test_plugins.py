"""A flow family reaches the engine through the plugin registry alone (engine/plugins.py): the
shipped families are found through their entry points, and a family the engine has never heard of
(tests/support/sample_family) gets its flow folder loaded, its tables migrated on its own Alembic
branch, its CLI mounted and its replay verbs registered — without a line of the engine naming it.

The sample family is registered in a child process, so its table never joins this process's
SQLModel metadata (the migration tests compare that metadata with the shipped schema)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import migrate, plugins
from engine.errors import ConfigError
from tests.conftest import ROOT

CHILD = """
import json, sys
from sqlalchemy import inspect
from typer.testing import CliRunner
from engine import cli, migrate, plugins, replay
from engine.app import build_runtime
from engine.db import Database, metadata
from tests.support.sample_family.plugin import PLUGIN

plugins.register(PLUGIN)
db = Database(sys.argv[1])
rt = build_runtime(db)
cli._register_plugins()
hello = CliRunner().invoke(cli.app, ["sample-family", "hello", "world"])
replay.load_plugins()
print(json.dumps({
    "tables": sorted(inspect(db.engine).get_table_names()),
    "metadata": "sample_family_note" in metadata().tables,
    "current": migrate.current(db),
    "heads": migrate.heads(),
    "flows": sorted({d.name for d in rt.definitions.by_key.values()}),
    "hello": [hello.exit_code, hello.output.strip()],
    "verbs": sorted(v for v in replay.COMMANDS if v.startswith("sample_family.")),
}))
"""


def test_the_shipped_families_are_found_through_their_entry_points() -> None:
    names = [p.name for p in plugins.plugins()]
    assert names == ["itr", "planning", "profiles", "survey"]
    assert [f.name for f in plugins.flow_folders()] == names
    assert plugins.service("itr", "open_issue_in").__module__ == "flows.itr.service"


def test_each_family_migrates_on_its_own_alembic_branch() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate._scripts_config())
    labels = {label for rev in scripts.walk_revisions() for label in rev.branch_labels}
    assert {p.migration_branch for p in plugins.plugins()} <= labels


def test_a_family_registered_through_the_registry_is_migrated_loaded_and_mounted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mcr.db'}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", CHILD, url], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert "sample_family_note" in seen["tables"] and "itr_issue" in seen["tables"]
    assert seen["metadata"]
    assert "0001_sample_family" in seen["heads"] and "0001_sample_family" in seen["current"]
    assert "sample_note" in seen["flows"] and "itr_issue" in seen["flows"]
    assert seen["hello"] == [0, "hello world from the sample family"]
    assert seen["verbs"] == ["sample_family.echo"]


def test_an_unknown_service_of_an_installed_family_is_a_packaging_error() -> None:
    with pytest.raises(ConfigError, match="offers no service 'close_everything'"):
        plugins.service("itr", "close_everything")
    assert plugins.service("no_such_family", "anything") is None


def test_a_family_declared_twice_is_refused() -> None:
    itr = plugins.get("itr")
    assert itr is not None
    with pytest.raises(ConfigError, match="declared twice"):
        plugins.register(plugins.Plugin(name="itr", package="tests.support.sample_family"))
    plugins.register(itr)  # the same declaration again is no conflict
    assert plugins.get("itr") is itr
