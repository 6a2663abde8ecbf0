"""Pages: block explorer (blocks, block, transaction with receipt and proof) and audit.

A transaction's arguments, result, events and refusal are shown as fields for people:
participants and organisations by name (the id in the tooltip), amounts in their currency,
times in the viewer's time zone; the JSON as signed and as recorded stays one click away,
for the auditor who compares it with the proof. The audit page says what each kind of
finding means and what to do next (``supplyledger repair``, or a backup, as the findings allow).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.routers.common import in_range
from supplyledger.api.service import LedgerService
from supplyledger.api.web.amounts import readable
from supplyledger.api.web.names import names_for
from supplyledger.api.web.render import env, fragment, page
from supplyledger.contracts.builtin.payments import Amount
from supplyledger.contracts.registry import all_tables
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import NotFound, SupplyLedgerError
from supplyledger.ledger.proofs import verify_proof
from supplyledger.logistics.kpi_format import money
from supplyledger.node.audit import AuditReport
from supplyledger.node.repair import remedy

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
# Any text: an id that cannot be one is a transaction not found, said in words (a pattern
# check here answered with the regular expression).
TxId = Annotated[str, Path(max_length=300)]
TX_ID = re.compile(r"[0-9a-f]{64}")
Opt = Annotated[str | None, Query(max_length=2048), AfterValidator(in_range)]


@router.get("/explorer", response_class=HTMLResponse)
def explorer(request: Request, cursor: Opt = None, tx_cursor: Opt = None,
             contract: Annotated[str | None, Query(max_length=64)] = None,
             ok: bool | None = None) -> Response:
    current(request)
    reads = service_of(request).reads
    blocks = reads.blocks(15, cursor or None)
    txs = reads.txs(25, tx_cursor or None, contract=contract or None, ok=ok)
    # Each list pages on its own: its link keeps the other's page and the filter.
    shown = {"cursor": cursor or "", "tx_cursor": tx_cursor or "", "contract": contract or "",
             "ok": "" if ok is None else str(ok).lower()}

    def more(**changed: str) -> str:
        return "/explorer?" + urlencode({k: v for k, v in {**shown, **changed}.items() if v})

    return page(request, "explorer.html", title="Block explorer", blocks=blocks, txs=txs,
                contract=contract or "", ok=ok, contracts=sorted(service_of(request).contracts),
                older_blocks=more(cursor=blocks.next_cursor) if blocks.next_cursor else None,
                older_txs=more(tx_cursor=txs.next_cursor) if txs.next_cursor else None)


def _names(svc: LedgerService, dids: set[str]) -> dict[str, str]:
    """The names of the participants ``dids`` (signers, proposers) that have one."""
    found = {did: svc.participant(did) for did in dids}
    return {did: str(p["name"]) for did, p in found.items() if p and p.get("name")}


@router.get("/explorer/blocks/{height}", response_class=HTMLResponse)
def block(request: Request, height: Annotated[int, Path(ge=0, le=2**53 - 1)]) -> Response:
    current(request)
    svc = service_of(request)
    doc = svc.reads.block(height)
    names = _names(svc, {str(doc["header"].get("proposer"))} | {t["signer"] for t in doc["txs"]})
    # No link to a block that is not there yet.
    return page(request, "block.html", title=f"Block {height}", block=doc, names=names,
                newer=height < svc.node.height)


@router.get("/explorer/tx/{tx_id}", response_class=HTMLResponse)
def tx(request: Request, tx_id: TxId) -> Response:
    current(request)
    svc = service_of(request)
    if not TX_ID.fullmatch(tx_id):
        raise NotFound(f"no transaction {tx_id}: a transaction's id is 64 hexadecimal "
                       "digits (0-9, a-f)", tx=tx_id)
    doc = svc.reads.tx(tx_id)
    proof = svc.proof(tx_id)
    signer = str(doc["envelope"].get("signer"))
    shown = _shown_call(svc, doc)
    names = {**names_for(svc, *shown.values()), **_names(svc, {signer})}
    try:
        check = verify_proof(proof)
    except SupplyLedgerError as exc:
        return page(request, "tx.html", title=f"Transaction {tx_id[:12]}…", tx=doc,
                    proof=proof, verdict=(False, exc.message), names=names, **shown)
    # The proposer by name where it has one, as the signer (the proof document has its id).
    names.update(_names(svc, {check.proposer}))
    verdict = (True, f"valid: included in block {check.height} ({check.block_hash[:16]}…), "
               f"header signed by {names.get(check.proposer, check.proposer)}"
               + ("; author's signature verified" if check.signer_verified else ""))
    return page(request, "tx.html", title=f"Transaction {tx_id[:12]}…", tx=doc, proof=proof,
                verdict=verdict, names=names, **shown)


# -- a call for people ----------------------------------------------------------------------
# What a call is about, where its currency is when neither its arguments nor its events name
# one: (argument or result field, table whose row of that id has a currency).
_ABOUT = (("order", "orders"), ("instruction", "withdrawals"),
          ("declaration", "customs_declarations"))
_ISO = re.compile(r"[A-Z]{3}")


def _is_amount(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _call_currency(svc: LedgerService, args: Mapping[str, Any], result: Any,
                   events: list[Any]) -> str | None:
    """The currency of a call's amounts: its ``currency`` argument, else the first its
    events name (a money movement's ``ccy``), else that of the order, withdrawal
    instruction or declaration it was about."""
    if isinstance(args.get("currency"), str):
        return str(args["currency"])
    for ev in events:
        payload = ev[1] if isinstance(ev, list | tuple) and len(ev) == 2 else None
        if isinstance(payload, Mapping):
            for k in ("ccy", "currency"):
                if isinstance(payload.get(k), str):
                    return str(payload[k])
    for field, table in _ABOUT:
        for doc in (args, result):
            ident = doc.get(field) if isinstance(doc, Mapping) else None
            if isinstance(ident, str) and table in svc.reads.tables:
                rows = svc.reads.rows(table, 1, None, {"id": ident}).items
                if rows and isinstance(rows[0].get("currency"), str):
                    return str(rows[0]["currency"])
    return None


def _event(payload: Any, ccy: str | None) -> Any:
    """An event's (or a result's) fields with its amounts in their currency: as
    ``readable`` does, and a money movement's ``ccy`` (amount and the balances after it),
    amounts per currency (a balance handed over)."""
    if not isinstance(payload, Mapping):
        return readable(payload, ccy)
    own = payload.get("ccy")
    ccy = own if isinstance(own, str) else ccy
    out: dict[str, Any] = dict(readable(dict(payload), ccy))
    for k, v in payload.items():
        if ccy and _is_amount(v) and (k == "amount" or k.endswith("_balance")):
            out[k] = money(v, ccy)
        elif isinstance(v, Mapping) and v and all(
                isinstance(c, str) and _ISO.fullmatch(c) and _is_amount(x)
                for c, x in v.items()):
            out[k] = {c: money(x, c) for c, x in v.items()}
    return out


def _shown_call(svc: LedgerService, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction's arguments, result, events and refusal details as the page shows
    them (amounts in their currency); the ids in them are named by ``names_for``."""
    env, receipt = doc["envelope"], doc.get("receipt") or {}
    args = env.get("args") if isinstance(env.get("args"), Mapping) else {}
    events = [e for e in receipt.get("events") or () if isinstance(e, list | tuple)
              and len(e) == 2]
    ccy = _call_currency(svc, args, receipt.get("result"), events)
    shown_args: dict[str, Any] = dict(readable(dict(args), ccy))
    try:  # the method's own amounts (a price, freight): money only it knows to be money
        specs = svc.method(str(env.get("contract")), str(env.get("method"))).args
    except SupplyLedgerError:  # a call of a method the rules lack (refused): as signed
        specs = {}
    for k, v in args.items():
        if ccy and _is_amount(v) and isinstance(specs.get(k), Amount):
            shown_args[k] = money(v, ccy)
    error = receipt.get("error")
    if not isinstance(error, Mapping):
        error = {}
    return {"shown_args": shown_args,
            "shown_result": _event(receipt.get("result"), ccy),
            "shown_events": [(str(name), _event(p, ccy)) for name, p in events],
            "shown_error": error.get("details") or None}


