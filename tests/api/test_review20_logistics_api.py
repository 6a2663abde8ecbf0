"""Review 20: an integrator's walk through the logistics REST API and live updates.

What tripped a warehouse system and its data loggers: a browser reconnecting to the live
stream was sent again the blocks it had shown (the URL's ``from_height`` beat the
``Last-Event-ID`` it resent), a ``Last-Event-ID`` that is no height was ignored (a live-only
stream instead of the replay asked for), ``/api/kpi?period=2026-13`` named a ``month``
argument the route does not take, and the device endpoint's OpenAPI left out the 404 it
answers for a logger never registered with ``sensors.register_device``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from supplyledger.ingest.device import HTTP_PATH, DeviceClient
from supplyledger.ledger.crypto import generate
from supplyledger.node.service import wall_clock_ms

from .conftest import CHAIN, World, bearer

pytestmark = pytest.mark.anyio


def _ids(text: str) -> list[int]:
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


async def test_a_reconnection_resumes_after_its_last_event_id(
        client: httpx.AsyncClient) -> None:
    b = await bearer(client, "mill")
    # The web UI opens /api/events?from_height=N; its browser reconnects to the same URL
    # with the id of the last event it got: it must go on from there, not from N again.
    r = await client.get("/api/events?from_height=0&max_events=2",
                         headers={**b, "Last-Event-ID": "4"})
    assert r.status_code == 200 and _ids(r.text) == [5, 6]
    r = await client.get("/api/events?from_height=0&max_events=2", headers=b)
    assert _ids(r.text) == [0, 1]  # no Last-Event-ID: from_height
    doc = json.loads(next(line[6:] for line in r.text.splitlines()
                          if line.startswith("data: ")))
    assert set(doc) == {"height", "hash", "time", "tx_count"}  # as the README says


@pytest.mark.parametrize("bad", ["abc", "-1", "1e3", "+4", str(2**53)])
async def test_a_last_event_id_that_is_no_height_is_refused(
        client: httpx.AsyncClient, bad: str) -> None:
    b = await bearer(client, "mill")
    r = await client.get("/api/events?from_height=0&max_events=1",
                         headers={**b, "Last-Event-ID": bad})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["details"]["arg"] == "Last-Event-ID"
    assert "height" in err["message"]


async def test_the_events_stream_documents_its_events(client: httpx.AsyncClient) -> None:
    ok = (await client.get("/openapi.json")).json()["paths"]["/api/events"]["get"][
        "responses"]["200"]
    assert "tx_count" in ok["description"] and "end" in ok["description"]


@pytest.mark.parametrize("period", ["2026-13", "2026-W99", "0000-01"])
async def test_a_bad_kpi_period_names_the_period_parameter(
        client: httpx.AsyncClient, period: str) -> None:
    b = await bearer(client, "mill")
    r = await client.get(f"/api/kpi?period={period}", headers=b)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["arg"] == "period", r.text
    # the emissions report's parameter is the month itself, and keeps its name
    r = await client.get("/api/emissions?month=2026-13", headers=b)
    assert r.status_code == 422 and r.json()["error"]["details"]["arg"] == "month"


async def test_the_device_endpoint_answers_and_documents_a_logger_not_registered(
        client: httpx.AsyncClient, world: World) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "404" in paths[HTTP_PATH]["post"]["responses"]
    # A participant with the role device, never registered with sensors.register_device:
    # the contract refuses its batch, on the ledger, with 404 and the failed receipt.
    world.ok("admin", "identity", "register_org", {"id": "loggers", "name": "Loggers",
                                                   "roles": ["device"]})
    key = generate("ed25519")
    world.ok("admin", "identity", "register_member", {
        "org": "loggers", "public_key": key.public.b64, "name": "Logger 1",
        "roles": ["device"]})
    logger = DeviceClient(key, CHAIN, clock=wall_clock_ms)
    tx = logger.sign([{"t": wall_clock_ms() - 60_000, "temp": 4000}])
    r = await client.post(HTTP_PATH, content=tx.raw,
                          headers={"content-type": "application/json"})
    assert r.status_code == 404, r.text
    body = r.json()
    assert body["error"]["code"] == "not_found" and "register_device" in \
        body["error"]["message"]
    assert body["receipt"]["tx"] == tx.id and body["receipt"]["ok"] is False
    # docs/logistics.md: the bytes need not be canonical (the same batch, re-indented,
    # is the same transaction: its committed receipt again) ...
    again = await client.post(HTTP_PATH, content=json.dumps(json.loads(tx.raw),
                                                            indent=2).encode())
    assert again.status_code == 404 and again.json()["receipt"] == body["receipt"]
    # ... and a float is malformed JSON for the ledger (400), nothing recorded
    height = world.node.height
    floaty = tx.raw.replace(b'"temp":4000', b'"temp":4000.5')
    r = await client.post(HTTP_PATH, content=floaty)
    assert r.status_code == 400 and r.json()["error"]["code"] == "encoding_error", r.text
    assert world.node.height == height
