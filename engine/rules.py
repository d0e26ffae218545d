"""Company policy as data: loading `rules/*.yaml` into pydantic models.

Each rules file has its own model (quotas, callback policy, tiers, ...); `load_rules_file`
validates it and reports every problem as `file:line: message` (`InvalidRules`).
The rules folder is MCR_RULES_DIR, or `rules/` of the installed product.

A file is parsed and validated once per content: the validated model is kept under the sha256 of
the file's bytes (`rules_digest`), so every reader shares one frozen model instead of re-parsing
YAML (≈6 ms a file).

Rules are pinned like flow definitions. `register_rules` records the folder's files (texts by
digest in `rules_source`) as a `rules_version` with who registered it, when, and a diff of what
changed against the version before; the runtime registers at start-up (`mcr rules register` does
it on a running system). Each instance records the version it started under, and its guards and
actions read `ctx.rules` (a `PinnedRules`): a change applies to instances started after it is
registered, never to one already running, and no step reads `rules/` from disk.
"""

from __future__ import annotations

import re

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidRules, Problem
from engine.yamlsrc import YamlSyntaxError, load_yaml, parse_yaml, validation_problems

M = TypeVar("M", bound=BaseModel)

PRODUCT_ROOT = Path(__file__).resolve().parent.parent


def rules_dir() -> Path:
    return Path(os.environ.get("MCR_RULES_DIR") or PRODUCT_ROOT / "rules")


def flows_dir() -> Path:
    return Path(os.environ.get("MCR_FLOWS_DIR") or PRODUCT_ROOT / "flows")


def flow_folders() -> list[Path]:
    """What a runtime loads: `MCR_FLOWS_DIR` when set, else the flow folder of every installed family."""
    from engine import plugins

    override = os.environ.get("MCR_FLOWS_DIR")
    return [Path(override)] if override else plugins.flow_folders()


_validated: dict[tuple[str, str, str], Any] = {}


def rules_digest(path: Path) -> str | None:
    """sha256 of a rules file's bytes (None: no such file) — the version a rules model was built from."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def load_rules_file(path: Path, model: type[M], *, missing_ok: bool = True) -> M:
    """Validate one rules file (once per content); a missing file gives the model's defaults when `missing_ok`."""
    digest = rules_digest(path)
    if digest is None:
        if missing_ok:
            return model()
        raise InvalidRules([Problem(str(path), 0, "rules file does not exist")])
    key = (str(path), f"{model.__module__}.{model.__qualname__}", digest)
    hit = _validated.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    value = _validate_file(path, model)
    _validated[key] = value
    return value


def _validate_file(path: Path, model: type[M], text: str | None = None) -> M:
    try:
        raw: Any = load_yaml(path) if text is None else parse_yaml(text, path)
    except YamlSyntaxError as exc:
        raise InvalidRules([exc.problem]) from exc
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise InvalidRules(validation_problems(path, raw, exc)) from exc


def load_rules(name: str, model: type[M], directory: Path | None = None) -> M:
    """`load_rules("itr.yaml", ItrRules)` from the configured rules folder."""
    return load_rules_file((directory or rules_dir()) / name, model)


# ---------------------------------------------------------------------------------------------- pinned versions


class PinnedRules:
    """The rules of one registered version — what a step sees as `ctx.rules`.

    `get("itr.yaml", ItrRules)` validates the version's stored text of that file once per process
    (shared with `load_rules_file` by digest); a file the version does not hold gives the model's
    defaults, as a missing file always has."""

    def __init__(self, version: int | None, directory: Path, texts: dict[str, str], digests: dict[str, str]) -> None:
        self.version = version
        self.directory = directory
        self.texts = texts
        self.digests = digests
        self._models: dict[tuple[str, type], Any] = {}  # a version never changes: each answer is kept

    def value(self, path: str) -> Any:
        """A raw value of this version by dotted path (`rules.planning.kit.reminder_days_before`), for flow timers."""
        return _raw_value(path, self.directory, self.texts, self.digests)

    def get(self, name: str, model: type[M]) -> M:
        # Asked several times in every step (each action, guard and service): the path and key are built once.
        found = self._models.get((name, model))
        if found is not None:
            return found  # type: ignore[no-any-return]
        found = self._models[(name, model)] = self._get(name, model)
        return found

    def _get(self, name: str, model: type[M]) -> M:
        digest = self.digests.get(name)
        if digest is None:
            return model()
        path = self.directory / name
        key = (str(path), f"{model.__module__}.{model.__qualname__}", digest)
        hit = _validated.get(key)
        if hit is None:
            hit = _validate_file(path, model, self.texts[name])
            _validated[key] = hit
        return hit  # type: ignore[no-any-return]


def _snapshot(directory: Path) -> tuple[dict[str, str], dict[str, str], str]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))} if directory.is_dir() else {}
    digests = {n: hashlib.sha256(t.encode("utf-8")).hexdigest() for n, t in texts.items()}
    whole = hashlib.sha256(json.dumps(digests, sort_keys=True).encode("ascii")).hexdigest()
    return texts, digests, whole