# -- the audit's findings, in words -------------------------------------------------------------
# Each kind of finding: what it means. The blocks and transactions are the record; the state
# and the query tables follow from them.
FINDING_KINDS = {
    "changed_row": "a stored row differs from what the blocks give: edited in the database",
    "missing_row": "a row the blocks give is not stored: deleted in the database",
    "extra_row": "a stored row no block produces: added in the database",
    "extra_rows": "more transactions are stored than the blocks hold",
    "projection": "a query table cannot be read",
    "projection_schema": "query tables built by another release",
    "changed_schema": "a table defined otherwise than supplyledger defines it",
    "schema": "a table supplyledger needs is missing or lacks columns",
    "unknown_table": "a table supplyledger did not create (it may hold someone's data)",
    "unknown_object": "an index, trigger or view supplyledger did not create",
    "missing_object": "an index, trigger, view or table supplyledger creates is missing",
    "missing_block": "blocks are missing",
    "header": "a block header cannot be read",
    "block_hash": "a block's stored hash is not its header's",
    "broken_link": "a block does not point to the block before it",
    "chain": "a block of another chain",
    "time": "block times go backwards",
    "genesis": "the genesis block is not what it should be",
    "tx_root": "transactions differ from those the block header commits to",
    "receipt": "a receipt differs from re-executing its transaction",
    "receipts_root": "receipts differ from those the block header commits to",
    "state_root": "the state differs from the one the block header commits to",
    "reexecution": "re-executing a block gives other receipts than it commits to",
    "tx_count": "a block holds another number of transactions than its header says",
    "tx": "a stored transaction cannot be read",
    "tx_id": "a transaction's id is not the hash of its signed envelope",
    "tx_row": "a transaction's indexed columns differ from its signed envelope",
    "duplicate_tx": "a transaction is stored twice",
    "tx_position": "a transaction is stored at another place than its row says",
    "signature": "a transaction's signature does not verify",
    "inadmissible_tx": "a block holds a transaction no node would have admitted",
    "proposer": "a block proposed by a key that is not a registered node",
    "block_signature": "a block's proposer signature does not verify",
    "rules_unsupported": "the ledger runs contract rules this release does not implement",
}
env.globals["finding_kinds"] = FINDING_KINDS  # (_audit_report.html)


