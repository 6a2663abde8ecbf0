"""Pages: block explorer (blocks, block, transaction with receipt and proof) and audit."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.routers.common import in_range
from supplyledger.api.service import LedgerService
from supplyledger.api.web.render import fragment, page
from supplyledger.errors import NotFound, SupplyLedgerError
from supplyledger.ledger.proofs import verify_proof

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
    try:
        check = verify_proof(proof)
    except SupplyLedgerError as exc:
        return page(request, "tx.html", title=f"Transaction {tx_id[:12]}…", tx=doc,
                    proof=proof, verdict=(False, exc.message), names=_names(svc, {signer}))
    # The proposer by name where it has one, as the signer (the proof document has its id).
    names = _names(svc, {signer, check.proposer})
    verdict = (True, f"valid: included in block {check.height} ({check.block_hash[:16]}…), "
               f"header signed by {names.get(check.proposer, check.proposer)}"
               + ("; author's signature verified" if check.signer_verified else ""))
    return page(request, "tx.html", title=f"Transaction {tx_id[:12]}…", tx=doc, proof=proof,
                verdict=verdict, names=names)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    current(request)
    return page(request, "audit.html", title="Audit", report=service_of(request).last_audit)


@router.post("/audit", response_class=HTMLResponse)
async def audit_run(request: Request) -> Response:
    who = current(request)
    check_csrf(who, request, dict(await request.form()))
    report = await run_in_threadpool(service_of(request).audit, who)
    if request.headers.get("hx-request"):
        return fragment("_audit_report.html", report=report)
    return page(request, "audit.html", title="Audit", report=report)
