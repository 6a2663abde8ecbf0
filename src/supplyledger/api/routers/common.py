"""Pieces every router uses: pagination parameters, bounded bodies and receipt responses."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

from supplyledger.api.errors import error_body, status_for_code
from supplyledger.errors import PayloadTooLarge
from supplyledger.node.receipts import Receipt

__all__ = ["Cursor", "Limit", "bounded_body", "in_range", "receipt_response"]

_INT64 = 2 ** 63


def in_range(cursor: str | None) -> str | None:
    """Refuse a cursor holding an integer SQLite cannot bind (a forged one: ours hold
    heights and row positions), which would otherwise surface as a 500. Anything else
    passes to the store, which checks the rest of its shape."""
    if cursor:
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except ValueError:
            return cursor
        if isinstance(key, list) and any(isinstance(v, int) and not -_INT64 <= v < _INT64
                                         for v in key):
            raise ValueError("the cursor is not one this server issued")
    return cursor


Limit = Annotated[int | None, Query(ge=1, le=500, description="page size (default 50)")]
Cursor = Annotated[str | None, Query(max_length=2048,
                                     description="next_cursor of the previous page"),
                   AfterValidator(in_range)]


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
