"""`mcr import …`, `mcr export …` and `mcr demo-data`: a thin shell over the importer, the exporter
and the demo generator. No business rule lives here.

`register(app)` adds the commands to the main `mcr` application; `MCRError`s (a rejected import
with its list of problems, a refusal) propagate to the main CLI, which prints them and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from engine.clock import SystemClock

_FILE = typer.Argument(..., help="CSV (UTF-8 或 GBK) 或 XLSX 文件 / CSV (UTF-8 or GBK) or XLSX file",
                       dir_okay=False)


def _database(create: bool = True):  # type: ignore[no-untyped-def]
    """The database; `create=False` for the exports, which only read: a typo'd path is refused,
    not answered with a new empty database (and an empty export)."""
    from engine.db import Database

    db = Database(create=create)
    db.check()
    db.upgrade()  # a fresh database file works straight away
    return db


def _import(kind: str, file: Path, as_emp: Optional[str]) -> None:
    from engine.auth.principal import cli_principal
    from engine.masterdata.importer import import_file

    db = _database()
    try:
        with db.session() as session:
            principal = cli_principal(session, as_emp)
            result = import_file(session, kind, file, clock=SystemClock(), principal=principal)
        typer.echo(result.summary())
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    """Add `import`, `export` and `demo-data` to the `mcr` command line."""
    import_app = typer.Typer(help="导入主数据（整个文件要么全部导入，要么不写入任何数据） / import master data, all or nothing",
                             no_args_is_help=True)
    export_app = typer.Typer(help="导出主数据 / export master data", no_args_is_help=True)
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")

    as_import = typer.Option(None, "--as", help="代该员工导入（修改已有客户的级别或负责人时需要）；审计同时记录操作员 / "
                                                "import for this employee (needed to change an existing tier or owner); "
                                                "the audit records the operator too")

    @import_app.command("org")
    def import_org(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """组织与员工 / organisation units and employees."""
        _import("org", file, as_emp)

    @import_app.command("customers")
    def import_customers(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """客户 / customers."""
        _import("customers", file, as_emp)

    @import_app.command("contacts")
    def import_contacts(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """关键客户（个人明信片） / key contacts (personal cards)."""
        _import("contacts", file, as_emp)

    @import_app.command("assessments")
    def import_assessments(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """客户关系现状评估 / relationship assessments (a new revision per change)."""
        _import("assessments", file, as_emp)

    @import_app.command("sponsors")
    def import_sponsors(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """赞助人配对 / sponsor pairings."""
        _import("sponsors", file, as_emp)

    @import_app.command("projects")
    def import_projects(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """项目 / projects."""
        _import("projects", file, as_emp)

    @import_app.command("activities")
    def import_activities(file: Path = _FILE, as_emp: Optional[str] = as_import) -> None:
        """品牌/营销活动（12+1 场景）及受邀联系人 / marketing activities and their invited contacts."""
        _import("activities", file, as_emp)

    as_viewer = typer.Option(None, "--as", help="只导出该员工可见的数据（敏感字段仅限其可见时）；不带 --as 时导出全部但不含敏感字段 / "
                                                "export only what this employee may see; without --as: every record, "
                                                "no sensitive fields")
    out_file = typer.Argument(..., help=".csv 或 .xlsx / .csv or .xlsx", dir_okay=False)

    @export_app.command("customers")
    def export_customers(file: Path = out_file, as_emp: Optional[str] = as_viewer) -> None:
        """客户 / customers."""
        from engine.auth.principal import cli_principal
        from engine.masterdata.exporter import export_customers as run
        from engine.i18n import t

        db = _database(create=False)
        try:
            with db.session() as session:
                n = run(session, file, principal=cli_principal(session, as_emp))
            typer.echo(t("md.exported", n=n, file=file))
        finally:
            db.dispose()

    @export_app.command("contacts")
    def export_contacts(file: Path = out_file, as_emp: Optional[str] = as_viewer) -> None:
        """关键客户 / key contacts (each exported card is an audited read)."""
        from engine.auth.principal import cli_principal
        from engine.masterdata.exporter import export_contacts as run
        from engine.i18n import t

        db = _database(create=False)
        try:
            with db.session() as session:
                n = run(session, file, principal=cli_principal(session, as_emp), clock=SystemClock())
            typer.echo(t("md.exported", n=n, file=file))
        finally:
            db.dispose()

    @app.command("demo-data")
    def demo_data(customers: int = typer.Option(200, "--customers", min=1, max=5000),
                  seed: int = typer.Option(1, "--seed")) -> None:
        """生成演示数据（同一种子结果相同，可重复执行） / create the demo organisation (deterministic, idempotent)."""
        from engine.masterdata.demo import generate_demo

        db = _database()
        try:
            with db.session() as session:
                result = generate_demo(session, customers=customers, seed=seed, clock=SystemClock())
            typer.echo(result.summary())
        finally:
            db.dispose()
