"""Domain reads: participants, organisations, trace events and views, recall, projection
tables; and the audit.

The trace and recall answers are documented by models (``TraceAnswer``, ``RecallAnswer``)
that name the fields clients act on, including what trace rules v4 added: ``withdrawn``
and each event's ``error_declaration`` and ``declared_wrong``. They document only: the
answers are returned as the queries build them, with more fields than the models name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of, writer
from supplyledger.api.openapi import answer, errors
from supplyledger.api.routers.common import ANY_QUERY, Cursor, Limit, declared_query, page_of
from supplyledger.api.service import Principal
from supplyledger.errors import ValidationError

__all__ = ["router"]

router = APIRouter(tags=["domain"], dependencies=[Depends(declared_query)])
Name = Annotated[str | None, Query(max_length=128)]
Batch = Annotated[str, Query(min_length=1, max_length=300,
                                    description="batch id (Digital Link or URN) or lot number")]
_RESERVED = frozenset({"limit", "cursor"})


def _role_lists(page: dict[str, Any]) -> dict[str, Any]:
    """Roles as a list, as in a participant's or organisation's own record (the table
    keeps them comma-joined, which a client would have to split, or match as text)."""
    for row in page["items"]:
        row["roles"] = [r for r in (row.get("roles") or "").split(",") if r]
    return page


@router.get("/api/participants", summary="Participants, filterable by org, role, status",
            response_model=None, responses=answer(s.ParticipantPage, "A page of participants"))
def participants(request: Request, limit: Limit = None, cursor: Cursor = None,
                 org: Name = None, role: Name = None, status: Name = None,
                 who: Principal = Depends(current)) -> dict[str, Any]:
    filters = {k: v for k, v in (("org", org), ("status", status)) if v is not None}
    # An empty role filters too (it matches nothing), as an empty org does (it matches the
    # participants without one): skipped, it answered every participant to ``?role=`` as
    # though it had filtered them.
    return _role_lists(service_of(request).reads.rows(
        "participants", limit, cursor, filters,
        contains={"roles": role} if role is not None else None).to_dict())


@router.get("/api/participants/{did}", summary="One participant's ledger record",
            response_model=None, responses=answer(s.ParticipantRecord, "Its record", 404))
def participant(request: Request, did: Annotated[str, Path(min_length=1, max_length=128)],
                who: Principal = Depends(current)) -> dict[str, Any]:
    return service_of(request).reads.state(f"identity/p/{did}")["value"]  # type: ignore[no-any-return]


@router.get("/api/organisations", summary="Organisations, filterable by role",
            response_model=None, responses=answer(s.OrganisationPage,
                                                  "A page of organisations"))
def organisations(request: Request, limit: Limit = None, cursor: Cursor = None,
                  role: Name = None, who: Principal = Depends(current)) -> dict[str, Any]:
    return _role_lists(service_of(request).reads.rows(
        "organisations", limit, cursor,
        contains={"roles": role} if role is not None else None).to_dict())


@router.get("/api/trace/events", summary="Recorded trace events, filterable",
            response_model=None, responses=answer(s.TraceEventPage, "A page of events"))
def trace_events(request: Request, limit: Limit = None, cursor: Cursor = None,
                 batch: Name = None, signer: Name = None, biz_step: Name = None,
                 who: Principal = Depends(current)) -> dict[str, Any]:
    filters = {k: v for k, v in (("batch", batch), ("signer", signer),
                                 ("biz_step", biz_step)) if v is not None}
    return service_of(request).reads.rows("trace_events", limit, cursor, filters).to_dict()


Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=1000)]


class Withdrawn(BaseModel):
    """A genealogy link or unpacking an EPCIS error declaration withdrew (trace rules v4):
    the event that made it was declared wrong, so trace and recall no longer follow it."""

    what: Literal["link", "unpacking"]
    src: str = Field(description="a link's source; an unpacking's child (taken out)")
    dst: str = Field(description="a link's destination; an unpacking's parent")
    tx: str = Field(description="the transaction that recorded the event declared wrong "
                                "(the event that made it)")


class TraceEvent(BaseModel):
    """One event of the genealogy, in ledger order, with what verifying it found."""

    model_config = ConfigDict(extra="allow")
    batch: str
    seq: int
    tx: str
    item: int = Field(description="the event's index in its transaction")
    height: int
    type: str
    biz_step: str
    link: str = Field(description="supply-chain link: production, processing, transport …")
    event_time: str
    signer: str
    hash_id: str = Field(description="CBV 2.0 event hash; an error declaration has the hash "
                                     "of the event it declares wrong")
    error_declaration: bool = Field(description="this event is an EPCIS error declaration")
    declared_wrong: bool = Field(description="an error declaration in this genealogy says "
                                             "this event was wrong")
    faults: list[dict[str, Any]] = Field(description="{kind, reason} of each fault found; a "
                                         "changed row's (kind row) also ledger: {column: "
                                         "the ledger's value} of the columns that differ")


class TraceAnswer(BaseModel):
    """A batch's genealogy (ids, nearest first) and one page of its events."""

    model_config = ConfigDict(extra="allow")
    batch: str
    upstream: list[str]
    downstream: list[str]
    events_total: int
    page: int
    page_size: int
    pages: int
    events: list[TraceEvent]
    faults: list[dict[str, Any]] = Field(description="every fault of the genealogy, by block")
    faulty_link: dict[str, Any] | None = Field(description="the first fault, or null")
    withdrawn: list[Withdrawn] = Field(description="links and unpackings met but not "
                                                   "followed (trace rules v4); [] if none")


