"""Pieces every router uses: pagination parameters, bounded bodies and receipt responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from supplyledger.api.errors import error_body, status_for_code
from supplyledger.errors import PayloadTooLarge
from supplyledger.node.receipts import Receipt

__all__ = ["Cursor", "Limit", "bounded_body", "receipt_response"]

Limit = Annotated[int | None, Query(ge=1, le=500, description="page size (default 50)")]
Cursor = Annotated[str | None, Query(max_length=2048,
                                     description="next_cursor of the previous page")]


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (never buffered
    whole when a client sends more, whatever its Content-Length says)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"transaction is over the {limit}-byte limit",
                                  size=len(raw), limit=limit)
    return bytes(raw)


def receipt_response(receipt: Receipt, response: Response) -> Any:
    """A committed transaction: 200 with its receipt, or — when the contract refused it —
    the status of its error code with the receipt alongside (it is on the ledger)."""
    doc = receipt.to_dict()
    if receipt.ok:
        return {"receipt": doc}
    err = receipt.error or {"code": "contract_error", "message": "failed"}
    body = error_body(str(err.get("code")), str(err.get("message")), err.get("details"))
    body["receipt"] = doc
    return JSONResponse(body, status_code=status_for_code(str(err.get("code"))))