def register_rules(tx: Any, *, actor: str, now_us: int, directory: Path | None = None) -> PinnedRules:
    """Register the rules folder as it is now (a no-op when it equals the latest registered version).

    A new version keeps every file's text (by digest), who registered it and when, and per changed
    file a unified diff against the latest version — the audit trail of policy changes."""
    folder = directory or rules_dir()
    texts, digests, whole = _snapshot(folder)
    latest = tx.one("SELECT id, digest, files FROM rules_version ORDER BY id DESC LIMIT 1")
    if latest is not None and latest[1] == whole:
        return PinnedRules(int(latest[0]), folder, texts, digests)
    before: dict[str, str] = json.loads(latest[2]) if latest is not None else {}
    changes = []
    for name in sorted(set(before) | set(digests)):
        old, new = before.get(name), digests.get(name)
        if old == new:
            continue
        old_text = ""
        if old is not None:
            row = tx.one("SELECT source FROM rules_source WHERE digest = :d", {"d": old})
            old_text = row[0] if row else ""
        diff = "".join(difflib.unified_diff(old_text.splitlines(True), texts.get(name, "").splitlines(True),
                                            f"a/{name}", f"b/{name}", n=1))
        changes.append({"file": name, "change": "added" if old is None else "removed" if new is None else "changed",
                        "diff": diff if latest is not None else ""})
    for name, digest in digests.items():
        tx.execute("INSERT INTO rules_source (digest, name, source) VALUES (:d, :n, :s) ON CONFLICT (digest) DO NOTHING",
                   {"d": digest, "n": name, "s": texts[name]})
    row = tx.one("INSERT INTO rules_version (digest, files, registered_us, registered_by, changes) "
                 "VALUES (:d, :f, :now, :by, :c) RETURNING id",
                 {"d": whole, "f": json.dumps(digests, sort_keys=True), "now": now_us, "by": actor,
                  "c": json.dumps(changes, ensure_ascii=False)})
    return PinnedRules(int(row[0]), folder, texts, digests)


def pinned_rules(tx: Any, version: int, directory: Path | None = None) -> PinnedRules:
    """A registered version, read back from the database (texts as registered, whatever the folder holds now)."""
    row = tx.one("SELECT files FROM rules_version WHERE id = :v", {"v": version})
    digests: dict[str, str] = json.loads(row[0]) if row else {}
    texts: dict[str, str] = {}
    for name, digest in digests.items():
        src = tx.one("SELECT source FROM rules_source WHERE digest = :d", {"d": digest})
        texts[name] = src[0] if src else ""
    return PinnedRules(version, directory or rules_dir(), texts, digests)


def rules_history(tx: Any) -> list[dict[str, Any]]:
    """Every registered version, oldest first: id, digest, when (µs), who, what changed."""
    return [{"version": r[0], "digest": r[1], "registered_us": r[2], "registered_by": r[3], "changes": json.loads(r[4])}
            for r in tx.all("SELECT id, digest, registered_us, registered_by, changes FROM rules_version ORDER BY id")]


# ---------------------------------------------------------------------------------------------- raw values

_raw_by_digest: dict[str, Any] = {}


def _raw_value(path: str, directory: Path, texts: dict[str, str], digests: dict[str, str]) -> Any:
    from engine.timespec import TimeSpecError

    parts = path.split(".")
    if len(parts) < 3 or parts[0] != "rules":
        raise TimeSpecError(f"bad rules path '{path}': write rules.<file>.<key>[.<key>…], e.g. "
                            "rules.survey.project_callback.due")
    name = f"{parts[1]}.yaml"
    digest = digests.get(name)
    if digest is None:
        raise TimeSpecError(f"unknown rules path '{path}': there is no rules file {directory / name}")
    raw = _raw_by_digest.get(digest)
    if raw is None:
        raw = _raw_by_digest[digest] = parse_yaml(texts[name], directory / name) or {}
    node: Any = raw
    for i, key in enumerate(parts[2:]):
        if not isinstance(node, dict) or key not in node:
            raise TimeSpecError(f"unknown rules path '{path}': {directory / name} has no "
                                f"'{'.'.join(parts[2:i + 3])}'")
        node = node[key]
    return node


def rules_value(path: str, directory: Path | None = None) -> Any:
    """A raw value of the rules folder as it is now (flow validation; steps read their pinned `ctx.rules`)."""
    texts, digests, _ = _snapshot(directory or rules_dir())
    return _raw_value(path, directory or rules_dir(), texts, digests)


# ---------------------------------------------------------------------------------------------- field checks
# Shared by the families' rules models (field validators), so a time or a duration means the same
# thing and is refused with the same words in every rules file.

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def month_day(value: object) -> tuple[int, int]:
    """A day of the year "MM-DD" (02-29 accepted: it exists in leap years) as (month, day)."""
    from datetime import date

    m = _MONTH_DAY.match(str(value).strip())
    if not m:
        raise ValueError(f"'{value}' is not a day of the year; write MM-DD, e.g. 03-31")
    month, day = int(m[1]), int(m[2])
    try:
        date(2028, month, day)  # a leap year
    except ValueError:
        raise ValueError(f"'{value}' is not a day of the year") from None
    return month, day


def hhmm(value: object) -> str:
    """A local time of day "HH:MM" (YAML reads an unquoted 18:00 as a number: refused with the fix)."""
    if isinstance(value, int):
        raise ValueError(f"got the number {value}: quote times in YAML, e.g. \"18:00\"")
    m = _HHMM.match(str(value).strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"'{value}' is not a time of day (HH:MM)")
    return f"{int(m[1]):02d}:{m[2]}"


def duration_text(value: str) -> str:
    """A duration the timer syntax understands ("3 business days"), kept as written."""
    from engine.timespec import TimeSpecError, parse_duration

    try:
        parse_duration(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from None
    return value
