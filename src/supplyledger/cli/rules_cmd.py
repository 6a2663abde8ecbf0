"""``supplyledger rules``: which rules version of each contract a ledger runs, against what
the installed supplyledger implements (before and after upgrading a release).

After the table it says what to do next: with newer rules to adopt, one ``tx submit rules
adopt`` command per contract, each printed on one line whatever the terminal's width (a
command wrapped by the console ran as two when pasted)."""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from supplyledger.cli.common import console, esc, handle_errors, print_json
from supplyledger.errors import StoreError

__all__ = ["adopt_commands", "rules_advice", "rules_command", "rules_report"]


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

    Exit 1 when the ledger runs rules this release does not
    implement: a node would refuse to start.

    Newer rules take effect only when a consortium admin adopts
    them: with the node running, on the web UI's Participants
    page or POST /api/contracts/rules/adopt; with it stopped, by
    the tx submit rules adopt command printed per contract."""
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
        console.print(esc(rules_advice(rows, data)), highlight=False)
        for cmd in adopt_commands(rows, data):
            console.print(f"  {esc(cmd)}", soft_wrap=True, highlight=False)
    if not all(r["runnable"] for r in rows):
        raise typer.Exit(1)


def rules_advice(rows: list[dict[str, Any]], data: Path) -> str:
    """What to do next, after :func:`rules_report`'s table (:func:`adopt_commands` follow
    it when there are newer rules)."""
    lacking = [f"{r['contract']} v{r['in_force']}" for r in rows if not r["runnable"]]
    if lacking:
        return (f"This release cannot run the ledger (it lacks {', '.join(lacking)}): a "
                "node would refuse to start. Install a release that implements them, such "
                "as the one that ran it before.")
    if not any(r["newer"] for r in rows):
        return "The ledger runs the newest rules this release implements."
    return ("Newer rules change nothing until a consortium admin adopts them (what each "
            "version changes: docs/architecture.md, \"Audit\"). Every node of the "
            "consortium must run a release that implements them first; once adopted, a "
            "release without them cannot run the ledger (going back means the backup taken "
            "before the upgrade). With the node running: the web UI's Participants page "
            "(/admin) has an \"Adopt vN\" button per contract (or the page "
            "/contracts/rules/adopt, or POST /api/contracts/rules/adopt). With it stopped, "
            "one command per contract, signed with a consortium admin's key file ADMIN.key "
            "(a web login's: its account page, \"Download sealed key file\"; its password in "
            "SUPPLYLEDGER_KEY_PASSWORD; docs/operations.md, \"Upgrade\"):")


def adopt_commands(rows: list[dict[str, Any]], data: Path) -> list[str]:
    """A ``tx submit rules adopt`` command per contract with newer rules, adopting its
    newest (versions in between need no adoption of their own); none while a version in
    force is lacking, since no node of this release could run the ledger."""
    if not all(r["runnable"] for r in rows):
        return []
    return [f"supplyledger tx submit rules adopt --data {shlex.quote(str(data))} --key "
            f"ADMIN.key --args '{{\"contract\": \"{r['contract']}\", \"version\": "
            f"{r['newer'][-1]}}}'" for r in rows if r["newer"]]
