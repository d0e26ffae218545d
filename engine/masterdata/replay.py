"""Master data in replay scenarios: the `masterdata:` key of a scenario file.

```yaml
masterdata:
  demo: {customers: 20, seed: 1}          # optional: the demo organisation first
  org:        [{kind: hq, code: HQ, name: 公司}, {kind: region, code: R1, parent: HQ, …}, …]
  customers:  [{code: C1, name: …, tier: S, office: O1, team: T1, …}]
  contacts:   [...]
  assessments: [...]
  sponsors:   [...]
  projects:   [...]
```
Each list holds rows in the import layout (English or Chinese headers, see docs/master-data.md)
and goes through the same all-or-nothing importer as `mcr import`; a bad row fails the scenario
with its row number.
"""

from __future__ import annotations

from typing import Any

from engine.auth.principal import Principal
from engine.masterdata.importer import KINDS, Table, import_table
from engine.replay import ReplayContext, scenario_section, scenario_setup

ORDER = ("org", "customers", "contacts", "assessments", "sponsors", "projects", "orders", "curves")


def rows_table(source: str, rows: list[dict[str, Any]]) -> Table:
    headers: list[str] = []
    for row in rows:
        for key in row:
            if str(key) not in headers:
                headers.append(str(key))
    return Table(source, headers, 1, [(i + 2, [row.get(h) for h in headers]) for i, row in enumerate(rows)])


@scenario_setup("masterdata")
def load_masterdata(ctx: ReplayContext, value: dict[str, Any]) -> None:
    unknown = [k for k in value if k not in KINDS and k != "demo"]
    if unknown:
        from engine.errors import Problem
        from engine.replay import InvalidScenario

        raise InvalidScenario([Problem(ctx.file, getattr(value, "line", 0),
                                       f"masterdata: unknown kind(s) {', '.join(unknown)}; known: demo, {', '.join(KINDS)}")])
    with ctx.db.session() as session:
        if "demo" in value:
            from engine.masterdata.demo import generate_demo

            demo = dict(value["demo"] or {})
            generate_demo(session, customers=int(demo.get("customers", 20)), seed=int(demo.get("seed", ctx.seed)),
                          clock=ctx.clock)
        for kind in [k for k in ORDER if k in value] + [k for k in KINDS if k in value and k not in ORDER]:
            rows = [dict(r) for r in value[kind] or []]
            import_table(session, kind, rows_table(f"{ctx.file}:masterdata.{kind}", rows), clock=ctx.clock,
                         principal=Principal.engine("scenario"))
            session.flush()
        session.commit()


@scenario_section("masterdata")
def masterdata_counts(ctx: ReplayContext) -> dict[str, int]:
    """How many rows of each kind the scenario's database holds at the end."""
    tables = {"units": "org_unit", "employees": "employee", "customers": "customer", "contacts": "contact",
              "assessments": "contact_assessment", "projects": "project", "sponsors": "sponsor_pairing"}
    with ctx.db.read() as tx:
        return {name: tx.one(f"SELECT COUNT(*) FROM {table}")[0] for name, table in tables.items()}
