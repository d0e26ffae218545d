"""Where mcr may write files: one helper every file writer joins its paths through.

`safe_join(base, *parts)` is the only way a name that came from data (a team code, an outbox
id, a year) or from a web client becomes part of a path: each part must be one plain file or
folder name, and the result — symbolic links resolved — must lie inside `base`. Codes are also
checked at import against `code_pattern` of rules/masterdata.yaml, so a bad code is refused
where it enters; this is the second, independent line.

`output_file(path)` is for a file the user names on the command line (`mcr export customers
x.csv`): the user's own choice, refused only when it cannot be a file (NUL, a folder) — unless
MCR_OUTPUT_DIR is set (a server, the web app), then it must lie inside that folder like any
other `safe_join`.

This module must never create anything outside the folder it was given.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from engine.errors import MCRError
from engine.i18n import t


class UnsafePath(MCRError):
    """A file name would leave its folder, or is not a plain name."""


# Characters that are path separators somewhere, or look like one / like a dot to a human or to
# a normalising file system: fullwidth and other solidi, reverse solidi, the two-dot leader '‥',
# the one-dot leader '․', fullwidth full stop '．'.
_LOOKALIKES = frozenset("/\\\u2215\u2044\u29f8\uff0f\ufe68\uff3c\u29f5\u29f9\u2024\u2025\u2026\uff0e\ufe52")
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                               *(f"LPT{i}" for i in range(1, 10))})


def check_name(part: str) -> str:
    """`part` if it is one plain file/folder name; `UnsafePath` (saying why) otherwise."""
    text = str(part)
    shown = repr(text)
    if not text or text.strip() != text or text in (".", ".."):
        raise UnsafePath(t("engine.paths.blank", name=shown))
    if any(ch in _LOOKALIKES for ch in text) or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                                                    for ch in text):
        raise UnsafePath(t("engine.paths.separator", name=shown))
    folded = unicodedata.normalize("NFKC", text)
    if folded != text and (set("/\\") & set(folded) or ".." in folded):
        raise UnsafePath(t("engine.paths.normalised", name=shown))
    if text.split(".")[0].upper() in _WINDOWS_RESERVED or text.endswith((".", " ")) or ":" in text:
        raise UnsafePath(t("engine.paths.windows", name=shown))
    return text


def safe_join(base: str | os.PathLike[str], *parts: str | int) -> Path:
    """`base/part/part…`, refusing any part that is not a plain name and any result outside `base`."""
    root = Path(base).resolve()
    path = root
    for part in parts:
        path = path / check_name(str(part))
    resolved = path.resolve()  # follows symbolic links: a link out of the folder is refused too
    if resolved != root and root not in resolved.parents:
        raise UnsafePath(t("engine.paths.outside", path=path, root=root))
    return resolved


def output_file(path: str | os.PathLike[str]) -> Path:
    """A file the user named for mcr to write; inside MCR_OUTPUT_DIR when that is set."""
    text = os.fspath(path)
    if "\x00" in text:
        raise UnsafePath(t("engine.paths.nul", name=repr(text)))
    target = Path(text)
    base = os.environ.get("MCR_OUTPUT_DIR")
    if base:
        root = Path(base).resolve()
        relative = target.resolve().relative_to(root) if target.is_absolute() and _inside(target, root) else target
        if relative.is_absolute():
            raise UnsafePath(t("engine.paths.outside_output", path=target, root=root))
        target = safe_join(root, *relative.parts)
    if target.is_dir() or not target.name:
        raise UnsafePath(t("engine.paths.folder", path=target))
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _inside(path: Path, root: Path) -> bool:
    resolved = path.resolve()
    return resolved == root or root in resolved.parents
