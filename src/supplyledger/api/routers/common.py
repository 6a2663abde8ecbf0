"""Pieces every router uses: pagination parameters, the refusal of query parameters a route
does not take, strict and bounded JSON bodies and receipt responses.

A page's bounds are the app's settings (``page_default``, ``page_max``), not constants: the
routes are shared by every app, so ``limit`` is checked per request and each app's OpenAPI
document is given its own bounds (:func:`document_page_bounds`)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from supplyledger.api.auth import service_of
from supplyledger.api.errors import (
    NOT_JSON,
    UnsupportedMediaType,
    error_body,
    status_for_code,
)
from supplyledger.api.reads import typed_cursor
from supplyledger.api.settings import ApiSettings
from supplyledger.errors import PayloadTooLarge, ValidationError
from supplyledger.ledger.encoding import NotJsonConstant, RepeatedMember, strict_loads
from supplyledger.node.receipts import Receipt
from supplyledger.store.listings import decode_cursor, encode_cursor

__all__ = ["ANY_QUERY", "Cursor", "Limit", "StrictJsonRoute", "bounded_body", "declared_query",
           "document_page_bounds", "in_range", "page_of", "receipt_response", "strict_json"]

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


_PAGE_SIZE = "page size, 1 to {most} (default {default})"
_PAGE_PARAMS = ("limit", "perPage")  # the JSON API's lists; the EPCIS binding's queries


def _limit(request: Request, limit: Annotated[int | None, Query(
        ge=1, description=_PAGE_SIZE.format(most="the server's page maximum",
                                             default="the server's page default"))] = None,
           ) -> int | None:
    """The page size asked for, refused (422) above this server's page maximum: the
    store would refuse it anyway, as an error of its own rather than the client's."""
    most = service_of(request).settings.page_max
    if limit is not None and limit > most:
        raise ValidationError(f"limit: at most {most} rows a page (got {limit})",
                              arg="limit", max=most)
    return limit


Limit = Annotated[int | None, Depends(_limit)]
Cursor = Annotated[str | None, Query(max_length=2048,
                                     description="next_cursor of the previous page"),
                   AfterValidator(in_range)]


def page_of(names: list[str], limit: int | None, cursor: str | None,
            default: int) -> tuple[list[str], str | None]:
    """One page of a short list held in memory (contracts, tables), paged like the store's
    lists: ``names`` sorted and unique, the cursor the last name of the page before."""
    typed_cursor(cursor, str)
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rest = [n for n in names if after is None or n > after]
    n = limit or default
    return rest[:n], encode_cursor([rest[n - 1]]) if len(rest) > n else None


def document_page_bounds(doc: dict[str, Any], settings: ApiSettings) -> None:
    """Write this app's page bounds into the page-size parameters of its OpenAPI
    document ``doc`` (the routes' own description cannot know them)."""
    text = _PAGE_SIZE.format(most=settings.page_max, default=settings.page_default)
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for p in op.get("parameters", ()) if isinstance(op, dict) else ():
                if p.get("in") != "query" or p.get("name") not in _PAGE_PARAMS:
                    continue
                p["description"] = text
                schema = p.get("schema", {})
                for branch in schema.get("anyOf", [schema]):
                    if branch.get("type") == "integer":
                        branch["maximum"] = settings.page_max


# ``openapi_extra`` of a route whose other query parameters filter columns: documents them
# (a free-form object, one parameter per column) and exempts the route from
# :func:`declared_query`.
ANY_QUERY = {"x-any-query": True, "parameters": [{
    "name": "filters", "in": "query", "required": False, "style": "form", "explode": True,
    "description": "any other parameter: column=value, rows whose column equals value",
    "schema": {"type": "object", "additionalProperties": {"type": "string"}}}]}


def _names(dep: Dependant, into: set[str]) -> set[str]:
    into.update(p.alias for p in dep.query_params)
    for sub in dep.dependencies:
        _names(sub, into)
    return into


