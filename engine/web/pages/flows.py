"""Flow pages: every registered flow (/flows) and one flow's diagram (/flows/{name}), drawn in the
browser by the vendored Mermaid from the engine's own text (engine/diagram.py), with the number of
instances in each state written into the state's box and listed in a table beneath.

The numbers come from `engine.flow_counts.state_counts`, which gives them to those who oversee the
work (operators, process QA, sales management) and to nobody else: others see the diagrams only.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from engine.diagram import mermaid
from engine.flow_counts import state_counts
from engine.web.deps import PagePrincipal, Runtime
from engine.web.pages.common import page
from engine.web.pages.instances import diagram_with_state, event_titles

router = APIRouter()


def _with_counts(text: str, counts: Optional[dict[str, int]], defn: Any, locale: str) -> str:
    """The diagram with "(n)" after each state's title, and the states holding instances marked."""
    events = event_titles(defn, locale)
    body = diagram_with_state(text, "__none__", events)  # page style: no timer notes nor self-loops
    lines = [ln for ln in body.splitlines() if "__none__" not in ln]
    if counts is None:
        return "\n".join(lines) + "\n"
    out = []
    for ln in lines:
        stripped = ln.strip()
        if stripped.startswith('state "') and " as " in stripped:
            title, name = stripped[len('state "'):].rsplit('" as ', 1)
            ln = f'    state "{title} ({counts.get(name.strip(), 0)})" as {name.strip()}'
        out.append(ln)
    busy = [s for s, n in counts.items() if n and any(st.name == s for st in defn.states)]
    if busy:
        out.append("    classDef busy fill:#ddf4ff,stroke:#0969da,stroke-width:2px")
        out.append(f"    class {','.join(sorted(busy))} busy")
    return "\n".join(out) + "\n"


@router.get("/flows", response_class=HTMLResponse)
def flows_page(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    counts = state_counts(rt, principal=principal)
    locale = principal.locale
    rows = [{"name": d.name, "version": d.version, "title": d.title_of(locale),
             "total": None if counts is None else sum(counts.get(d.name, {}).values())}
            for d in sorted(rt.definitions.latest(), key=lambda d: d.name)]
    return page(request, "flows.html", {"nav": "flows", "flows": rows, "counted": counts is not None},
                principal=principal)


@router.get("/flows/{name}", response_class=HTMLResponse)
def flow_page(request: Request, name: str, rt: Runtime, principal: PagePrincipal) -> Response:
    if name not in {d.name for d in rt.definitions.latest()}:
        raise HTTPException(status_code=404)
    defn = rt.definitions.get(name)
    locale = principal.locale
    counts = state_counts(rt, principal=principal, flow=name)
    mine = None if counts is None else counts.get(name, {})
    states = [{"name": s.name, "title": s.title.get(locale) or s.title.get("zh-CN") or s.name,
               "terminal": s.terminal, "count": None if mine is None else mine.get(s.name, 0)} for s in defn.states]
    return page(request, "flow.html", {
        "nav": "flows", "flow": {"name": defn.name, "version": defn.version, "title": defn.title_of(locale)},
        "diagram": _with_counts(mermaid(defn, locale), mine, defn, locale), "states": states,
        "counted": counts is not None,
    }, principal=principal)
