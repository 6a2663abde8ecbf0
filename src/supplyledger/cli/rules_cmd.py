"""``supplyledger rules``: which rules version of each contract a ledger runs, against what
the installed supplyledger implements (before and after upgrading a release)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from supplyledger.cli.common import console, handle_errors, print_json
from supplyledger.errors import StoreError

__all__ = ["rules_command", "rules_report"]


def rules_report(data: Path) -> list[dict[str, Any]]:
    """:func:`~supplyledger.contracts.builtin.rules.rules_rows` for the ledger in ``data``
    and the installed contracts (read-only: also beside a running node)."""
    from supplyledger.contracts.builtin.rules import PREFIX, in_force, rules_rows
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.store.readonly import open_readonly, prefixed_state

    conn = open_readonly(data)
    try:
        stored = prefixed_state(conn, PREFIX)
    except sqlite3.Error as exc:  # not a ledger database: one clear line, not a trace
        raise StoreError(f"the ledger in {data} cannot be read: {exc}") from exc
    finally:
        conn.close()
    return rules_rows(load_builtin(), in_force(stored))


@handle_errors
def rules_command(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Contract rules in force on a ledger and those the installed code implements.

    Exit 1 when the ledger runs rules this release does not implement: a node would
    refuse to start.

    Newer rules take effect only when a consortium admin adopts them, e.g.
    supplyledger tx submit rules adopt --data DIR --key ADMIN.key
    --args '{"contract": "trace", "version": 2}'"""
    rows = rules_report(data)
    if json_out:
        print_json({"contracts": rows})
    else:
        t = RichTable("contract", "in force", "implemented", "note")
        for r in rows:
            note = ("[red]not implemented: install a release that does[/]" if not r["runnable"]
                    else f"v{r['newer'][-1]} available to adopt" if r["newer"] else "")
            t.add_row(r["contract"], f"v{r['in_force']}",
                      ", ".join(f"v{v}" for v in r["implemented"]), note)
        console.print(t)
    if not all(r["runnable"] for r in rows):
        raise typer.Exit(1)
