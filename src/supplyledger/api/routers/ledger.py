"""Ledger reads: status, blocks, transactions, receipts, proofs and state; live events.

``GET /api/events`` starts at ``from_height`` (default: the next block); a reconnecting
client's ``Last-Event-ID`` (the height it last received) overrides it, as server-sent
events resume, and must be a height."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of
from supplyledger.api.events import still_logged_in
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import Cursor, Limit, declared_query
from supplyledger.api.service import Principal
from supplyledger.errors import ValidationError

__all__ = ["router"]

router = APIRouter(tags=["ledger"], dependencies=[Depends(current), Depends(declared_query)])

TxId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="transaction id (hex)")]
Name = Annotated[str | None, Query(max_length=128)]


@router.get("/api/status", summary="Chain id, height and this node's id",
            response_model=None, responses=answer(s.Status, "The chain and its height"))
def status(request: Request) -> dict[str, Any]:
    svc = service_of(request)
    return {"chain": svc.chain, "height": svc.node.height, "node": svc.node.key.did}


@router.get("/api/blocks", summary="Blocks, newest first", response_model=None,
            responses=answer(s.BlockPage, "A page of blocks"))
def blocks(request: Request, limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
    return service_of(request).reads.blocks(limit, cursor).to_dict()


@router.get("/api/blocks/{height}", summary="One block: header, signature, transactions",
            response_model=None, responses=answer(s.Block, "The block", 404))
def block(request: Request,
          height: Annotated[int, Path(ge=0, le=2**53 - 1)]) -> dict[str, Any]:
    return service_of(request).reads.block(height)


@router.get("/api/tx", summary="Transactions, newest first, filterable", response_model=None,
            responses=answer(s.TxPage, "A page of transactions"))
def txs(request: Request, limit: Limit = None, cursor: Cursor = None, signer: Name = None,
        contract: Name = None, method: Name = None, ok: bool | None = None,
        height: Annotated[int | None, Query(ge=0, le=2**53 - 1)] = None) -> dict[str, Any]:
    return service_of(request).reads.txs(limit, cursor, signer=signer, contract=contract,
                                         method=method, ok=ok, height=height).to_dict()


@router.get("/api/tx/{tx_id}", summary="One transaction: envelope, signature, receipt",
            response_model=None, responses=answer(s.Tx, "The transaction", 404))
def tx(request: Request, tx_id: TxId) -> dict[str, Any]:
    return service_of(request).reads.tx(tx_id)


@router.get("/api/tx/{tx_id}/receipt", summary="A transaction's receipt",
            response_model=None, responses=answer(s.Receipt, "The receipt", 404))
def receipt(request: Request, tx_id: TxId) -> dict[str, Any]:
    return service_of(request).reads.receipt(tx_id)


@router.get("/api/tx/{tx_id}/proof",
            summary="Inclusion proof, checkable offline with `supplyledger verify-proof`",
            response_model=None, responses=answer(s.Proof, "The proof", 404))
def proof(request: Request, tx_id: TxId) -> dict[str, Any]:
    return service_of(request).proof(tx_id)


@router.get("/api/receipts", summary="Receipts, newest first (failed ones with ok=false)",
            response_model=None, responses=answer(s.ReceiptPage, "A page of receipts"))
def receipts(request: Request, limit: Limit = None, cursor: Cursor = None,
             contract: Name = None, ok: bool | None = None) -> dict[str, Any]:
    svc = service_of(request)
    page = svc.reads.txs(limit, cursor, contract=contract, ok=ok)
    page.items = [svc.reads.receipt(it["id"]) for it in page.items]
    return page.to_dict()


@router.get("/api/state", summary="State entries under a key prefix", response_model=None,
            responses=answer(s.StatePage, "A page of state entries"))
def state_list(request: Request,
               prefix: Annotated[str, Query(min_length=1, max_length=512)],
               limit: Limit = None, cursor: Cursor = None) -> dict[str, Any]:
    return service_of(request).reads.state_keys(prefix, limit, cursor).to_dict()


@router.get("/api/state/{key:path}", summary="One state entry, e.g. identity/o/consortium",
            response_model=None, responses=answer(s.StateEntry, "The entry", 404))
def state(request: Request, key: Annotated[str, Path(min_length=1, max_length=512)]) -> (
        dict[str, Any]):
    return service_of(request).reads.state(key)


_MAX_HEIGHT = 2**53 - 1
_EVENTS = ("one `block` event per committed block (id: its height; data: "
           '{"height", "hash", "time", "tx_count"}), and an `end` event ({"code", '
           '"message"}) before the stream closes because the login no longer holds')


def _resume_after(last_event_id: str | None) -> int | None:
    """The height a reconnecting client last received, from its ``Last-Event-ID``. Our ids
    are heights, so anything else is refused (422) rather than ignored: ignored, it answered
    a stream of live blocks only, the replay the client asked for silently skipped."""
    if not last_event_id:  # a browser sends none before its first event
        return None
    if not (last_event_id.isascii() and last_event_id.isdigit()
            and int(last_event_id) <= _MAX_HEIGHT):
        raise ValidationError(f"Last-Event-ID must be the id of a block event, a height "
                              f"0 to {_MAX_HEIGHT} (got {last_event_id!r})",
                              arg="Last-Event-ID")
    return int(last_event_id)


@router.get("/api/events", summary="Server-sent events: one per committed block",
            response_class=StreamingResponse,
            responses={200: {"description": _EVENTS, "content": {"text/event-stream": {}}}})
def events(request: Request,
           from_height: Annotated[int | None, Query(ge=0, le=_MAX_HEIGHT)] = None,
           max_events: Annotated[int | None, Query(ge=1, le=10_000)] = None,
           last_event_id: Annotated[str | None, Header(max_length=32)] = None,
           who: Principal = Depends(current)) -> StreamingResponse:
    svc = service_of(request)
    start = svc.node.height + 1 if from_height is None else from_height
    # A reconnection resumes after the last event received, whatever the URL says: a
    # browser's EventSource sends the URL it opened (the web UI's holds ``from_height``)
    # again, and from there it replayed blocks the page had already shown.
    resumed = _resume_after(last_event_id)
    if resumed is not None:
        start = resumed + 1
    feed = request.app.state.feed
    return StreamingResponse(
        feed.stream(start, max_events=max_events, heartbeat_s=svc.settings.sse_heartbeat_s,
                    allowed=still_logged_in(svc, who)),  # revoked or logged out: it ends
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
