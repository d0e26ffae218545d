"""`mcr rules show|history|register`: the pinned rules versions (engine/rules.py) on the command line.

`register` records the rules folder as it is now under the operator's name (`principal.actor`) —
not through `build_runtime`, whose start-up registration would record the change as "system"
first. Instances started from then on run on the new version; running ones keep theirs.

Before registering, each rules file with a model (the engine's, and those a flow family declares in
`Plugin.rules`) is validated, and every flow file is checked again against the folder about to be registered:
a timer that takes its duration, anchor or list from the rules (`after: rules.survey.x.due`,
`"{rules.care.handover.remind_after_business_days} business days"`, `each: rules.planning.kit.…`)
must still find its value, of a usable type. Otherwise nothing is registered and each problem is
named as `flow-file:line: message` — new instances would otherwise fail when the timer is armed."""

from __future__ import annotations

from typing import Any, Optional

import typer

from engine.clock import clock_from_env, from_us, to_us
from engine.errors import MCRError
from engine.i18n import t
from engine.tables import print_table

rules_app = typer.Typer(help="规则版本 / pinned rules versions", no_args_is_help=True)

def _db() -> Any:
    from engine.db import Database

    return Database(create=False)


def _ts(us: int) -> str:
    return from_us(us).isoformat(timespec="seconds")


def _changes(changes: list[dict[str, Any]]) -> str:
    return "、".join(f"{c['file']} {t('cli.rules_change_' + c['change'])}" for c in changes) or t("cli.rules_first")


def _echo_json(value: Any) -> None:
    import json

    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@rules_app.command("history")
def rules_history_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every registered rules version, oldest first: when, who, which files changed."""
    from engine.rules import rules_history

    with _db().read() as tx:
        versions = rules_history(tx)
    if as_json:
        _echo_json(versions)
        return
    if not print_table([t("cli.col.version"), t("cli.col.registered"), t("cli.col.registered_by"), t("cli.col.changes")],
                       ([v["version"], _ts(v["registered_us"]), v["registered_by"], _changes(v["changes"])]
                        for v in versions)):
        typer.echo(t("cli.rules_no_versions"))


@rules_app.command("show")
def rules_show(version: Optional[int] = typer.Argument(None, help="version (default: the latest)"),
               file: Optional[str] = typer.Option(None, "--file", help="print this file's text as registered"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """One version: who registered it and when, its files, and the diff of what changed."""
    from engine.rules import pinned_rules, rules_history

    with _db().read() as tx:
        versions = rules_history(tx)
        if not versions:
            raise MCRError(t("cli.rules_no_versions"))
        found = versions[-1] if version is None else next((v for v in versions if v["version"] == version), None)
        if found is None:
            raise MCRError(t("cli.rules_no_version", version=version,
                             known=", ".join(str(v["version"]) for v in versions)))
        pinned = pinned_rules(tx, found["version"])
    if file is not None:
        if file not in pinned.texts:
            raise MCRError(t("cli.rules_no_file", version=found["version"], file=file,
                             files=", ".join(sorted(pinned.texts)) or "-"))
        typer.echo(pinned.texts[file], nl=False)
        return
    if as_json:
        _echo_json({**found, "files": pinned.digests})
        return
    typer.echo(t("cli.rules_version_head", version=found["version"], digest=found["digest"][:12],
                 when=_ts(found["registered_us"]), who=found["registered_by"]))
    print_table([t("cli.col.file"), t("cli.col.digest")], sorted((n, d[:12]) for n, d in pinned.digests.items()))
    for change in found["changes"]:
        typer.echo(f"\n{change['file']}: {t('cli.rules_change_' + change['change'])}")
        if change["diff"]:
            typer.echo(change["diff"], nl=False)


# The engine's own rules files; each flow family declares its own (`Plugin.rules`).
_ENGINE_RULES = {"tiers.yaml": "engine.masterdata.tiers:TierRules",
                 "masterdata.yaml": "engine.masterdata.settings:MasterDataRules"}


def rules_problems() -> list[Any]:
    """Every problem of the rules files that have a model (the engine's and each family's), as file:line."""
    from engine import plugins
    from engine.errors import InvalidRules
    from engine.rules import load_rules_file, rules_dir

    models = dict(_ENGINE_RULES)
    for plugin in plugins.plugins():
        models.update(plugin.rules)
    problems: list[Any] = []
    for name, ref in sorted(models.items()):
        try:
            load_rules_file(rules_dir() / name, plugins.resolve(ref))
        except InvalidRules as exc:
            problems.extend(exc.problems)
    return problems


def flow_problems() -> list[Any]:
    """Every problem of the flow files (the installed families', or MCR_FLOWS_DIR) read against the rules
    folder as it is now — timers' rules paths that no longer resolve or whose value has the wrong type."""
    from engine.definition import flow_files, parse_definition
    from engine.rules import flow_folders

    problems: list[Any] = []
    for root in flow_folders():
        for path in flow_files(root):
            problems.extend(parse_definition(path)[1])
    return problems


@rules_app.command("register")
def rules_register() -> None:
    """Register the rules folder as it is now (as the operator); new instances start under it.
    Refused, with every flow-file:line, when a flow's timer no longer finds its value in these rules."""
    from engine.auth.principal import cli_principal
    from engine.errors import InvalidRules
    from engine.rules import register_rules, rules_dir, rules_history

    problems = rules_problems()
    if problems:
        raise InvalidRules(problems, header=t("cli.rules_invalid", folder=rules_dir(), n=len(problems)))
    problems = flow_problems()
    if problems:
        raise InvalidRules(problems, header=t("cli.rules_flows_invalid", folder=rules_dir(), n=len(problems)))
    db = _db()
    principal = cli_principal(db)  # policy is the operator's to change: no --as
    with db.tx() as tx:
        before = rules_history(tx)
        pinned = register_rules(tx, actor=principal.actor, now_us=to_us(clock_from_env().now()))
    if before and before[-1]["version"] == pinned.version:
        typer.echo(t("cli.rules_unchanged", version=pinned.version))
        return
    with db.read() as tx:
        latest = rules_history(tx)[-1]
    typer.echo(t("cli.rules_registered", version=pinned.version, changes=_changes(latest["changes"])))
