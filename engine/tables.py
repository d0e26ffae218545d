"""One way to print a table on the CLI (every `list` command): rich, columns sized to their content.

Cells are plain text (never rich markup: a title with "[...]" prints as written). On a terminal
the table fits the window; piped or captured, lines are not cut, so `grep` and scripts see whole
values. `--json` outputs do not come through here."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Wide enough for any row when the output is not a terminal (a pipe, a file, a test's runner).
_UNCUT = 100_000


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Print `rows` under `headers` on stdout; returns the number of rows (0: nothing printed)."""
    table = Table(*headers, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    n = 0
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
        n += 1
    if n:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=_UNCUT, no_color=True)
        console.print(table)
    return n
