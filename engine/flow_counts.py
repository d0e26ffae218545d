"""How many instances of each flow are in each state — for the flow pages (/flows).

One GROUP BY over `flow_instance` (its (flow, state) index). Counts describe the whole company's
work, so they are given to those who oversee it: the engine, operators, process QA and sales
management. Anyone else gets None (the pages then draw the diagram without numbers): counting only
the instances a person may read would need each family's read rule per instance, and a count of
instances one may not read would leak what is going on elsewhere.
"""

from __future__ import annotations

from typing import Any, Optional

from engine.auth.principal import Principal


def may_count(principal: Principal) -> bool:
    return principal.is_engine or principal.is_operator or principal.is_qa or principal.is_sales_management


def state_counts(rt: Any, *, principal: Principal, flow: Optional[str] = None) -> Optional[dict[str, dict[str, int]]]:
    """flow -> state -> number of instances (of every version), or None when `principal` may not see counts."""
    if not may_count(principal):
        return None
    sql = "SELECT flow, state, COUNT(*) FROM flow_instance"
    params: dict[str, Any] = {}
    if flow is not None:
        sql += " WHERE flow = :f"
        params["f"] = flow
    out: dict[str, dict[str, int]] = {}
    with rt.db.read() as tx:
        for f, state, n in tx.all(sql + " GROUP BY flow, state", params):
            out.setdefault(str(f), {})[str(state)] = int(n)
    return out
