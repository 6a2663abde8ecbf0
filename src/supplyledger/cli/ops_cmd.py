"""Operating a node's ledger directory: ``backup`` (a verified copy, taken while the node
runs) and ``repair`` (derived tables written back from the blocks after an audit found them
edited)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from supplyledger.cli.common import (
    FILE_ERROR,
    console,
    esc,
    fail,
    handle_errors,
    print_json,
    progress_bar,
)
from supplyledger.errors import LedgerInUse, NotFound

if TYPE_CHECKING:
    from supplyledger.node.audit import AuditReport

__all__ = ["backup_advice", "backup_command", "repair_command"]

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

    if out.exists() and not out.is_dir():  # worded as out_file words it
        fail(f"--out {out}: Not a directory (a file is there; a new or empty directory is "
             "wanted)", error_code=FILE_ERROR)
    if not out.exists():  # a new directory, in one that exists (node/backup.py says why)
        # Worded as out_file words a file's missing directory; checked before the progress bar.
        if out.parent.exists() and not out.parent.is_dir():
            fail(f"--out {out}: Not a directory ({out.parent} is a file)", error_code=FILE_ERROR)
        if not out.parent.exists():
            fail(f"--out {out}: No such file or directory ({out.parent} does not exist)",
                 error_code=FILE_ERROR)
    with progress_bar() as bar:
        bar.add_task("copying and auditing" if verify else "copying", total=None)
        rep = backup(data, out, verify=verify)
    if json_out:
        print_json(rep.to_dict())
    else:
        audit = ("not audited" if rep.audit is None else
                 "audit [green]CLEAN[/]" if rep.audit.ok else "audit [red]FINDINGS[/]")
        console.print(f"{esc(out)}: up to block {rep.height}, {rep.bytes / 1e6:.1f} MB; "
                      f"{audit}")
        if rep.audit is not None and not rep.audit.ok:
            console.print(esc(backup_advice(rep.audit, data, out)), highlight=False)
    if rep.audit is not None and not rep.audit.ok:
        raise typer.Exit(1)


def backup_advice(report: AuditReport, data: Path, out: Path) -> str:
    """What a backup's audit findings mean and what to do (the copy is one snapshot of
    ``data``, so the ledger has them too unless it changed since)."""
    from supplyledger.contracts.registry import all_tables, load_builtin
    from supplyledger.node.repair import drop_hint, remedy
    from supplyledger.store.sqlite import DB_NAME

    counts = Counter((f.kind, f.table) for f in report.findings)
    found = ", ".join(f"{k}{f' in {t}' if t else ''} ({n})" for (k, t), n in sorted(
        counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))
    found = (f"{sum(counts.values())} finding(s): {found}; `supplyledger audit --data {out}` "
             "names each.\n")
    r = remedy(report.findings, {t.name: t for t in all_tables(load_builtin())})
    if r.kind == "rebuild":
        return found + ("Query tables built by an earlier release: the copy is whole. A node "
                        "of this release rebuilds them from the blocks when it first opens "
                        f"the ledger (or `supplyledger repair --data {out}`).")
    if r.kind == "other_release":
        return found + ("The ledger runs contract rules this release lacks (`supplyledger "
                        "rules`): audit the copy with a release that implements them.")
    if r.kind == "repair" and r.foreign:
        then = (f", then `supplyledger repair --data {data}` (its node stopped) for the rest "
                "and back up again" if r.rest else ", then back up again")
        return found + (f"The blocks are intact, but {drop_hint(data / DB_NAME, r.foreign)} "
                        f"(also in {data}, unless changed since){then}.")
    if r.kind == "repair":
        return found + ("The blocks are intact; derived tables or the schema differ from "
                        "what the blocks and this release make of them (also in "
                        f"{data}, unless edited since): `supplyledger repair --data {data}` "
                        "(its node stopped) writes them back there, then back up again; "
                        f"`supplyledger repair --data {out}` does it in this copy.")
    return found + ("The blocks or transactions are damaged (also in the ledger, unless "
                    "the copy was damaged): keep this copy apart and restore from an "
                    "earlier backup or another organisation's copy.")

@handle_errors(ok=False)
def repair_command(data: DataOpt, json_out: JsonOpt = False) -> None:
    """Write edited state and projection tables back from the blocks (node stopped).

    Runs the audit; when every finding is in the state, meta or projection tables, writes
    them back and audits again. Refuses, changing nothing, when blocks or transactions are
    damaged."""
    from supplyledger.node.repair import repair
    from supplyledger.store.sqlite import DB_NAME

    # Checked here: repair takes the writer lock first, which would leave DIR/node.lock in a
    # directory without a ledger (or fail on a missing one naming the lock file).
    if not (data / DB_NAME).is_file():
        fail(f"no ledger in {data}", error_code=NotFound.code)
    try:
        with progress_bar() as bar:
            task = bar.add_task("auditing blocks", total=None)
            rep = repair(data, progress=lambda h, n: bar.update(task, completed=h, total=n))
    except LedgerInUse as exc:  # its own message suggests the API, which cannot repair
        holder = exc.details.get("holder", "another process")
        raise LedgerInUse(f"the ledger in {data} is in use by {holder}: repair needs it "
                          "stopped; stop it (Ctrl-C or SIGTERM), then run repair again",
                          holder=holder) from None
    if json_out:
        print_json(rep.to_dict())
    elif rep.after is None:
        console.print(f"[green]CLEAN[/]: {rep.before.blocks} blocks, {rep.before.txs} "
                      "transactions; nothing to repair")
    else:
        n = len(rep.before.findings)
        result = "[green]CLEAN[/]" if rep.after.ok else "[red]FINDINGS[/] remain"
        done = [*rep.restored, *(f"{d} (dropped)" for d in rep.dropped),
                *(f"{c} (created)" for c in rep.created)]
        console.print(f"{n} finding(s) repaired from the blocks in {', '.join(done)}; "
                      f"audit after: {result}")
    if not rep.ok:
        raise typer.Exit(1)