def declared_query(request: Request) -> None:
    """Refuse a query parameter the route does not take (422), as the EPCIS binding does:
    a misspelt filter (``?contarct=trace``) silently ignored answers every row to a client
    that believes it filtered them. A parameter given twice is refused too (no route here
    takes a list): only the last would count, so ``?state=placed&state=paid`` would
    answer the paid orders alone to a client that asked for both."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise ValidationError(f"query parameter {name!r} is given more than once; it "
                                  "takes one value", arg=name)
        seen.add(name)
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or (route.openapi_extra or {}).get("x-any-query"):
        return
    known = _names(route.dependant, set())  # a few names: cheaper than caching per route
    for name in request.query_params:
        if name not in known:
            raise ValidationError(
                f"unknown query parameter {name!r}; {route.path} takes "
                f"{', '.join(sorted(known)) or 'none'}", arg=name)


# A JSON string, or one of the constants Python's json module reads: the first constant
# outside a string is the one it refused (the text before it parsed, so holds no stray quote).
_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN')


# A string (a key when a colon follows) or a brace: enough to walk a body that parsed.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?|[{}]')


def _text(body: bytes) -> str:
    return body.decode(json.detect_encoding(body), "surrogatepass")


def _second_key(text: str) -> int:
    """Where an object of ``text`` (JSON but for a repeated key) names a key again."""
    keys: list[set[str]] = []
    for m in _TOKEN.finditer(text):
        if m[0] == "{":
            keys.append(set())
        elif m[0] == "}":
            keys.pop()
        elif m[1] is not None:
            key = json.loads(m[0][:m.start(1) - m.start()])
            if key in keys[-1]:
                return m.start()
            keys[-1].add(key)
    return 0


def strict_json(body: bytes) -> Any:
    """``body`` parsed as JSON. Python's json module also reads ``NaN``, ``Infinity`` and
    ``-Infinity``, which are not JSON: those raise :class:`json.JSONDecodeError` naming the
    constant and where it is, as any other malformed body does (400 ``encoding_error``).

    So do an object naming a key twice (the module keeps the last value silently, where
    another reader of the same bytes, a proxy or a log, may take the first), bytes that
    are not text, nesting too deep to parse and a number too long to read: FastAPI would
    answer the last three with a 400 that does not say what is wrong."""
    try:
        return strict_loads(body)
    except json.JSONDecodeError:
        raise
    except NotJsonConstant as exc:
        text = _text(body)
        at = next((m.start() for m in _STRING_OR_CONSTANT.finditer(text)
                   if not m[0].startswith('"')), 0)
        raise json.JSONDecodeError(f"{exc.name} is not JSON", text, at) from None
    except RepeatedMember as exc:
        text = _text(body)
        raise json.JSONDecodeError(f"key {exc.name!r} appears twice in one object", text,
                                   _second_key(text)) from None
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not UTF-8 text", "", exc.start) from None
    except RecursionError:
        raise json.JSONDecodeError("arrays and objects nested too deeply", "", 0) from None
    except ValueError:  # the one ValueError left: an integer over Python's digit limit
        raise json.JSONDecodeError("a number has too many digits", "", 0) from None


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictJsonRoute(APIRoute):
    """The route class of every router whose routes take a JSON body as arguments (FastAPI
    parses it): the body is read by :func:`strict_json`, so ``{"amount": NaN}`` is refused
    as malformed JSON (400) rather than reaching the arguments' checks (422)."""

    def get_route_handler(self) -> Endpoint:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handle(_StrictJsonRequest(request.scope, request.receive))

        return route


def json_content(request: Request) -> None:
    """A body the route reads itself must not say it is something other than JSON (one
    sent with no Content-Type is read as JSON: signed transaction bytes, as programs and
    devices send them)."""
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    if media and media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType(NOT_JSON.format(ctype))


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request body (JSON, see :func:`json_content`), refused as soon as it passes
    ``limit`` bytes (never buffered whole when a client sends more, whatever its
    Content-Length says)."""
    json_content(request)
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
