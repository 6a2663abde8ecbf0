"""Every contract method over HTTP: the catalogue, calls by logged-in users, and signed
transaction bytes from programs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of, writer
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import (
    Cursor,
    Limit,
    StrictJsonRoute,
    bounded_body,
    declared_query,
    page_of,
    receipt_response,
)
from supplyledger.api.service import Principal
from supplyledger.contracts.builtin.payments import MAX_AMOUNT, Amount
from supplyledger.contracts.runtime import (
    ANY_PARTICIPANT,
    MACHINE_ROLES,
    MACHINE_RULES,
    Contract,
    Method,
    role_refusal,
)
from supplyledger.contracts.schema import Arg, Enum, Int, List, Obj, Str

__all__ = ["arg_schema", "method_doc", "router"]

router = APIRouter(tags=["contracts"], dependencies=[Depends(declared_query)],
                   route_class=StrictJsonRoute)
Ident = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


def arg_schema(spec: Arg) -> dict[str, Any]:
    """A JSON Schema fragment for one declared argument (what the form generator and
    programs need: type, bounds, choices)."""
    out: dict[str, Any]
    if isinstance(spec, Str):
        out = {"type": "string", "minLength": spec.min_len, "maxLength": spec.max_len}
        if spec.pattern:
            # The contract matches the whole value (fullmatch); a JSON Schema pattern
            # matches anywhere in it unless anchored, so a client's validator would pass
            # values the contract refuses.
            out["pattern"] = f"^(?:{spec.pattern})$"
    elif isinstance(spec, Amount):  # money: integer minor units, not "any JSON"
        out = {"type": "integer", "minimum": spec.minimum, "maximum": MAX_AMOUNT}
    elif isinstance(spec, Int):
        out = {"type": "integer", "minimum": spec.min, "maximum": spec.max}
    elif isinstance(spec, Enum):
        out = {"type": "string", "enum": list(spec.values)}
    elif isinstance(spec, List):
        out = {"type": "array", "items": arg_schema(spec.item), "minItems": spec.min_items,
               "maxItems": spec.max_items}
    elif isinstance(spec, Obj):
        out = {"type": "object"}
        if spec.fields is not None:
            out["properties"] = {k: arg_schema(v) for k, v in spec.fields.items()}
            out["required"] = [k for k, v in spec.fields.items() if not v.optional]
    elif type(spec).__name__ == "Bool":
        out = {"type": "boolean"}
    else:
        out = {}
    if spec.doc:
        out["description"] = spec.doc
    return out


def _machines(contract: str, m: Method) -> bool:
    """Whether a machine key (roles device or node only) may sign the method under the
    identity rules that restrict them, decided by the executor's own rule."""
    return any(role_refusal(contract, m, frozenset({r}), MACHINE_RULES) is None
               for r in MACHINE_ROLES)


def method_doc(contract: str, m: Method) -> dict[str, Any]:
    return {"contract": contract, "method": m.name, "doc": m.doc,
            "roles": ["*"] if ANY_PARTICIPANT in m.roles else sorted(m.roles),
            "machines": _machines(contract, m),
            "errors": list(m.errors),
            "args": {"type": "object", "additionalProperties": False,
                     "properties": {k: arg_schema(v) for k, v in m.args.items()},
                     "required": [k for k, v in m.args.items() if not v.optional]}}


def _contract_doc(name: str, c: Contract) -> dict[str, Any]:
    return {"name": name, "doc": c.doc.strip(),
            "methods": [method_doc(name, m) for m in c.methods.values()],
            "tables": [t.name for t in c.tables]}


@router.get("/api/contracts", summary="Every contract with its methods' argument schemas",
            response_model=None, responses=answer(s.ContractPage, "Every contract"))
def contracts(request: Request, limit: Limit = None, cursor: Cursor = None,
              who: Principal = Depends(current)) -> dict[str, Any]:
    svc = service_of(request)
    names, nxt = page_of(sorted(svc.contracts), limit, cursor, svc.settings.page_default)
    return {"items": [_contract_doc(n, svc.contracts[n]) for n in names], "next_cursor": nxt}


@router.get("/api/contracts/{contract}", summary="One contract", response_model=None,
            responses=answer(s.ContractDoc, "The contract", 404))
def contract(request: Request, contract: Ident,
             who: Principal = Depends(current)) -> dict[str, Any]:
    svc = service_of(request)
    m = svc.contracts.get(contract)
    if m is None:
        svc.method(contract, "_")  # raises UnknownContract
    assert m is not None
    return _contract_doc(contract, m)


@router.post("/api/contracts/{contract}/{method}",
             summary="Call a method as the logged-in user (signed with their own key)",
             response_model=None, responses=answer(
                 s.CallAnswer, "Committed: its receipt", 404, 409, 503))
def call(request: Request, response: Response, contract: Ident, method: Ident,
         args: Annotated[dict[str, Any], Body(description="the method's arguments")],
         who: Principal = Depends(writer)) -> Any:
    receipt = service_of(request).call(who, contract, method, args)
    return receipt_response(receipt, response)


_TX_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["env", "sig"], "additionalProperties": False,
        "properties": {
            "env": {"type": "object", "description": "chain, contract, method, args, signer, "
                    "nonce, time"},
            "sig": {"type": "string", "description": "base64 signature over the canonical "
                    "envelope"}}}}}}}


@router.post("/api/tx", summary="Submit a transaction signed by its author (bytes as sent)",
             openapi_extra=_TX_BODY, response_model=None,
             responses=answer(s.CallAnswer, "Committed: its receipt",
                              401, 403, 404, 409, 422, 503))
async def submit(request: Request, response: Response) -> Any:
    svc = service_of(request)
    raw = await bounded_body(request, svc.node.settings.max_tx_bytes)
    receipt = await run_in_threadpool(svc.submit_raw, raw)
    return receipt_response(receipt, response)
