"""Company policy as data: loading `rules/*.yaml` into pydantic models.

Each rules file has its own model (quotas, callback policy, tiers, ...); `load_rules_file`
validates it once and reports every problem as `file:line: message` (`InvalidRules`).
The rules folder is MCR_RULES_DIR, or `rules/` of the installed product.
"""

from __future__ import annotations

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


def load_rules_file(path: Path, model: type[M], *, missing_ok: bool = True) -> M:
    """Validate one rules file; a missing file gives the model's defaults when `missing_ok`."""
    if not path.exists():
        if missing_ok:
            return model()
        raise InvalidRules([Problem(str(path), 0, "rules file does not exist")])
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
