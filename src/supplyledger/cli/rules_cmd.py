"""``supplyledger rules``: which rules version of each contract a ledger runs, against what
the installed supplyledger implements (before and after upgrading a release)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from supplyledger.cli.common import console, handle_errors, print_json

__all__ = ["rules_command", "rules_report"]


def rules_report(data: Path) -> list[dict[str, Any]]:
    """Per installed contract: the version in force on the ledger in ``data``, the versions
    this code implements, and whether a node of this release can run it."""
    from functools import partial

    from supplyledger.contracts.executor import rules_in_force
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.store.readonly import open_readonly, state_value

    conn = open_readonly(data)
    try:
        read = partial(state_value, conn)
        rows = []
        for name, c in sorted(load_builtin().items()):
            v = rules_in_force(name, read)
            rows.append({"contract": name, "in_force": v, "implemented": list(c.versions),
                         "runnable": v in c.versions, "newer": [n for n in c.versions if n > v]})
        return rows
    finally:
        conn.close()


@handle_errors
def rules_command(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Contract rules in force on a ledger and those the installed code implements.

    Exit 1 when the ledger runs rules this release does not implement (a node would refuse
    to start). Newer rules take effect only when a consortium admin adopts them:
    ``supplyledger tx submit --data DIR --key ADMIN.key rules adopt --args
    '{"contract": "trace", "version": 2}'``."""
    rows = rules_report(data)
    if json_out:
        print_json({"contracts": rows})
    else:
        t = RichTable("contract", "in force", "implemented", "note")
        for r in rows:
            note = ("[red]not implemented: install a release that is[/]" if not r["runnable"]
                    else f"v{r['newer'][-1]} available to adopt" if r["newer"] else "")
            t.add_row(r["contract"], f"v{r['in_force']}",
                      ", ".join(f"v{v}" for v in r["implemented"]), note)
        console.print(t)
    if not all(r["runnable"] for r in rows):
        raise typer.Exit(1)