def audit_advice(report: AuditReport | None, contracts: Mapping[str, Contract]) -> str | None:
    """What the report's findings mean for a ledger of ``contracts`` and what to do next."""
    if report is None:
        return None
    if report.ok:
        return ("Nothing to do: the blocks verify and every stored table matches what they "
                "give.")
    r = remedy(report.findings, {t.name: t for t in all_tables(contracts)})
    if r.kind == "other_release":
        return ("The ledger runs contract rules this release does not implement (`supplyledger "
                "rules` lists them): audit it with a release that implements them.")
    if r.kind == "rebuild":
        return ("Query tables built by an earlier release: nothing was edited. A node of this "
                "release rebuilds them from the blocks when it opens the ledger (or, with the "
                "node stopped, `supplyledger repair --data <the node's data directory>`).")
    if r.kind == "repair":
        drop = (f"Tables not created by supplyledger ({', '.join(r.foreign)}) are left alone by "
                "the repair: their owner moves their data elsewhere and drops them. "
                if r.foreign else "")
        fix = ("The blocks and every signature are intact: what differs is this node's copy of "
               "derived data (the state and query tables the pages read), changed in its "
               "database, not through the ledger. Pages reading it may show the edited values "
               "(the trace page re-checks each event against the blocks); proofs and "
               "`supplyledger verify-proof` are unaffected. Next: find out who could write "
               "this node's database file; then, with the node stopped, "
               "`supplyledger repair --data <the node's data directory>` writes the derived "
               "tables back from the blocks and audits again; start the node and run the audit "
               "here once more." if r.rest else "")
        return (drop + fix).strip()
    return ("The blocks or transactions themselves are damaged: nothing on this node can say "
            "what they held. Stop the node, keep its data directory apart as evidence, and "
            "restore from a backup (`supplyledger backup` makes audited ones) or another "
            "organisation's copy of the ledger.")


def _audit_page(request: Request, report: AuditReport | None) -> Response:
    return page(request, "audit.html", title="Audit", report=report,
                advice=audit_advice(report, service_of(request).contracts))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    current(request)
    return _audit_page(request, service_of(request).last_audit)


@router.post("/audit", response_class=HTMLResponse)
async def audit_run(request: Request) -> Response:
    who = current(request)
    check_csrf(who, request, dict(await request.form()))
    report = await run_in_threadpool(service_of(request).audit, who)
    if request.headers.get("hx-request"):
        return fragment("_audit_report.html", report=report,
                        advice=audit_advice(report, service_of(request).contracts))
    return _audit_page(request, report)
