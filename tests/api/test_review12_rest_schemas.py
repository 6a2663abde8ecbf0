"""Review 12, the REST API as an integrator meets it: what ``/openapi.json`` says a success
answers is what it answers.

Every GET operation documented its 200 body as "an object" (FastAPI's schema of
``dict[str, Any]``), so a client generated from the document knew no field of any answer,
and nothing kept the documentation and the answers together. Each operation now names its
answer (``api/schemas.py``); here the real answers of a ledger holding one of everything
(blocks, a captured EPCIS document, a device's reading batch, an audit) are validated
against the documented schemas, and a GET added later without an example here fails.
The lists of participants and organisations gave their roles as one comma-joined string,
where a participant's own record gives a list; both are lists now.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import pytest

from supplyledger.api.links import LINKS, build_event
from supplyledger.ingest.device import DeviceClient
from supplyledger.ledger.crypto import generate
from supplyledger.node.service import wall_clock_ms

from .conftest import CHAIN, World, bearer

pytestmark = pytest.mark.anyio
_REF = "#/components/schemas/"
NOT_JSON = ("/api/events", "/metrics")  # an endless event stream; Prometheus text


def epcis_document(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": list(events)}}


def _reading_batch(world: World) -> str:
    """A data logger bound to the world's batch sends one signed batch of readings."""
    key = generate("ed25519")
    world.ok("admin", "identity", "register_org", {"id": "loggers", "name": "Loggers",
                                                   "roles": ["device"]})
    world.ok("admin", "identity", "register_member", {
        "org": "loggers", "public_key": key.public.b64, "name": "Logger", "roles": ["device"]})
    world.ok("admin", "sensors", "register_device", {"device": key.did})
    world.ok("mill", "sensors", "bind", {"device": key.did, "kind": "batch",
                                         "target": world.batch})
    now = wall_clock_ms()  # after the binding: a reading is taken, then signed
    tx = DeviceClient(key, CHAIN, clock=lambda: now + 1).sign([{"t": now, "temp": 4000}])
    r = world.node.submit(tx.raw).result(30)
    assert r.ok, r.error
    return tx.id


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for({**schema, "components": doc["components"]})


def _names_fields(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """The schema is a documented model (or that or null), not a bare object."""
    options = schema.get("anyOf", [schema])
    refs = [o["$ref"] for o in options if "$ref" in o]
    return bool(refs) and all(
        doc["components"]["schemas"][r.removeprefix(_REF)].get("properties") for r in refs)


def _check(doc: dict[str, Any], path: str, verb: str, r: httpx.Response) -> None:
    assert r.status_code < 300, (path, r.status_code, r.text[:300])
    content = doc["paths"][path][verb]["responses"][str(r.status_code)]["content"]
    schema = content["application/json"]["schema"]
    assert _names_fields(doc, schema), (path, schema)
    problems = [f"{list(e.instance_path)}: {e.message[:200]}"
                for e in _validator(doc, schema).iter_errors(r.json())]
    assert not problems, (path, problems[:5])


async def test_every_get_answers_what_its_schema_documents(client: httpx.AsyncClient,
                                                           world: World) -> None:
    mill, admin = await bearer(client, "mill"), await bearer(client, "admin")
    doc = (await client.get("/openapi.json")).json()
    r = await client.post("/epcis/capture", headers=mill, json=epcis_document(
        build_event(LINKS["storage"], batch=world.batch, time_ms=wall_clock_ms())))
    _check(doc, "/epcis/capture", "post", r)
    capture = r.json()["captureID"]
    _check(doc, "/api/audit", "post", await client.post("/api/audit", headers=admin))
    readings = _reading_batch(world)
    tx = world.service.reads.txs(1, None, contract="products").items[0]["id"]
    urls = {
        "/api/auth/me": "/api/auth/me", "/api/auth/key": "/api/auth/key",
        "/api/accounts": "/api/accounts?limit=2", "/api/status": "/api/status",
        "/api/blocks": "/api/blocks?limit=3", "/api/blocks/{height}": "/api/blocks/1",
        "/api/tx": "/api/tx", "/api/tx/{tx_id}": f"/api/tx/{tx}",
        "/api/tx/{tx_id}/receipt": f"/api/tx/{tx}/receipt",
        "/api/tx/{tx_id}/proof": f"/api/tx/{tx}/proof", "/api/receipts": "/api/receipts",
        "/api/state": "/api/state?prefix=identity/", "/api/state/{key}":
        "/api/state/identity/o/mill", "/api/contracts": "/api/contracts",
        "/api/contracts/{contract}": "/api/contracts/trace",
        "/api/participants": "/api/participants",
        "/api/participants/{did}": f"/api/participants/{world.did('mill')}",
        "/api/organisations": "/api/organisations", "/api/trace/events": "/api/trace/events",
        "/api/trace": "/api/trace?batch=L20260101", "/api/recall": "/api/recall?batch=L20260101",
        "/api/tables": "/api/tables", "/api/tables/{name}": "/api/tables/batches?lot=L20260101",
        "/api/audit": "/api/audit", "/api/kpi": "/api/kpi?period=current",
        "/api/emissions": "/api/emissions?month=2026-01",
        "/api/devices/readings/{tx_id}/epcis": f"/api/devices/readings/{readings}/epcis",
        "/epcis/capture/{captureID}": f"/epcis/capture/{capture}",
        "/epcis/events": "/epcis/events",
        "/api/credit/exposure": f"/api/credit/exposure?financier={world.did('mill')}",
        # No financier assesses anyone in this world: tests/web/test_review21_financier.py.
        "/api/credit/assessments/{did}": "",
        "/epcis/epcs/{epc}/events": "/epcis/epcs/L20260101/events",
    }
    gets = [p for p, ops in doc["paths"].items() if "get" in ops and p not in NOT_JSON]
    assert sorted(gets) == sorted(urls)  # a new GET needs an example answer here
    for path in (p for p in gets if urls[p]):
        _check(doc, path, "get", await client.get(urls[path], headers=admin))


async def test_login_and_call_answers_match_their_schemas(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    body = {"login": "admin", "password": "admin-pass-1"}
    _check(doc, "/api/auth/token", "post", await client.post("/api/auth/token", json=body))
    r = await client.post("/api/auth/login", json=body)
    _check(doc, "/api/auth/login", "post", r)
    csrf = {"X-CSRF-Token": r.json()["csrf"]}
    r = await client.post("/api/contracts/identity/register_org", headers=csrf,
                          json={"id": "farm", "name": "Farm", "roles": ["supplier"]})
    _check(doc, "/api/contracts/{contract}/{method}", "post", r)
    _check(doc, "/api/auth/logout", "post", await client.post("/api/auth/logout",
                                                              headers=csrf))


async def test_listed_roles_are_lists_as_in_the_record(client: httpx.AsyncClient,
                                                       world: World) -> None:
    b = await bearer(client, "driver")
    [listed] = (await client.get("/api/participants?org=mill", headers=b)).json()["items"]
    one = (await client.get(f"/api/participants/{world.did('mill')}", headers=b)).json()
    assert listed["roles"] == one["roles"] == ["manufacturer", "warehouse"]
    orgs = (await client.get("/api/organisations?role=platform", headers=b)).json()["items"]
    record = (await client.get("/api/state/identity/o/shop", headers=b)).json()["value"]
    assert {o["id"]: o["roles"] for o in orgs if o["id"] != "consortium"} == {
        "shop": record["roles"]} and record["roles"] == ["customer", "platform"]
