"""``supplyledger epcis import|export``: EPCIS 2.0 JSON-LD documents in and out of the ledger
(thin: :mod:`supplyledger.node.epcis_ingest` does the work)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from supplyledger.cli.common import (
    FILE_ERROR,
    console,
    err_console,
    esc,
    fail,
    handle_errors,
    node_key,
    open_store,
    out_file,
    print_json,
    signer_key,
    write_out,
)
from supplyledger.errors import EPCISValidationError, PayloadTooLarge, SupplyLedgerError

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

__all__ = ["app"]

app = typer.Typer(help="EPCIS 2.0 capture and export.", no_args_is_help=True)
DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]


def _refusal(name: str, exc: SupplyLedgerError) -> dict[str, Any]:
    # (a capture refused as already recorded lists its events too)
    errors: list[dict[str, Any]] = getattr(exc, "errors", None) or []
    return {"file": name, "ok": False, "code": exc.code, "error": exc.message,
            "errors": errors}


@app.command("import")
@handle_errors(ok=False)
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help="EPCIS 2.0 JSON-LD documents.")],
    data: DataOpt,
    key: Annotated[Path, typer.Option("--key", help="Signer's key file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Capture each FILE's events in one transaction per file: all or none of them.

    Several files are captured concurrently; a refused file does not stop the others (exit 1
    if any was refused)."""
    from supplyledger.contracts.builtin.trace import MAX_EVENTS_TEXT
    from supplyledger.node.epcis_ingest import Capture, capture_documents, load_document
    from supplyledger.node.service import Node
    from supplyledger.node.settings import Settings
    from supplyledger.node.signers import registered_as

    for f in files:  # before any password prompt
        if not f.is_file():
            fail(f"{f}: {'not a file' if f.exists() else 'no such file'}",
                 error_code=FILE_ERROR)
    signer = signer_key(key)
    node = node_key(data)
    # (a file over the limit is refused unread, so it does not size the node)
    size = min(max(f.stat().st_size for f in files), MAX_EVENTS_TEXT)
    settings = Settings(data, max_tx_bytes=max(64 * 1024, 2 * size + (1 << 16)))
    results: dict[int, dict[str, Any]] = {}

    def docs() -> Iterator[tuple[int, Any]]:
        for i, f in enumerate(files):  # read lazily: one document in memory per slot
            try:
                yield i, load_document(f)
            except (EPCISValidationError, PayloadTooLarge) as exc:
                results[i] = _refusal(f.name, exc)

    with Node(settings, node) as running:
        # Refused before any file is read or signed: a key nobody may capture with
        # (unregistered, revoked, rotated away, or without a recording role).
        did = registered_as(running.store.get_state, signer.public, running.contracts,
                            "trace", "record_events")
        for i, out in capture_documents(running, docs(), signer, signer=did):
            name = files[i].name
            results[i] = (_refusal(name, out) if not isinstance(out, Capture) else
                          {"file": name, "ok": True, "tx": out.tx, "height": out.height,
                           "events": out.events, "subjects": out.subjects})
    ordered = [results[i] for i in sorted(results)]
    _report(ordered, json_out)
    if not all(r["ok"] for r in ordered):
        raise typer.Exit(1)


_SHOWN = 50  # problems listed per refused file; --json has them all


def _report(results: list[dict[str, Any]], json_out: bool) -> None:
    if json_out:
        # One file keeps the single-document shape scripts already read.
        print_json(results[0] if len(results) == 1 else {
            "ok": all(r["ok"] for r in results), "files": results,
            "events": sum(r.get("events", 0) for r in results)})
        return
    for r in results:
        if r["ok"]:
            console.print(f"[green]captured[/] {esc(r['file'])}: {r['events']} events in block "
                          f"{r['height']} (tx {r['tx']}), {r['subjects']} batches/objects")
            continue
        err_console.print(f"[bold red]refused[/] {esc(r['file'])}: {esc(r['error'])}")
        errors = r["errors"]
        if r["code"] == "already_exists" or (
                len(errors) == 1 and errors[0]["reason"] in r["error"]):
            continue  # the summary line already says it (a retry: each event is a repeat)
        for e in errors[:_SHOWN]:
            where = "document" if e.get("event") is None else f"event {e['event']}"
            err_console.print(f"  {where}: {esc(e['reason'])}")
        if len(errors) > _SHOWN:  # say so: the file's other problems are not fixed yet
            err_console.print(f"  … and {len(errors) - _SHOWN} more (--json lists them all)")


@app.command("export")
@handle_errors
def export_cmd(
    data: DataOpt,
    batch: Annotated[str | None, typer.Option(
        "--batch", help="Batch: LGTIN URN, GS1 Digital Link or lot number (as for trace).")
    ] = None,
    tx: Annotated[str | None, typer.Option("--tx", help="A capture transaction id.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (else stdout).")] = None,
) -> None:
    """Write a valid EPCIS 2.0 document of a batch's events (or of one capture)."""
    from supplyledger.cli.trace_cmd import resolve_batch
    from supplyledger.node.epcis_ingest import export_document
    from supplyledger.node.queries import TraceQueries

    if (batch is None) == (tx is None):
        raise typer.BadParameter("give exactly one of --batch or --tx")
    if out is not None:
        out_file(out, "--out")
    store = open_store(data)
    try:
        if batch is not None:  # a lot number as printed on a bag, as trace takes it
            batch = resolve_batch(TraceQueries(store), batch)
        doc = export_document(store, batch=batch, tx=tx)
    finally:
        store.close()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        write_out(out, text)
        console.print(f"wrote {len(doc['epcisBody']['eventList'])} events to {out}")
