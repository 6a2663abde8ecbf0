"""IoT devices over HTTP: signed reading batches in, receipts out, batches as EPCIS.

``POST /api/devices/readings`` takes the device's signed ``sensors.record`` transaction in
the wire format of ``POST /api/tx`` (the bytes as signed) and needs no login: the signature
is the device's credential. It answers once the batch's block is durable: 200 with the
receipt, the status of the contract's error with the receipt alongside (a refused batch is
still on the ledger: 404 for a key never registered with ``sensors.register_device``, 409
for a repeated or skipped ``seq``), or a typed error body for a transaction the node never
admitted (malformed JSON or signature 400, bad signature or unknown signer 401, oversized
413, not a reading batch, arguments its schema refuses, another chain or a time outside
the node's window 422). The bytes need not be canonical: the signature covers the
canonical envelope. A batch sent again after it committed (the device missed the answer)
gets its committed receipt, as over MQTT; one sent again while its first copy is still
being written gets 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import bounded_body, declared_query, receipt_response
from supplyledger.api.service import Principal
from supplyledger.contracts.builtin.sensors import readings_to_epcis
from supplyledger.epcis import build_document
from supplyledger.errors import NotFound, ReplayedTransaction
from supplyledger.ingest.admit import reading_tx
from supplyledger.ingest.device import HTTP_PATH
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.receipts import Receipt, committed_receipt

__all__ = ["router"]

router = APIRouter(tags=["devices"], dependencies=[Depends(declared_query)])
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["env", "sig"], "additionalProperties": False,
    "description": "a sensors.record transaction signed by the device: env {chain, "
                   "contract, method, args {seq, readings}, signer, nonce, time}, sig"}}}}}
TxId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="transaction id (hex)")]


@router.post(HTTP_PATH, summary="Submit a device's signed batch of readings (no login: the "
             "device's signature authenticates it)", openapi_extra=_BODY,
             response_model=None, responses=answer(s.CallAnswer, "Committed: its receipt",
                                                   401, 403, 404, 409, 422, 503))
async def readings(request: Request, response: Response) -> Any:
    svc = service_of(request)
    limit = svc.node.settings.max_tx_bytes
    body = await bounded_body(request, limit)

    def admit() -> Receipt:  # off the event loop: parsing 40 kB is not free
        reading_tx(body, max_bytes=limit)
        try:
            return svc.submit_raw(body)
        except ReplayedTransaction as exc:
            found = committed_receipt(svc.node.store, exc.tx_id)
            if found is None:
                raise
            return found

    return receipt_response(await run_in_threadpool(admit), response)


@router.get("/api/devices/readings/{tx_id}/epcis",
            summary="A committed reading batch as an EPCIS 2.0 document (sensorElementList)",
            response_model=None, responses=answer(s.EpcisDocument, "The document", 404))
def readings_epcis(request: Request, tx_id: TxId,
                   who: Principal = Depends(current)) -> dict[str, Any]:
    svc = service_of(request)
    rows = svc.reads.rows("sensor_batches", 1, None, {"tx": tx_id}).items
    found = svc.node.store.txs_by_id([tx_id])
    if not rows or tx_id not in found:
        raise NotFound(f"no committed reading batch in transaction {tx_id}")
    row, raw = rows[0], found[tx_id][2]
    args = decode(envelope_bytes_of(raw)[0])["args"]
    event = readings_to_epcis(
        row["device"], row["seq"], args["readings"],
        batches=row["batches"].split() if row["batches"] else (),
        container=row["target"] if row["kind"] == "container" else None, tx=tx_id)
    return build_document([event], sender=row["device"])
