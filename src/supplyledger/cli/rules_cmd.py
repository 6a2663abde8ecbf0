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
    """Per installed contract, and per contract whose rules the ledger names but this code
    lacks: the version in force on the ledger in ``data``, the versions this code
    implements, and whether a node of this release can run it."""
    from supplyledger.contracts.builtin.rules import PREFIX, version_of
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.store.readonly import open_readonly

    conn = open_readonly(data)
    try:
        # Every rules/v/ key (the primary key's index starts the scan at the prefix).
        stored = {k[len(PREFIX):]: version_of(k, bytes(v)) for k, v in conn.execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ?",
            (PREFIX, PREFIX[:-1] + chr(ord(PREFIX[-1]) + 1)))}
    except sqlite3.Error as exc:  # not a ledger database: one clear line, not a trace
        raise StoreError(f"the ledger in {data} cannot be read: {exc}") from exc
    finally:
        conn.close()
    contracts = load_builtin()
    rows = []
    for name in sorted(set(contracts) | set(stored)):
        v, implemented = stored.get(name, 1), contracts[name].versions if name in contracts else ()
        rows.append({"contract": name, "in_force": v, "implemented": list(implemented),
                     "runnable": v in implemented, "newer": [n for n in implemented if n > v]})
    return rows


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
