"""HTTP statuses for the error tree: the one place a ``code`` becomes a status.

The domain errors (``supplyledger.errors``) know nothing of HTTP; this table maps each
stable ``code`` to a status, walking up the class tree so a new subclass inherits its
parent's status until it gets its own line. The web edge adds four errors of its own,
children of the same base class so they share the JSON body::

    SupplyLedgerError
    └── ApiError
        ├── Unauthenticated       no or expired session / bearer token, wrong password  401
        ├── KeyLocked             session valid but the signing key must be unlocked    401
        ├── CsrfFailed            cookie-authenticated write without the form's token   403
        ├── NotAcceptable         asks for an EPCIS/CBV version, EPC format or media
        │                         type this server does not answer in                  406
        ├── UnsupportedMediaType  a body sent as something other than JSON             415
        └── RateLimited           too many login attempts, or the account is locked     429

Every error body is ``{"error": {"code", "message", "details"?}}`` (plus ``receipt`` when
the transaction was committed with a failed outcome). Bad input never gives a 5xx:
request validation errors are 422, oversized bodies 413, malformed JSON 400, a body
sent with a Content-Type other than JSON 415. A bug (an exception outside the tree) is a
500 with the same body, ``internal_error``, and a short ``reference`` in its details (a page
gets the site's error page saying it); the traceback goes to the server's log only, under
that reference, so an operator told it finds the failure. :class:`BugBoundary` answers it
inside the app's middleware (a HEAD gets no body, every answer its security headers) and
keeps the exception from the server, which would log the traceback a second time; a bug it
cannot answer (a stream that failed midway, the middleware itself) still reaches the
server after the same log line.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplyledger import errors as e

__all__ = [
    "ApiError",
    "BugBoundary",
    "CsrfFailed",
    "KeyLocked",
    "NotAcceptable",
    "RateLimited",
    "Unauthenticated",
    "UnsupportedMediaType",
    "error_body",
    "install_error_handlers",
    "status_for",
]


_log = logging.getLogger(__name__)


class ApiError(e.SupplyLedgerError):
    code = "api_error"


class Unauthenticated(ApiError):
    code = "unauthenticated"


class KeyLocked(ApiError):
    code = "key_locked"


class CsrfFailed(ApiError):
    code = "csrf_failed"


class NotAcceptable(ApiError):
    code = "not_acceptable"


class UnsupportedMediaType(ApiError):
    code = "unsupported_media_type"


class RateLimited(ApiError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


_STATUS: dict[type[e.SupplyLedgerError], int] = {
    e.SupplyLedgerError: 400,
    e.EncodingError: 400,
    e.ValidationError: 422,
    e.PayloadTooLarge: 413,
    e.CryptoError: 400,
    e.InvalidSignature: 401,
    e.KeyFileError: 401,
    e.DecryptionError: 403,
    e.TransactionRejected: 422,
    e.UnknownSigner: 401,
    e.RevokedKey: 403,
    e.ReplayedTransaction: 409,
    e.ContractError: 422,
    e.UnknownContract: 404,
    e.UnknownMethod: 404,
    e.RoleDenied: 403,
    e.Forbidden: 403,
    e.AccessDenied: 403,
    e.NotFound: 404,
    e.AlreadyExists: 409,
    e.InvalidState: 409,
    e.InsufficientFunds: 409,
    e.ProofError: 422,
    e.SolverError: 422,
    e.StoreError: 500,  # the only 5xx: the node itself failed
    e.LedgerInUse: 409,  # another process writes this ledger: stop it or use its API
    e.NotRepairable: 409,
    e.NodeError: 503,
    Unauthenticated: 401,
    KeyLocked: 401,
    CsrfFailed: 403,
    NotAcceptable: 406,
    UnsupportedMediaType: 415,
    RateLimited: 429,
}


def status_for(err: e.SupplyLedgerError | type[e.SupplyLedgerError]) -> int:
    cls = err if isinstance(err, type) else type(err)
    for klass in cls.__mro__:
        if klass in _STATUS:
            return _STATUS[klass]
    return 400


def status_for_code(code: str) -> int:
    """Status of an error known only by its code (a failed receipt's ``error.code``)."""
    if code == "contract_bug":
        return 422
    return status_for(type(e.error_from_code(code, "")))


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


# Paths programs call (the JSON API and the EPCIS binding): errors as JSON, never pages.
_JSON_PATHS = ("/api/", "/epcis/")


def _respond(request: Request, status: int, body: dict[str, Any],
             headers: dict[str, str] | None = None) -> Response:
    """JSON for the API; for pages, the web layer's HTML rendering of the same error."""
    html = getattr(request.app.state, "html_error", None)
    if html is not None and not request.url.path.startswith(_JSON_PATHS):
        out: Response = html(request, status, body["error"])
        out.headers.update(headers or {})  # a page's 405 says what is allowed too
        return out
    return JSONResponse(body, status_code=status, headers=headers)


def _ledger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.SupplyLedgerError)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated | KeyLocked):
        headers["WWW-Authenticate"] = 'Bearer realm="supplyledger"'
    return _respond(request, status_for(exc),
                    error_body(exc.code, exc.message, exc.details or None), headers)


