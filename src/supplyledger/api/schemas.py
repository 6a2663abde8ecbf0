"""What the JSON API answers, as OpenAPI schemas: one model per answer, named in each
route's ``responses`` with :func:`supplyledger.api.openapi.answer`.

They document only (the routes return their dicts as the queries build them, with no
filtering and no second validation); ``tests/api/test_review12_rest_schemas.py`` checks
every documented answer against what a real ledger gives. Models name the fields a client
acts on and allow more, so a field added later is not a breaking change. Lists are pages:
``items`` and the opaque ``next_cursor`` to pass back as ``cursor`` (null on the last page).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = [
    "AccountPage", "AuditReport", "Block", "BlockPage", "CallAnswer", "CaptureJob",
    "Captured", "ContractDoc", "ContractPage", "DispatchPlan", "EmissionsReport", "EpcisDocument",
    "EpcisQueryDocument", "Imported", "KpiReport", "LoginAnswer", "Me", "Ok",
    "OrganisationPage", "ParticipantPage", "ParticipantRecord", "Proof", "Receipt",
    "ReceiptPage", "RowPage", "SealedKey", "StateEntry", "StatePage", "Status", "TablePage",
    "TokenAnswer", "TraceEventPage", "Tx", "TxPage",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _page(item: Any, name: str, what: str) -> type[BaseModel]:
    return create_model(
        name, __base__=_Open, __doc__=f"One page of {what}.",
        items=(list[item], Field(description=what)),
        next_cursor=(str | None, Field(description="pass as `cursor` for the next page; "
                                                    "null on the last page")))


# -- auth ---------------------------------------------------------------------------------
class TokenAnswer(_Open):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    token_type: str = Field(description="always `bearer`")
    did: str
    expires: int = Field(description="Unix time (seconds) the token stops working")


class LoginAnswer(_Open):
    did: str
    csrf: str = Field(description="send as X-CSRF-Token on writes made with the cookie")
    expires: int


class Me(_Open):
    did: str
    name: str
    org: str | None
    roles: list[str]
    key_unlocked: bool = Field(description="false after a server restart until "
                                           "POST /api/auth/unlock")
    expires: int


class SealedKey(_Open):
    did: str
    format: str
    key_file_b64: str


class Ok(_Open):
    ok: bool


class Account(_Open):
    did: str
    login: str


class Imported(Account):
    pass


AccountPage = _page(Account, "AccountPage", "web accounts, by login")


# -- ledger -------------------------------------------------------------------------------
class Status(_Open):
    chain: str
    height: int
    node: str


class BlockSummary(_Open):
    height: int
    hash: str
    time: int = Field(description="milliseconds since the Unix epoch")
    tx_count: int
    proposer: str
    prev: str


class TxSummary(_Open):
    id: str
    height: int
    index: int
    signer: str
    contract: str
    method: str
    ok: bool
    error: dict[str, Any] | None = Field(None, description="{code, message, details?} of "
                                                           "a failed call; absent if ok")


class Receipt(_Open):
    tx: str
    height: int
    index: int
    ok: bool
    result: Any = Field(None, description="the method's result (when ok)")
    error: dict[str, Any] | None = Field(None, description="{code, message, details?} "
                                                           "(when not ok)")


class Block(_Open):
    height: int
    hash: str
    header: dict[str, Any]
    signature: str = Field(description="the proposer's signature, base64")
    txs: list[TxSummary]


class Tx(TxSummary):
    envelope: dict[str, Any] = Field(description="chain, contract, method, args, signer, "
                                                 "nonce, time: what was signed")
    signature: str = Field(description="base64")
    receipt: dict[str, Any]


class Proof(_Open):
    format: str
    tx: dict[str, Any]
    receipt: dict[str, Any]
    block: dict[str, Any]


class StateEntry(_Open):
    key: str
    value: Any


BlockPage = _page(BlockSummary, "BlockPage", "blocks, newest first")
TxPage = _page(TxSummary, "TxPage", "transactions, newest first")
ReceiptPage = _page(Receipt, "ReceiptPage", "receipts, newest first")
StatePage = _page(StateEntry, "StatePage", "state entries, by key")


# -- contracts ----------------------------------------------------------------------------
class MethodDoc(_Open):
    contract: str
    method: str
    doc: str
    roles: list[str] = Field(description="roles that may call it; ['*'] = any participant")
    machines: bool = Field(description=(
        "whether a machine key (a member whose roles are only device or node) may sign it "
        "under identity rules v3: a method of roles ['*'] only if open to machines (e.g. a "
        "key's own rotation), any other only if it names device or node (e.g. "
        "sensors.record); under earlier identity rules roles alone decide"))
    errors: list[str]
    args: dict[str, Any] = Field(description="JSON Schema of the arguments")


class ContractDoc(_Open):
    name: str
    doc: str
    methods: list[MethodDoc]
    tables: list[str]


class CallAnswer(_Open):
    receipt: Receipt


ContractPage = _page(ContractDoc, "ContractPage", "contracts, by name")


# -- domain -------------------------------------------------------------------------------
class Participant(_Open):
    did: str
    name: str
    org: str | None
    roles: list[str]
    status: str = Field(description="active or revoked")
    since: int


class ParticipantRow(Participant):
    fingerprint: str
    tx: str


class ParticipantRecord(Participant):
    key: str = Field(description="the current public key, base64")


class Organisation(_Open):
    id: str
    name: str
    roles: list[str] = Field(description="roles its members may hold")
    status: str
    since: int


class TraceEventRow(_Open):
    batch: str
    seq: int
    tx: str
    item: int
    height: int
    type: str
    biz_step: str | None
    disposition: str | None
    link: str | None
    event_time: str
    signer: str
    hash_id: str | None


class TableInfo(_Open):
    name: str
    contract: str
    columns: list[str]
    column_types: dict[str, str] = Field(description="each column's SQL type: what its "
                                         "filter takes (INTEGER: a whole number)")
    primary_key: list[str]
    rows: int


ParticipantPage = _page(ParticipantRow, "ParticipantPage", "participants, by id")
OrganisationPage = _page(Organisation, "OrganisationPage", "organisations, by id")
TraceEventPage = _page(TraceEventRow, "TraceEventPage", "trace events")
TablePage = _page(TableInfo, "TablePage", "projection tables, by name")
RowPage = _page(dict[str, Any], "RowPage", "rows: column name to value")


class AuditReport(_Open):
    ok: bool
    blocks: int
    txs: int
    findings: list[dict[str, Any]]
    uncovered_tables: list[dict[str, Any]]


class KpiReport(_Open):
    """Definitions in docs/kpi.md."""

    height: int
    as_of: int
    period_kind: str
    periods: list[str]
    sources: dict[str, Any]
    platforms: list[dict[str, Any]]


class EmissionsReport(_Open):
    """Method and factors in docs/kpi.md."""

    height: int
    as_of: int
    month: str
    start: int
    end: int
    method: dict[str, Any]
    factor_table: dict[str, Any]
    platforms: list[dict[str, Any]]
    totals: dict[str, Any]


class DispatchRoute(_Open):
    vehicle: str
    transporter: str = Field(description="participant id of the vehicle's transporter")
    orders: list[str] = Field(description="order ids, in the order they are delivered")
    load: float = Field(description="in the request's unit of quantity")
    distance_m: int = Field(description="great-circle legs, warehouse and back")
    departs_at: int = Field(description="ms since the Unix epoch")
    returns_at: int = Field(description="ms since the Unix epoch: the promised return")
    arrivals: list[int] = Field(description="planned arrival at each order, ms")
    co2e_g: int = Field(description="well-to-wheel CO2e the contract computes, grams")


class DispatchPlan(_Open):
    """A solved and checked dispatch plan, not recorded (``dispatch plan --json``)."""

    plan: str = Field(description="the plan id")
    platform: str
    routes: list[DispatchRoute]
    unserved: list[dict[str, str]] = Field(description="{order, reason}: open orders of "
                                           "the platform left off every route")
    ignored: list[dict[str, str]] = Field(description="{order, reason}: request entries "
                                          "no longer open when solved ([] but for a race: "
                                          "an order that is not open is refused)")
    distance_m: int
    solver_distance_m: int = Field(description="the solver's own total (plane distances)")
    co2e_g: int
    args: dict[str, Any] = Field(description="the shipments.record_plan arguments: send "
                                             "them to POST /api/dispatch/record")


# -- EPCIS --------------------------------------------------------------------------------
class EpcisDocument(_Open):
    """An EPCIS 2.0 document in JSON-LD (the standard's JSON Schema has every field)."""

    context: Any = Field(alias="@context")
    type: str
    schemaVersion: str  # the standard's spellings
    creationDate: str
    epcisBody: dict[str, Any]


class QueryResults(_Open):
    queryName: str
    resultsBody: dict[str, Any] = Field(description="{eventList: [...]}")


class QueryBody(_Open):
    queryResults: QueryResults


class EpcisQueryDocument(EpcisDocument):
    """An EPCISQueryDocument of recorded events, as captured."""

    epcisBody: QueryBody  # type: ignore[assignment]


class Captured(_Open):
    captureID: str = Field(description="the transaction id; the job is at the Location")
    height: int
    events: int
    subjects: int


class CaptureJob(_Open):
    captureID: str
    running: bool
    success: bool
    captureErrorBehaviour: str
    errors: list[dict[str, Any]]
    createdAt: str
    finishedAt: str | None
    height: int
    signer: str
    events: int
