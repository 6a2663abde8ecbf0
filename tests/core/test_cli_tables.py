"""Report tables on narrow terminals (``supplyledger.cli.tables.show``): a table wider than
the terminal used to be squeezed until its values were cut ("Plat…", "2026…"); now each
row becomes a block of ``header: value`` lines, and a table that fits stays a table."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from supplyledger.cli.tables import show


def _console(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, color_system=None, legacy_windows=False), out


def _report() -> Table:
    t = Table("platform", "period", "processing h\nmed / mean", "cost / order", "OTIF",
              title="KPIs at block 9", caption="cost = freight + storage")
    t.add_row("Platform A operations", "2026-10", "3.10 / 3.11", "CNY 11.66",
              "100.0 % (23/23)")
    t.add_row("Platform B operations", "2026-11", "", "[bold]CNY 105.73[/]", "—")
    return t


def test_a_table_wider_than_the_terminal_becomes_a_block_per_row() -> None:
    console, out = _console(40)
    show(console, _report(), heading=2)
    text = out.getvalue()
    assert "…" not in text and "┃" not in text
    assert text.splitlines() == [
        "KPIs at block 9",
        "Platform A operations · 2026-10",
        "  processing h med / mean: 3.10 / 3.11",
        "  cost / order: CNY 11.66",
        "  OTIF: 100.0 % (23/23)",
        "Platform B operations · 2026-11",  # the empty cell is left out, markup rendered
        "  cost / order: CNY 105.73",
        "  OTIF: —",
        "cost = freight + storage",
    ]


def test_a_table_that_fits_stays_a_table() -> None:
    console, out = _console(200)
    show(console, _report(), heading=2)
    text = out.getvalue()
    assert "┃ platform" in text and "Platform A operations │ 2026-10" in text
    assert "cost / order:" not in text
