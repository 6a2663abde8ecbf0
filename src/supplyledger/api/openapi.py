"""The error side of the OpenAPI document: every documented error is the project's error
body, and each operation lists the errors it can give.

FastAPI documents one error, a 422 in its own ``{"detail": [...]}`` shape, while every error
here is ``{"error": {"code", "message", "details"?}}`` (``api/errors.py``). ``install(app)``
amends the document once, when it is first built:

* FastAPI's 422 schema becomes :class:`ErrorBody`;
* operations behind a login (``current`` and ``writer`` declare the bearer and session
  schemes, so FastAPI marks them with ``security``) list 401, and those that write list
  403 as well, which a cookie-borne write without its CSRF token gets;
* operations that read a JSON body list 400 (malformed JSON), 413 (over the limit) and
  415 (a body sent as something other than JSON).

These follow from how an operation is built, so they are derived from the document rather
than repeated on every route; errors that depend on what an operation does (404 for an
unknown id, 409 for a replay, 429 for logins) are declared on the route with
:func:`errors`, and the body of a success with :func:`answer` (models in ``api/schemas.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from supplyledger.api.routers.common import document_page_bounds

__all__ = ["ErrorBody", "answer", "errors", "install"]

_REF = "#/components/schemas/"
_SAFE = frozenset({"get", "head", "options"})


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. not_found")
    message: str = Field(description="what went wrong, for people")
    details: dict[str, Any] | None = Field(None, description="typed facts, e.g. the argument")


class ErrorBody(BaseModel):
    """Every error response of the API."""

    error: ErrorDetail
    receipt: dict[str, Any] | None = Field(
        None, description="present when the contract refused a committed transaction: "
                          "the failed call is on the ledger with this receipt")


WHY: dict[int, str] = {
    400: "Malformed JSON or request body",
    401: "Not logged in, session expired, key locked, or a bad signature or password",
    403: "Not allowed: missing role, CSRF token, revoked key or no access grant",
    404: "No such item (unknown id, contract, method, table or batch)",
    406: "Asks for a version, format or media type this server does not serve",
    409: "Conflicts with the ledger: already exists, replayed, wrong state or funds",
    413: "Request body over the size limit",
    415: "Request body not sent as JSON (Content-Type application/json)",
    422: "Invalid arguments, or refused by the contract (with its receipt when recorded)",
    429: "Too many login attempts, or the account is locked (see Retry-After)",
    503: "The node could not commit the transaction in time",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error body and what it means."""
    return {s: {"model": ErrorBody, "description": WHY[s]} for s in statuses}


def answer(model: Any, what: str, *statuses: int,
           status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose success body ``model`` documents (with
    ``response_model=None``: the route returns its dict as it is), and its errors."""
    return {status: {"model": model, "description": what}, **errors(*statuses)}


def _add(op: dict[str, Any], status: int) -> None:
    op.setdefault("responses", {}).setdefault(str(status), {
        "description": WHY[status],
        "content": {"application/json": {"schema": {"$ref": _REF + "ErrorBody"}}}})


def _amend(doc: dict[str, Any]) -> None:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template=_REF + "{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for ops in doc.get("paths", {}).values():
        for method, op in ops.items():
            bad = op.get("responses", {}).get("422", {}).get("content", {}).get(
                "application/json", {})
            if bad.get("schema", {}).get("$ref") == _REF + "HTTPValidationError":
                bad["schema"] = {"$ref": _REF + "ErrorBody"}
                op["responses"]["422"]["description"] = WHY[422]
            if op.get("security"):
                _add(op, 401)
                if method not in _SAFE:
                    _add(op, 403)
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                for status in (400, 413, 415):
                    _add(op, status)
            op["responses"] = dict(sorted(op.get("responses", {}).items()))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, now unused
        if _REF + name not in repr(doc):
            schemas.pop(name, None)


def install(app: FastAPI) -> None:
    """Amend ``app``'s OpenAPI document each time FastAPI (re)builds it."""
    build = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        doc = build()  # FastAPI's cached document, or a new one when the routes changed
        if not done or done[0] is not doc:
            _amend(doc)
            document_page_bounds(doc, app.state.service.settings)  # this app's, not a constant
            done[:] = [doc]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
