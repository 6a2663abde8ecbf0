"""Tables on a terminal of any width.

Rich fits a table to the terminal by wrapping and cutting its cells, so a report of ten
columns on an 80-column terminal became one word a line with most values cut short
("Plat…", "2026…"). :func:`show` prints a table as it is when its rows fit unwrapped, and
otherwise each row as a block: its first columns as a heading, then one ``header: value``
line per other column, which wraps as text does and cuts nothing."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["show"]


def _plain(cell: RenderableType, console: Console) -> Text:
    if isinstance(cell, Text):
        return cell
    if isinstance(cell, str):
        return console.render_str(cell)
    return Text(str(cell))


def show(console: Console, table: Table, *, heading: int = 1) -> None:
    """Print ``table`` on ``console``: whole when its natural width fits, else a block per
    row headed by its first ``heading`` cells (joined by " · ")."""
    unbounded = console.options.update_width(100_000)
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    if table.title:
        console.print(table.title, style="bold")
    headers = [" ".join(str(c.header).split()) for c in table.columns]
    columns = [list(c.cells) for c in table.columns]
    for row in zip(*columns, strict=True):
        texts = [_plain(cell, console) for cell in row]
        console.print(Text(" · ").join(t for t in texts[:heading] if t.plain), style="bold")
        for name, text in zip(headers[heading:], texts[heading:], strict=True):
            if text.plain.strip():
                console.print(Text.assemble(f"  {name}: ", text))
    if table.caption:
        console.print(table.caption, style="dim")