NOT_JSON = ("a request body is JSON: send it with Content-Type: application/json "
            "(got {})")


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if isinstance(exc.body, bytes) and exc.body:
        # FastAPI leaves a body as bytes only when its Content-Type is not JSON: the
        # arguments may be fine, the client labelled them wrongly (curl -d sends a form).
        got = request.headers.get("content-type") or "no Content-Type"
        return _respond(request, 415, error_body(UnsupportedMediaType.code,
                                                 NOT_JSON.format(got)))
    broken = next((err for err in exc.errors() if err.get("type") == "json_invalid"), None)
    if broken is not None:  # not a wrong argument: the body is not JSON at all
        at = broken.get("loc", ("", "?"))[-1]
        why = (broken.get("ctx") or {}).get("error", "invalid JSON")
        return _respond(request, 400, error_body(
            e.EncodingError.code, f"malformed JSON: {why} (at character {at})"))
    errs = exc.errors()
    problems = [{"loc": [str(p) for p in err.get("loc", ())], "message": str(err.get("msg"))}
                for err in errs]
    first = problems[0] if problems else {"loc": [], "message": "invalid request"}
    details: dict[str, Any] = {"problems": problems}
    arg = _arg_of(errs[0].get("loc", ())) if len(errs) == 1 else ""
    if arg:  # as every other refusal names its argument; several problems name none
        details = {"arg": arg, **details}
    return _respond(request, 422, error_body(
        "validation_error", f"{'.'.join(first['loc'])}: {first['message']}", details))


def _arg_of(loc: Any) -> str:
    """The argument a FastAPI location names, written as the contracts name one inside
    another (``legs[0].promised``): ``("query", "month")`` is ``month``, ``("body",
    "items", 0, "qty")`` ``items[0].qty``; a location naming only where (the whole body)
    names no argument."""
    arg = ""
    for part in tuple(loc)[1:]:
        arg += f"[{part}]" if isinstance(part, int) else f"{'.' if arg else ''}{part}"
    return arg


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI's only 400 is a body it could not parse (too deeply nested JSON, say).
    code = {400: e.EncodingError.code, 404: "not_found", 405: "method_not_allowed",
            413: "payload_too_large"}.get(exc.status_code, "http_error")
    headers = dict(getattr(exc, "headers", None) or {})
    allow = [m.strip() for m in headers.get("Allow", "").split(",") if m.strip()]
    if "GET" in allow and "HEAD" not in allow:  # every GET route answers HEAD (app.py)
        headers["Allow"] = ", ".join([*allow, "HEAD"])
    return _respond(request, exc.status_code, error_body(code, str(exc.detail)),
                    headers or None)


BUG = "the server failed on this request; its log has the details"
BUG_PAGE = ("Something went wrong on this node while answering. Its operator finds the "
            "details in the node's log under the reference {}.")


def _bug(request: Request, exc: Exception) -> Response:
    # Starlette's handler of last resort, for a bug BugBoundary did not answer (one in the
    # middleware outside it, or an app built without it). Its answer skips the middleware
    # that adds the security headers (app.py), so it adds them itself; Starlette re-raises
    # after answering, and the server logs the traceback once more.
    headers = dict(getattr(request.app.state, "security_headers", None) or {})
    return _bug_answer(request, exc, headers)


def _bug_answer(request: Request, exc: Exception, headers: dict[str, str]) -> Response:
    # Without this Starlette answers text/plain "Internal Server Error". The answer names
    # a reference the log shares, never the exception (its text may hold data).
    ref = secrets.token_hex(4)
    _log.error("internal error, reference %s: %s %s", ref, request.method,
               request.url.path, exc_info=exc)
    body = error_body("internal_error", BUG, {"reference": ref})
    if request.url.path.startswith(_JSON_PATHS):
        return JSONResponse(body, status_code=500, headers=headers)
    try:
        return _respond(request, 500, error_body(
            "internal_error", BUG_PAGE.format(ref), {"reference": ref}), headers)
    except Exception:  # rendering the page may be what fails (the database, a template)
        _log.exception("internal error, reference %s: its error page failed too", ref)
        return HTMLResponse(
            "<!doctype html><title>Something went wrong</title><h1>Something went wrong"
            f"</h1><p>{BUG_PAGE.format(ref)}</p>", status_code=500, headers=headers)


class BugBoundary:
    """Answer a bug (an exception no handler took) where it happened, as the innermost
    middleware (app.py): the answer goes out through the others, so a HEAD gets the status
    and headers only and every answer gets the security headers, and the exception stops
    here, logged once with its reference. Starlette's own handling would answer outside
    the middleware and re-raise, for the server to log the same traceback again.

    A bug after the response started (a stream that failed midway) is re-raised: only the
    server can cut a response short."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(msg: Message) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:
                raise
            # In a thread, as Starlette runs a handler: a page renders with blocking reads.
            answer = await run_in_threadpool(_bug_answer, Request(scope), exc, {})
            await answer(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _bug)
    app.add_exception_handler(e.SupplyLedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
