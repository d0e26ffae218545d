"""YAML loading that remembers line numbers, so validators can say `file:line: message`.

Every mapping comes back as a `LineDict` (a dict with `.line`, 1-based, and `.key_lines`) and every
sequence as a `LineList` (`.line`, and `.item_lines` — the line of each item, scalars included);
pydantic validates them like plain dicts and lists. `line_of` is the one locator of a node's line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.errors import Problem


class LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]


class LineList(list):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key]})", key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]  # scalars in a list too
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors become a `YamlSyntaxError` with file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(Problem(str(path), 1, f"not UTF-8 text ({exc.reason})")) from exc
    except OSError as exc:
        raise YamlSyntaxError(Problem(str(path), 0, f"cannot read file: {exc.strerror}")) from exc
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse YAML text that came from `path` (a file, or a stored copy of one); errors name it and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or str(exc)
        return_problem = Problem(str(path), line, f"YAML syntax error: {what}")
        raise YamlSyntaxError(return_problem) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem(str(path), 0, f"YAML syntax error: {exc}")) from exc


def line_of(data: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest node on `loc` (for pydantic error locations): a key's line, a list item's
    own line (a scalar date in a list included), else the nearest enclosing node's."""
    line = getattr(data, "line", 0)
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            line = getattr(node, "key_lines", {}).get(str(part), line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            line = (getattr(node, "item_lines", None) or [line] * len(node))[part]
            node = node[part]
        else:
            break
        line = getattr(node, "line", line)
    return line


def validation_problems(path: Path | str, data: Any, error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(Problem(str(path), line_of(data, loc), f"{where}: {msg}" if where else msg))
    return problems