class RecallAnswer(BaseModel):
    """What a recall of a batch reaches: one page of lots, units, shipments and objects."""

    model_config = ConfigDict(extra="allow")
    batch: str
    total: int
    page: int
    page_size: int
    pages: int
    counts: dict[str, int] = Field(description="lot, logistic_unit, shipment, object")
    affected: list[dict[str, Any]] = Field(description="{kind, id, …}; a lot also with its "
                                                       "quantity, owner and custodian")
    withdrawn: list[Withdrawn] = Field(description="links and unpackings met but not "
                                                   "followed (trace rules v4); [] if none")


def _answer(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    # Documents the 200 body; the route returns the query's dict as it is (no filtering).
    return {200: {"model": model, "description": what}, **errors(404)}


@router.get("/api/trace",
            summary="A batch's genealogy and events, each verified; the faulty link",
            response_model=None, responses=_answer(TraceAnswer, "The genealogy and a page "
                                                   "of its events"))
def trace(request: Request, batch: Batch, page: Page = 1, page_size: PageSize = 50,
          who: Principal = Depends(current)) -> dict[str, Any]:
    return service_of(request).trace(batch, page=page, page_size=page_size)


@router.get("/api/recall",
            summary="Every lot, logistic unit, shipment and holder a recall must reach",
            response_model=None, responses=_answer(RecallAnswer, "A page of what the "
                                                   "recall reaches"))
def recall(request: Request, batch: Batch, page: Page = 1, page_size: PageSize = 50,
           who: Principal = Depends(current)) -> dict[str, Any]:
    return service_of(request).recall(batch, page=page, page_size=page_size)


@router.get("/api/tables", summary="Projection (query) tables of every contract",
            response_model=None, responses=answer(s.TablePage, "Every table"))
def tables(request: Request, limit: Limit = None, cursor: Cursor = None,
           who: Principal = Depends(current)) -> dict[str, Any]:
    svc = service_of(request)
    reads = svc.reads
    names, nxt = page_of(sorted(reads.tables), limit, cursor, svc.settings.page_default)
    return {"items": [{"name": n, "contract": reads.tables[n][0],
                       "columns": list(reads.tables[n][1].column_names),
                       "column_types": dict(reads.tables[n][1].columns),
                       "primary_key": list(reads.tables[n][1].primary_key),
                       "rows": reads.count(n)} for n in names], "next_cursor": nxt}


@router.get("/api/tables/{name}",
            summary="Rows of a projection table; any other query parameter filters a column",
            description="Each filter is an equality typed by its column (`/api/tables` "
            "gives each table's `column_types`): an INTEGER column takes a whole number, a "
            "yes/no flag 1 or 0 (anything else is a 422 naming the column); an empty value "
            "matches the rows with no value in it (`orders?delivered_at=`: not yet "
            "delivered).",
            openapi_extra=ANY_QUERY, response_model=None,
            responses=answer(s.RowPage, "A page of rows", 404))
def table_rows(request: Request, name: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")],
               limit: Limit = None, cursor: Cursor = None,
               who: Principal = Depends(current)) -> dict[str, Any]:
    filters = {k: v for k, v in request.query_params.items() if k not in _RESERVED}
    long = next((k for k, v in filters.items() if len(v) > 512), None)
    if long is not None:
        raise ValidationError(f"{long}: filter values are at most 512 characters", arg=long)
    return service_of(request).reads.rows(name, limit, cursor, filters).to_dict()


@router.post("/api/audit", summary="Re-check the whole ledger from genesis (admins, "
             "auditors)", response_model=None, responses=answer(s.AuditReport, "Its report"))
async def audit(request: Request, who: Principal = Depends(writer)) -> dict[str, Any]:
    report = await run_in_threadpool(service_of(request).audit, who)
    return report.to_dict()


@router.get("/api/audit", summary="The last audit's report on this node (null if none)",
            response_model=None, responses=answer(
                s.AuditReport | None, "The report, or null"))
def last_audit(request: Request, who: Principal = Depends(current)) -> dict[str, Any] | None:
    report = service_of(request).last_audit
    return None if report is None else report.to_dict()
