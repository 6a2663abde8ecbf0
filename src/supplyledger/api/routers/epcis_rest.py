"""The EPCIS 2.0 REST binding, the subset a WMS or ERP integrator points an EPCIS client at.

``POST /epcis/capture`` captures an EPCISDocument as the logged-in user (their own key, like
``POST /api/contracts/...``): all of its events in one ``trace.record_events`` transaction,
built exactly as the CLI's import builds it (:func:`~supplyledger.node.epcis_ingest.
capture_args`), so they land in one block or not at all. The binding answers 202 with the
``Location`` of the capture job, as the standard's asynchronous capture does, but only once
the block is durable, so the job is already finished when the client looks: the transaction
id is the capture id, and the job is read back from the committed transaction and its
receipt. A document whose events fail the contract's stateless checks is refused before
signing (422 with every per-event reason, nothing on the ledger); one the contract refuses
on state (custody, say) is recorded as a failed transaction, as every refused call is, and
its job says ``success: false``.

``GET /epcis/events`` and ``GET /epcis/epcs/{epc}/events`` answer an EPCISQueryDocument of
recorded events, read back from the transactions that carry them, so hash ids are unchanged.
They take the standard query parameters that the ``trace_events`` projection can answer
(values separated by ``|`` or by repeating the parameter); any other parameter is a 422
rather than being silently ignored, as a filter a client believes applied would be.
``MATCH_epc`` and ``{epc}`` match the subject an event was recorded under (the registered
batch, or the first object it names), resolved as the trace pages resolve batches. Paging:
``perPage`` and an opaque ``nextPageToken`` (the ledger position of the last event), with a
``Link: <...>; rel="next"`` header while more follow.

Versions: every answer says what it speaks (``GS1-EPCIS-Version``, ``GS1-CBV-Version``,
their ``-Min`` and ``-Max``: 2.0.0; ``GS1-EPC-Format: Never_Translates``, events come back
with the identifiers they were captured with). A request that asks for something else (an
EPCIS or CBV version or range without 2.0.0, an EPC format that translates, an ``Accept``
without JSON) is refused with 406 rather than answered in a form it did not ask for, and a
capture asking ``GS1-Capture-Error-Behaviour: proceed`` with 422 (a document is captured
whole or not at all). ``OPTIONS /epcis/capture`` answers these headers and the capture
limits without a login.

Errors are the project's JSON error bodies, as for ``/api/`` (``api/errors.py``); a
document sent as another media type than JSON is 415, bytes that are not JSON are 400
``encoding_error`` (as on every JSON endpoint), JSON that is not a valid EPCIS document is
422 ``epcis_invalid``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of, writer
from supplyledger.api.errors import NotAcceptable, error_body, status_for_code
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import bounded_body
from supplyledger.api.service import LedgerService, Principal
from supplyledger.contracts.builtin._trace_facts import subject_id
from supplyledger.epcis import EVENT_TYPES, build_document
from supplyledger.epcis._common import CBV_WEB, utc_millis, vocab_uri
from supplyledger.errors import (
    EncodingError,
    EPCISValidationError,
    NotFound,
    RoleDenied,
    ValidationError,
)
from supplyledger.ledger.block import Header
from supplyledger.node.epcis_ingest import capture_args, load_document, raw_events
from supplyledger.node.receipts import Receipt
from supplyledger.store.epcis_rows import EventFilter, event_rows
from supplyledger.store.listings import decode_cursor, encode_cursor

__all__ = ["router"]

_QUERY_NAME = "SimpleEventQuery"
_LISTS = ("eventType", "EQ_bizStep", "EQ_disposition", "MATCH_epc")
_SINGLE = ("GE_eventTime", "LT_eventTime", "perPage", "nextPageToken")
_MAX_VALUES = 64  # values of one list parameter


# -- versions ------------------------------------------------------------------------------
VERSION = "2.0.0"  # of EPCIS and of the CBV
GS1_HEADERS = {"GS1-EPCIS-Version": VERSION, "GS1-EPCIS-Min": VERSION,
               "GS1-EPCIS-Max": VERSION, "GS1-CBV-Version": VERSION, "GS1-CBV-Min": VERSION,
               "GS1-CBV-Max": VERSION, "GS1-EPC-Format": "Never_Translates"}
_EPC_FORMATS = ("Never_Translates", "No_Preference")
_JSON_MEDIA = ("application/json", "application/ld+json", "application/*", "*/*")


def _version(text: str, header: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){0,2}", text.strip()):
        raise ValidationError(f"{header}: {text!r} is not a version such as 2.0.0",
                              arg=header)
    parts = tuple(int(p) for p in text.strip().split("."))
    return parts + (0,) * (3 - len(parts))


def _negotiate(request: Request) -> None:
    """Refuse (406) a request that asks for a version or form this server does not answer
    in, instead of answering 2.0 JSON to a client that asked for something else."""
    h = request.headers
    ours = _version(VERSION, "")
    for kind in ("EPCIS", "CBV"):
        name = f"GS1-{kind}-Version"
        if name in h and _version(h[name], name) != ours:
            raise NotAcceptable(f"{name}: this server speaks {kind} {VERSION}, not "
                                f"{h[name]}", header=name, supported=[VERSION])
        low, high = h.get(f"GS1-{kind}-Min"), h.get(f"GS1-{kind}-Max")
        if (low is not None and _version(low, f"GS1-{kind}-Min") > ours) or (
                high is not None and _version(high, f"GS1-{kind}-Max") < ours):
            raise NotAcceptable(f"this server speaks {kind} {VERSION} only, outside the "
                                f"range asked for", header=f"GS1-{kind}-Min/Max",
                                supported=[VERSION])
    fmt = h.get("GS1-EPC-Format")
    if fmt is not None and fmt.strip() not in _EPC_FORMATS:
        raise NotAcceptable(f"GS1-EPC-Format: events come back with the identifiers they "
                            f"were captured with (Never_Translates), not {fmt}",
                            header="GS1-EPC-Format", supported=list(_EPC_FORMATS))
    accept = h.get("accept")
    if accept and not any(m.split(";")[0].strip().lower() in _JSON_MEDIA
                          for m in accept.split(",")):
        raise NotAcceptable(f"answers are JSON-LD (application/ld+json or "
                            f"application/json), not {accept}", header="Accept",
                            supported=["application/json", "application/ld+json"])


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class _Gs1Route(APIRoute):
    """Puts the version headers on every answer of the binding, errors included (a client
    refused with 406 reads what the server speaks from them)."""

    def get_route_handler(self) -> Endpoint:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as exc:
                handlers = request.app.exception_handlers
                found = next((handlers[k] for k in type(exc).__mro__
                              if k in handlers and k not in (Exception, BaseException)), None)
                if found is None:  # a bug: the server's last resort answers and logs it
                    raise
                response = found(request, exc)
                if inspect.isawaitable(response):
                    response = await response
            response.headers.update(GS1_HEADERS)
            return response

        return route


router = APIRouter(prefix="/epcis", tags=["epcis"], route_class=_Gs1Route,
                   dependencies=[Depends(_negotiate)])
_ERRORS = (406,)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") \
        + f".{ms % 1000:03d}Z"


# -- capture -------------------------------------------------------------------------------
_CAPTURE_BODY = {"requestBody": {"required": True, "content": {
    media: {"schema": {"type": "object", "required": ["type", "@context", "epcisBody"],
                       "description": "an EPCISDocument (or EPCISQueryDocument) in JSON-LD"}}
    for media in ("application/ld+json", "application/json")}}}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_at_all(body: bytes) -> None:
    """Raise EncodingError (400) when ``body`` is not JSON text at all, as every other JSON
    endpoint answers; JSON that is no EPCIS document stays load_document's 422. Run only
    once load_document refused, so an accepted capture is parsed once."""
    try:
        json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise EncodingError(f"malformed JSON: {exc.msg} (at character {exc.pos})") from None
    except RecursionError:
        return  # JSON, nested deeper than a capture reads: load_document's refusal stands
    except ValueError as exc:  # not UTF-8/16/32 text, or NaN and the like
        raise EncodingError(f"malformed JSON: {exc}") from None


def _capture(svc: LedgerService, who: Principal, body: bytes) -> Receipt:
    method = svc.method("trace", "record_events")
    if method.roles.isdisjoint(who.roles):  # before the document is even read
        raise RoleDenied(f"capturing EPCIS events needs one of the roles "
                         f"{sorted(method.roles)}", required=sorted(method.roles),
                         held=sorted(who.roles))
    try:
        doc = load_document(body)
    except EPCISValidationError:
        _json_at_all(body)  # bytes that are not JSON: 400, as on every JSON endpoint
        raise
    if not isinstance(doc, dict) or doc.get("type") not in ("EPCISDocument",
                                                            "EPCISQueryDocument"):
        raise EPCISValidationError(
            "capture takes an EPCISDocument (a JSON object with type EPCISDocument)",
            errors=[{"event": None, "reason": "type: must be EPCISDocument"}])
    # svc.call runs the ledger's own stateless check (what its verifiers run) first: a
    # document refused for its events is refused before anything is signed or recorded.
    return svc.call(who, "trace", "record_events", capture_args(doc))


_BEHAVIOUR = "GS1-Capture-Error-Behaviour"


@router.post("/capture", status_code=202, openapi_extra=_CAPTURE_BODY,
             summary="Capture an EPCIS 2.0 document atomically, signed by the logged-in user",
             response_model=None, responses={**answer(
                 s.Captured, "Captured and durable; the job is at the Location header",
                 *_ERRORS, 404, 409, 422, 503, status=202)})
async def capture(request: Request, who: Principal = Depends(writer)) -> JSONResponse:
    svc = service_of(request)
    asked = request.headers.get(_BEHAVIOUR)
    if asked is not None and asked.strip().lower() != "rollback":
        raise ValidationError(f"{_BEHAVIOUR}: a document is captured whole or not at all "
                              f"(rollback); {asked!r} is not offered", arg=_BEHAVIOUR)
    body = await bounded_body(request, svc.node.settings.max_tx_bytes)
    receipt = await run_in_threadpool(_capture, svc, who, body)
    if not receipt.ok:  # refused on state: on the ledger as a failed transaction
        err = receipt.error or {"code": "contract_error", "message": "failed"}
        out = error_body(str(err.get("code")), str(err.get("message")), err.get("details"))
        out.update(captureID=receipt.tx_id, receipt=receipt.to_dict())
        return JSONResponse(out, status_code=status_for_code(str(err.get("code"))))
    return JSONResponse({"captureID": receipt.tx_id, "height": receipt.height,
                         "events": receipt.result["events"],
                         "subjects": receipt.result["subjects"]},
                        status_code=202, headers={"Location": f"/epcis/capture/{receipt.tx_id}"})


@router.options("/capture", status_code=204, include_in_schema=False)
def capture_options(request: Request) -> Response:
    """Discovery, as the binding's clients do it before capturing: what the server speaks
    (the version headers) and what a capture may hold."""
    limit = service_of(request).node.settings.max_tx_bytes
    return Response(status_code=204, headers={
        "Allow": "OPTIONS, POST", _BEHAVIOUR: "rollback",
        "GS1-EPCIS-Capture-File-Size-Limit": str(limit)})


@router.get("/capture/{captureID}", summary="A capture job: finished, with its outcome",
            response_model=None, responses=answer(s.CaptureJob, "The job", *_ERRORS, 404))
def capture_job(request: Request,
                capture_id: Annotated[str, Path(alias="captureID", max_length=128)],
                who: Principal = Depends(current)) -> dict[str, Any]:
    svc = service_of(request)
    if svc.node.store.tx_method(capture_id) != ("trace", "record_events"):
        raise NotFound(f"no capture job {capture_id}")
    tx = svc.reads.tx(capture_id)
    rec = tx["receipt"]
    errors: list[dict[str, Any]] = []
    if not rec.get("ok"):
        err = rec.get("error") or {}
        errors = list((err.get("details") or {}).get("errors") or ()) or [
            {"event": None, "code": err.get("code"), "reason": err.get("message")}]
    block = svc.node.store.block(tx["height"])
    return {"captureID": capture_id, "running": False, "success": bool(rec.get("ok")),
            "captureErrorBehaviour": "rollback", "errors": errors,
            "createdAt": _iso(int(tx["envelope"]["time"])),
            "finishedAt": _iso(Header.decode(block[1]).time) if block else None,
            "height": tx["height"], "signer": tx["signer"],
            "events": (rec.get("result") or {}).get("events", 0)}


# -- queries -------------------------------------------------------------------------------
def _values(name: str, given: list[str] | None) -> tuple[str, ...]:
    out = tuple(v.strip() for raw in given or () for v in raw.split("|") if v.strip())
    if given and not out:
        raise ValidationError(f"{name}: no value given", arg=name)
    if len(out) > _MAX_VALUES:
        raise ValidationError(f"{name}: at most {_MAX_VALUES} values", arg=name)
    return out


def _vocab(name: str, given: list[str] | None, kind: str) -> tuple[str, ...]:
    """Business steps or dispositions as the projection stores them: standard CBV terms
    bare (``shipping``, from any spelling), others as full URIs."""
    prefix = f"{CBV_WEB}{kind}-"
    out = []
    for v in _values(name, given):
        uri = vocab_uri(v, kind, {})
        if ":" not in uri:
            raise ValidationError(f"{name}: {v!r} is neither a CBV 2.0 term nor a URI",
                                  arg=name)
        out.append(uri.removeprefix(prefix))
    return tuple(out)


def _time(name: str, given: str | None) -> str | None:
    if given is None:
        return None
    t = utc_millis(given)
    if t is None:
        raise ValidationError(f"{name}: {given!r} is not an ISO 8601 date-time with a time "
                              "zone (e.g. 2024-05-01T00:00:00Z)", arg=name)
    return t


def _check_names(request: Request, *, epc_in_path: bool) -> None:
    """Refuse parameters this server does not apply, and repeated single-valued ones."""
    allowed = {*_LISTS, *_SINGLE} - ({"MATCH_epc"} if epc_in_path else set())
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in allowed:
            raise ValidationError(f"unsupported query parameter {name!r}; this server "
                                  f"supports {', '.join(sorted(allowed))}", arg=name)
        if name in _SINGLE and len(request.query_params.getlist(name)) > 1:
            raise ValidationError(f"{name} may be given once", arg=name)


def _filter(*, types: list[str] | None, since: str | None, before: str | None,
            steps: list[str] | None, dispositions: list[str] | None,
            subjects: tuple[str, ...]) -> EventFilter:
    event_types = _values("eventType", types)
    for t in event_types:
        if t not in EVENT_TYPES:
            raise ValidationError(f"eventType: {t!r} is not one of "
                                  f"{', '.join(sorted(EVENT_TYPES))}", arg="eventType")
    return EventFilter(types=event_types, since=_time("GE_eventTime", since),
                       before=_time("LT_eventTime", before),
                       steps=_vocab("EQ_bizStep", steps, "BizStep"),
                       dispositions=_vocab("EQ_disposition", dispositions, "Disp"),
                       subjects=subjects)


def _subjects(svc: LedgerService, values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subject_id(b) for v in values for b in svc.resolve_batch(v)))


def _page(request: Request, svc: LedgerService, f: EventFilter, per_page: int | None,
          token: str | None) -> JSONResponse:
    limits = svc.settings
    n = limits.page_default if per_page is None else per_page
    if not 1 <= n <= limits.page_max:
        raise ValidationError(f"perPage must be 1-{limits.page_max}", arg="perPage")
    after = None
    if token is not None:
        # One refusal naming the parameter the client sent, whatever is wrong with the
        # token (the store's own names it "cursor", a parameter this binding does not take).
        try:
            key = decode_cursor(token, 2)
        except ValidationError:
            key = []
        if len(key) != 2 or not all(isinstance(k, int) for k in key):
            raise ValidationError("nextPageToken is not one this server issued (use the "
                                  "Link header of the previous page)", arg="nextPageToken")
        after = (int(key[0]), int(key[1]))
    store = svc.node.store
    rows, more = event_rows(store.reader(), f, after, n)
    doc = build_document(raw_events(store, rows), creation_date=_iso(svc.node.clock()))
    doc["type"] = "EPCISQueryDocument"
    doc["epcisBody"] = {"queryResults": {"queryName": _QUERY_NAME,
                                         "resultsBody": doc["epcisBody"]}}
    headers = {}
    if more:
        nxt = encode_cursor([rows[-1][-1], rows[-1][3]])
        headers["Link"] = f'<{request.url.include_query_params(nextPageToken=nxt)}>; rel="next"'
    return JSONResponse(doc, headers=headers)


def _list(name: str, what: str) -> Any:
    return Query(alias=name, max_length=4096, description=f"{what}; several values "
                 "separated by | (or the parameter repeated) match any of them")


EventType = Annotated[list[str] | None, _list("eventType", "ObjectEvent, AggregationEvent, "
                                              "TransactionEvent, TransformationEvent or "
                                              "AssociationEvent")]
GeTime = Annotated[str | None, Query(alias="GE_eventTime", max_length=64,
                                     description="events at or after this time")]
LtTime = Annotated[str | None, Query(alias="LT_eventTime", max_length=64,
                                     description="events before this time")]
BizStep = Annotated[list[str] | None, _list("EQ_bizStep", "business step: CBV term "
                                            "(shipping) or URI")]
Disposition = Annotated[list[str] | None, _list("EQ_disposition", "disposition: CBV term "
                                                "(in_transit) or URI")]
PerPage = Annotated[int | None, Query(alias="perPage", ge=1, description="events per page "
                                      "(default 50, at most the server's page maximum)")]
PageToken = Annotated[str | None, Query(alias="nextPageToken", max_length=256,
                                        description="from the previous page's Link header")]


_EVENTS = answer(s.EpcisQueryDocument, "A page of events; a `Link: <...>; rel=\"next\"` "
                 "header while more follow", *_ERRORS)


@router.get("/events", summary="Recorded EPCIS events as an EPCISQueryDocument, filterable",
            response_model=None, responses=_EVENTS)
def events(request: Request, event_type: EventType = None, ge_time: GeTime = None,
           lt_time: LtTime = None, biz_step: BizStep = None, disposition: Disposition = None,
           match_epc: Annotated[list[str] | None, _list(
               "MATCH_epc", "EPC or batch the events were recorded under: URN, GS1 "
               "Digital Link or lot number")] = None,
           per_page: PerPage = None, token: PageToken = None,
           who: Principal = Depends(current)) -> JSONResponse:
    _check_names(request, epc_in_path=False)
    svc = service_of(request)
    f = _filter(types=event_type, since=ge_time, before=lt_time, steps=biz_step,
                dispositions=disposition,
                subjects=_subjects(svc, _values("MATCH_epc", match_epc)))
    return _page(request, svc, f, per_page, token)


@router.get("/epcs/{epc:path}/events",
            summary="The EPCIS events recorded for one EPC or batch (none if unknown)",
            response_model=None, responses=_EVENTS)
def epc_events(request: Request,
               epc: Annotated[str, Path(min_length=1, max_length=512,
                                        description="EPC URN, GS1 Digital Link or lot")],
               event_type: EventType = None, ge_time: GeTime = None, lt_time: LtTime = None,
               biz_step: BizStep = None, disposition: Disposition = None,
               per_page: PerPage = None, token: PageToken = None,
               who: Principal = Depends(current)) -> JSONResponse:
    _check_names(request, epc_in_path=True)
    svc = service_of(request)
    f = _filter(types=event_type, since=ge_time, before=lt_time, steps=biz_step,
                dispositions=disposition, subjects=_subjects(svc, (epc,)))
    return _page(request, svc, f, per_page, token)
