"""Company policy as data: loading `rules/*.yaml` into pydantic models.

Each rules file has its own model (quotas, callback policy, tiers, ...); `load_rules_file`
validates it and reports every problem as `file:line: message` (`InvalidRules`).
The rules folder is MCR_RULES_DIR, or `rules/` of the installed product.

A file is parsed and validated once per content: the validated model is kept under the sha256 of
the file's bytes (`rules_digest`), so the guards and actions of every step share one frozen model
instead of re-parsing YAML (≈6 ms a file), and an edited file — or a replay pointing
MCR_RULES_DIR elsewhere — is picked up by its new digest, never served stale.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InvalidRules, Problem
from engine.yamlsrc import YamlSyntaxError, load_yaml, validation_problems

M = TypeVar("M", bound=BaseModel)

PRODUCT_ROOT = Path(__file__).resolve().parent.parent


def rules_dir() -> Path:
    return Path(os.environ.get("MCR_RULES_DIR") or PRODUCT_ROOT / "rules")


def flows_dir() -> Path:
    return Path(os.environ.get("MCR_FLOWS_DIR") or PRODUCT_ROOT / "flows")


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


def _validate_file(path: Path, model: type[M]) -> M:
    try:
        raw: Any = load_yaml(path)
    except YamlSyntaxError as exc:
        raise InvalidRules([exc.problem]) from exc
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise InvalidRules(validation_problems(path, raw, exc)) from exc


def load_rules(name: str, model: type[M], directory: Path | None = None) -> M:
    """`load_rules("itr.yaml", ItrRules)` from the configured rules folder."""
    return load_rules_file((directory or rules_dir()) / name, model)
