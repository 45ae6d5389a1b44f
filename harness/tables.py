"""Terminal tables whose identifiers and numbers are never cut, also into a pipe (rich assumes 80 columns
there): only the one column named flexible wraps, and the console widens to fit the rest."""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

FLEXIBLE_MIN = 20


def print_whole(console: Console, table: Table, flexible: str | None = None) -> None:
    for column in table.columns:
        if column.header == flexible:
            column.min_width = FLEXIBLE_MIN
        else:
            column.no_wrap = True
            column.min_width = max([len(line) for cell in column.cells for line in str(cell).splitlines()]
                                   + [len(str(column.header))])
    needed = Measurement.get(console, console.options.update(width=100_000), table).minimum
    if needed > console.width:
        console.width = needed
    console.print(table)
