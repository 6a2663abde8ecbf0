"""Operating a node's ledger directory: ``backup`` (a verified copy, taken while the node
runs) and ``repair`` (derived tables written back from the blocks after an audit found them
edited)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from supplyledger.cli.common import console, handle_errors, print_json, progress_bar

__all__ = ["backup_command", "repair_command"]

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@handle_errors
def backup_command(
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="New or empty directory for the copy.")],
    verify: Annotated[bool, typer.Option(help="Audit the copy.")] = True,
    json_out: JsonOpt = False,
) -> None:
    """Copy a ledger directory, also while its node runs; the copy is audited.

    Copies the database (one snapshot), the key files, the private data and the devices'
    MQTT logins. Start a node on the copy to restore."""
    from supplyledger.node.backup import backup

    with progress_bar() as bar:
        bar.add_task("copying and auditing" if verify else "copying", total=None)
        rep = backup(data, out, verify=verify)
    if json_out:
        print_json(rep.to_dict())
    else:
        audit = ("not audited" if rep.audit is None else
                 "audit [green]CLEAN[/]" if rep.audit.ok else "audit [red]FINDINGS[/]")
        console.print(f"{out}: up to block {rep.height}, {rep.bytes / 1e6:.1f} MB; {audit}")
    if rep.audit is not None and not rep.audit.ok:
        raise typer.Exit(1)


@handle_errors
def repair_command(data: DataOpt, json_out: JsonOpt = False) -> None:
    """Write edited state and projection tables back from the blocks (node stopped).

    Runs the audit; when every finding is in the state, meta or projection tables, writes
    them back and audits again. Refuses, changing nothing, when blocks or transactions are
    damaged."""
    from supplyledger.node.repair import repair

    with progress_bar() as bar:
        task = bar.add_task("auditing blocks", total=None)
        rep = repair(data, progress=lambda h, n: bar.update(task, completed=h, total=n))
    if json_out:
        print_json(rep.to_dict())
    elif rep.after is None:
        console.print(f"[green]CLEAN[/]: {rep.before.blocks} blocks, {rep.before.txs} "
                      "transactions; nothing to repair")
    else:
        n = len(rep.before.findings)
        result = "[green]CLEAN[/]" if rep.after.ok else "[red]FINDINGS[/] remain"
        console.print(f"{n} finding(s) repaired from the blocks in {', '.join(rep.restored)}; "
                      f"audit after: {result}")
    if not rep.ok:
        raise typer.Exit(1)
