"""``supplyledger epcis import|export``: EPCIS 2.0 JSON-LD documents in and out of the ledger
(thin: :mod:`supplyledger.node.epcis_ingest` does the work)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from supplyledger.cli.common import console, err_console, handle_errors, password, print_json
from supplyledger.errors import EPCISValidationError
from supplyledger.ledger.keyfile import unseal
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.epcis_ingest import capture_document, export_document, load_document
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["app"]

app = typer.Typer(help="EPCIS 2.0 capture and export.", no_args_is_help=True)
DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]


@app.command("import")
@handle_errors
def import_cmd(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON-LD document.")],
    data: DataOpt,
    key: Annotated[Path, typer.Option("--key", help="Signer's key file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Capture every event of FILE in one transaction: all in one block, or none."""
    doc = load_document(file)
    signer = unseal(key.read_bytes(), password("SUPPLYLEDGER_KEY_PASSWORD", f"Password for {key}"))
    node_key = load_node_key(data, password("SUPPLYLEDGER_NODE_PASSWORD", "Node key password"))
    size = file.stat().st_size
    settings = Settings(data, max_tx_bytes=max(64 * 1024, 2 * size + (1 << 16)))
    try:
        with Node(settings, node_key) as node:
            cap = capture_document(node, doc, signer)
    except EPCISValidationError as exc:
        if json_out:
            print_json({"ok": False, "error": exc.message, "errors": exc.errors})
        else:
            err_console.print(f"[bold red]refused[/]: {exc.message}")
            for e in exc.errors[:50]:
                where = "document" if e.get("event") is None else f"event {e['event']}"
                err_console.print(f"  {where}: {e['reason']}")
        raise typer.Exit(1) from None
    out = {"ok": True, "tx": cap.tx, "height": cap.height, "events": cap.events,
           "subjects": cap.subjects}
    if json_out:
        print_json(out)
    else:
        console.print(f"[green]captured[/] {cap.events} events in block {cap.height} "
                      f"(tx {cap.tx}), {cap.subjects} batches/objects")


@app.command("export")
@handle_errors
def export_cmd(
    data: DataOpt,
    batch: Annotated[str | None, typer.Option("--batch", help="Batch id (LGTIN).")] = None,
    tx: Annotated[str | None, typer.Option("--tx", help="A capture transaction id.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (else stdout).")] = None,
) -> None:
    """Write a valid EPCIS 2.0 document of a batch's events (or of one capture)."""
    if (batch is None) == (tx is None):
        raise typer.BadParameter("give exactly one of --batch or --tx")
    store = SQLiteStore(data)
    try:
        doc = export_document(store, batch=batch, tx=tx)
    finally:
        store.close()
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        console.print(f"wrote {len(doc['epcisBody']['eventList'])} events to {out}")
