"""Mermaid state diagrams of flow definitions (for `mcr flows show NAME --format mermaid` and docs)."""

from __future__ import annotations

from engine.definition import FlowDefinition, TimerSpec


def _label(text: str) -> str:
    return text.replace(":", "：").replace('"', "'").replace("{", "(").replace("}", ")")


def timer_summary(tm: TimerSpec) -> str:
    """One line per timer: when it is due and from where (data, rules, a rules list), its condition, group."""
    name = f"{tm.name}1…N" if tm.each else tm.name
    parts = [f"after {tm.after}" if tm.after else f"at {tm.at}"]
    if tm.each:
        parts.insert(0, f"each {tm.each}")
    if tm.every:
        parts.append(f"every {tm.every}")
    if tm.when:
        parts.append(f"when {tm.when}")
    if tm.once:
        parts.append("once")
    group = f" [group {tm.group}]" if tm.group else ""
    return f"{name} {', '.join(parts)} → {tm.event}{group}"


def mermaid(defn: FlowDefinition, locale: str = "zh-CN") -> str:
    lines = ["stateDiagram-v2"]
    for s in defn.states:
        title = s.title.get(locale) or s.title.get("zh-CN")
        if title:
            lines.append(f"    state \"{_label(title)}\" as {s.name}")
    lines.append(f"    [*] --> {defn.initial.name}")
    for t in defn.transitions:
        sources = [s.name for s in defn.states if not s.terminal] if "*" in t.source else t.source
        label = t.event + (f" [{t.guard}]" if t.guard else "")
        for src in sources:
            lines.append(f"    {src} --> {t.target or src}: {_label(label)}")
    for s in defn.states:
        if s.terminal:
            lines.append(f"    {s.name} --> [*]")
        for tm in s.timer_specs:
            lines.append(f"    note right of {s.name}: ⏱ {_label(timer_summary(tm))}")
    return "\n".join(lines) + "\n"


def text(defn: FlowDefinition, locale: str = "zh-CN") -> str:
    out = [f"{defn.name} v{defn.version} — {defn.title_of(locale)}  ({defn.source_file})"]
    for s in defn.states:
        flags = " ".join(f for f, on in (("initial", s.initial), ("terminal", s.terminal)) if on)
        out.append(f"  state {s.name}{' [' + flags + ']' if flags else ''}")
        for tm in s.timer_specs:
            out.append(f"    timer {timer_summary(tm)} (catch-up: {tm.catch_up})")
        for t in defn.transitions:
            if s.name in t.source or ("*" in t.source and not s.terminal):
                guard = f" if {t.guard}" if t.guard else ""
                acts = ", ".join(a.name if a.name != "mail" else f"mail:{a.params.get('template')}" for a in t.actions)
                out.append(f"    on {t.event}{guard} -> {t.target or '(stay)'}{'  do ' + acts if acts else ''}")
    for ln in defn.launches:
        out.append(f"  launch {ln.name}: every {ln.every} -> {ln.launcher} (catch-up: {ln.catch_up})")
    return "\n".join(out) + "\n"
