"""The EPCIS 2.0 REST binding (/epcis) against a real node: OpenEPCIS documents captured over
HTTP come back from the query endpoints with the same eventIDs and hash ids; refusals leave
the ledger file as it was (or, for a refusal on state, add only the failed transaction);
paging and every query parameter behave as the standard says."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from _rules import up_to
from supplyledger.api import create_app
from supplyledger.api.links import LINKS, build_event
from supplyledger.contracts.builtin._trace_facts import subject_id
from supplyledger.epcis import parse_document, validate_document
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.node.epcis_ingest import capture_args, load_document
from supplyledger.node.service import wall_clock_ms
from supplyledger.store.epcis_rows import EventFilter, event_rows
from supplyledger.store.listings import encode_cursor

from .conftest import World, bearer, build_world, login

DATA = Path(__file__).parents[3] / "shared" / "data" / "epcis" / "openepcis"
SENSORS = DATA / "valid" / "SensorData_with_combined_events.json"  # 13 events, 4 types
COMBINED = DATA / "valid" / "Combination_of_different_event.json"  # extension namespaces
INVALID = sorted((DATA / "invalid").glob("*.json"))
ITEM = "urn:epc:id:sgtin:4012345.011111.9876"  # the subject of 5 of SENSORS' events
LD = {"content-type": "application/ld+json"}

pytestmark = [pytest.mark.anyio,
              pytest.mark.skipif(not SENSORS.exists(), reason="OpenEPCIS documents absent")]


def _events(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    doc = r.json()
    validate_document(doc)
    assert doc["type"] == "EPCISQueryDocument"
    results = doc["epcisBody"]["queryResults"]
    assert results["queryName"] == "SimpleEventQuery"
    events: list[dict[str, Any]] = results["resultsBody"]["eventList"]
    return events


def _hashes(doc: Any) -> list[str]:
    return [e.hash_id for e in parse_document(doc).events]


def _ids(events: list[dict[str, Any]]) -> list[str | None]:
    return [e.get("eventID") for e in events]


# The samples declare wrong an event none of them holds, which trace rules v6 refuse
# (tests/trace/test_epcis_io.py): the binding is tested on ledgers under v5, which take them.
TRACE_V5 = up_to("trace", 5)


@pytest.fixture
def world(tmp_path: Path, rsa_keys: list[PrivateKey]) -> Iterator[World]:
    w = build_world(tmp_path / "ledger", rsa_keys, TRACE_V5)
    yield w
    w.node.stop()
    w.service.close()


# -- a ledger holding the two documents, for the read-only tests -----------------------------
@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory,
           rsa_keys: list[PrivateKey]) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("epcis") / "ledger", rsa_keys, TRACE_V5)
    for path in (SENSORS, COMBINED):
        w.ok("mill", "trace", "record_events", capture_args(load_document(path)))
    yield w
    w.node.stop()
    w.service.close()


@pytest.fixture
async def reader(loaded: World) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(loaded.service)),
                                 base_url="http://test") as c:
        c.headers.update(await bearer(c, "inspector"))  # any participant may read
        yield c


async def _all(c: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    return _events(await c.get(url, params={"perPage": 500}))


def _subjects(w: World) -> dict[str, str]:
    """hash id -> the subject its event was recorded under."""
    return {r[12]: r[0] for r in w.node.store.reader().execute("SELECT * FROM trace_events")}


# -- capture ---------------------------------------------------------------------------------
async def test_capture_then_read_back_unchanged(client: httpx.AsyncClient,
                                                world: World) -> None:
    b = await bearer(client, "mill")
    r = await client.post("/epcis/capture", content=SENSORS.read_bytes(), headers={**b, **LD})
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["location"] == f"/epcis/capture/{body['captureID']}"
    assert body["events"] == 13 and body["height"] == world.node.height
    job = (await client.get(r.headers["location"], headers=b)).json()
    assert job == job | {"captureID": body["captureID"], "running": False, "success": True,
                         "captureErrorBehaviour": "rollback", "errors": [], "events": 13}

    original = load_document(SENSORS)
    r = await client.get("/epcis/events", headers=b)
    events = _events(r)
    assert len(events) == 14  # the world's production event, then the document's
    assert _ids(events[1:]) == _ids(original["epcisBody"]["eventList"])
    assert _hashes(r.json())[1:] == _hashes(original)
    # The events of one EPC, named by URN (stored under its canonical Digital Link).
    mine = [r[3] for r in world.node.store.trace_rows_of_tx(body["captureID"])
            if r[0] == subject_id(ITEM)]
    r = await client.get(f"/epcis/epcs/{quote(ITEM, safe='')}/events", headers=b)
    by_epc = _events(r)
    assert len(by_epc) == len(mine) == 5
    assert _ids(by_epc) == [original["epcisBody"]["eventList"][i].get("eventID") for i in mine]
    assert _hashes(r.json()) == [_hashes(original)[i] for i in mine]


async def test_extension_namespaces_survive(reader: httpx.AsyncClient) -> None:
    original = load_document(COMBINED)
    r = await reader.get("/epcis/events", params={"perPage": 500})
    _events(r)
    assert _hashes(r.json())[-6:] == _hashes(original)
    custom = "http://example.com/ext1/summarising_discharge"  # ext1:summarising_discharge
    events = _events(await reader.get("/epcis/events", params={"EQ_bizStep": custom}))
    assert [e["bizStep"] for e in events] == ["ext1:summarising_discharge"]


async def test_refused_documents_change_nothing(client: httpx.AsyncClient,
                                                world: World) -> None:
    b = await bearer(client, "mill")
    before = world.snapshot()
    assert len(INVALID) == 15
    for path in INVALID:
        r = await client.post("/epcis/capture", content=path.read_bytes(), headers={**b, **LD})
        assert r.status_code == 422, (path.name, r.text)
        err = r.json()["error"]
        assert err["code"] == "epcis_invalid", path.name
        assert err["details"]["errors"] and all(e["reason"] for e in err["details"]["errors"])
    for bad in (b"[]", b'{"type": "ObjectEvent"}'):  # JSON, but no EPCISDocument
        r = await client.post("/epcis/capture", content=bad, headers={**b, **LD})
        assert r.status_code == 422 and r.json()["error"]["code"] == "epcis_invalid", bad
    for bad in (b"{not json", b"NaN"):  # not JSON at all: 400, as on every JSON endpoint
        r = await client.post("/epcis/capture", content=bad, headers={**b, **LD})
        assert r.status_code == 400 and r.json()["error"]["code"] == "encoding_error", bad
    assert world.snapshot() == before


async def test_wrong_role_and_missing_login(client: httpx.AsyncClient, world: World) -> None:
    before = world.snapshot()
    c = await bearer(client, "customer")  # customers do not record supply-chain events
    r = await client.post("/epcis/capture", content=SENSORS.read_bytes(), headers={**c, **LD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied"
    # Errors are JSON here (not the web UI's HTML or its login redirect).
    r = await client.post("/epcis/capture", content=SENSORS.read_bytes(), headers=LD)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = await client.get("/epcis/events")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    # A browser session must show the page's CSRF token to capture.
    csrf = await login(client, "mill")
    r = await client.post("/epcis/capture", content=SENSORS.read_bytes(), headers=LD)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert world.snapshot() == before
    r = await client.post("/epcis/capture", content=SENSORS.read_bytes(),
                          headers={**csrf, **LD})
    assert r.status_code == 202, r.text


async def test_oversized_document_is_413(client: httpx.AsyncClient, world: World) -> None:
    b = await bearer(client, "mill")
    before = world.snapshot()
    doc = load_document(SENSORS)
    events = doc["epcisBody"]["eventList"]
    limit = world.node.settings.max_tx_bytes
    while len(json.dumps(doc)) <= limit:
        events.extend(events)
    r = await client.post("/epcis/capture", content=json.dumps(doc), headers={**b, **LD})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert r.json()["error"]["details"]["limit"] == limit
    assert world.snapshot() == before


async def test_refused_on_state_is_a_failed_capture_job(client: httpx.AsyncClient,
                                                        world: World) -> None:
    # The lab may inspect the mill's wheat but not store it: the ledger refuses the
    # document on custody, records the failed transaction and keeps none of its events.
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": [
               build_event(LINKS["inspection"], batch=world.batch, time_ms=wall_clock_ms()),
               build_event(LINKS["storage"], batch=world.batch, time_ms=wall_clock_ms())]}}
    b = await bearer(client, "inspector")
    height, state = world.snapshot()
    r = await client.post("/epcis/capture", json=doc, headers=b)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"]["code"] == "epcis_invalid" and body["receipt"]["ok"] is False
    assert [(e["event"], e["code"]) for e in body["error"]["details"]["errors"]] == [
        (1, "forbidden")]
    assert world.snapshot() == (height + 1, state)  # only the failed transaction
    job = (await client.get(f"/epcis/capture/{body['captureID']}", headers=b)).json()
    assert (job["success"], job["running"], job["events"]) == (False, False, 0)
    assert job["errors"][0]["event"] == 1 and "custodian" in job["errors"][0]["reason"]


async def test_unknown_capture_jobs_are_404(reader: httpx.AsyncClient, loaded: World) -> None:
    not_capture = loaded.service.reads.txs(1, None, contract="identity").items[0]["id"]
    for cid in ("0" * 64, "nope", not_capture):
        r = await reader.get(f"/epcis/capture/{cid}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", cid


# -- queries ---------------------------------------------------------------------------------
async def test_paging_with_next_page_token(reader: httpx.AsyncClient) -> None:
    # Events are compared by hash id: a page's document declares at its top the prefixes
    # all of its events share, so an event's own @context can differ from page to page.
    everything = _hashes((await reader.get("/epcis/events", params={"perPage": 500})).json())
    assert len(everything) == 20  # 1 + 13 + 6
    seen: list[str] = []
    url: str | None = "/epcis/events?perPage=6"
    pages = 0
    while url is not None:
        r = await reader.get(url)
        page = _events(r)
        seen += _hashes(r.json())
        pages += 1
        link = r.headers.get("link")
        assert (link is None) == (len(seen) == 20)
        assert len(page) == (6 if link else 2)
        url = link[1:link.index(">")] if link else None
        assert link is None or link.endswith('>; rel="next"')
    assert pages == 4 and seen == everything
    # The token keeps the other filters' meaning: ObjectEvents only, two at a time.
    objects = _hashes((await reader.get("/epcis/events", params={
        "eventType": "ObjectEvent", "perPage": 500})).json())
    r = await reader.get("/epcis/events", params={"eventType": "ObjectEvent", "perPage": 2})
    link = r.headers["link"]
    nxt = await reader.get(link[1:link.index(">")])
    assert _hashes(r.json()) + _hashes(nxt.json()) == objects[:4]


async def test_filters(reader: httpx.AsyncClient, loaded: World) -> None:
    r = await reader.get("/epcis/events", params={"perPage": 500})
    everything, parsed = _events(r), parse_document(r.json()).events
    subject = _subjects(loaded)

    async def check(params: dict[str, str], want: list[int]) -> None:
        r = await reader.get("/epcis/events", params={**params, "perPage": "500"})
        _events(r)
        assert _hashes(r.json()) == [parsed[i].hash_id for i in want], params
        assert want, params  # every filter case selects something

    idx = range(len(everything))
    await check({"eventType": "AggregationEvent|TransformationEvent"},
                [i for i in idx if parsed[i].event_type in ("AggregationEvent",
                                                            "TransformationEvent")])
    await check({"GE_eventTime": "2019-10-07T14:00:00Z", "LT_eventTime": "2020-05-08T14:00:00Z"},
                [i for i in idx if "2019-10-07T14:00:00.000Z" <= parsed[i].event_time
                 < "2020-05-08T14:00:00.000Z"])
    # Offsets are times like any other: 10:00-04:00 is 14:00Z.
    await check({"GE_eventTime": "2020-05-08T10:00:00-04:00"},
                [i for i in idx if parsed[i].event_time >= "2020-05-08T14:00:00.000Z"])
    step = "https://ref.gs1.org/cbv/BizStep-"
    await check({"EQ_bizStep": "urn:epcglobal:cbv:bizstep:packing|sensor_reporting"},
                [i for i in idx if parsed[i].biz_step in (f"{step}packing",
                                                          f"{step}sensor_reporting")])
    await check({"EQ_disposition": "https://ref.gs1.org/cbv/Disp-needs_replacement"},
                [i for i in idx if (parsed[i].disposition or "").endswith("needs_replacement")])
    await check({"MATCH_epc": ITEM, "EQ_bizStep": "inspecting"},
                [i for i in idx if parsed[i].biz_step == f"{step}inspecting"
                 and subject[parsed[i].hash_id] == subject_id(ITEM)])
    # A lot number resolves to its batch, as on the trace pages.
    await check({"MATCH_epc": "L20260101"}, [0])
    r = await reader.get(f"/epcis/epcs/{quote(loaded.batch, safe='')}/events")
    assert _ids(_events(r)) == _ids(everything[:1]) and _hashes(r.json()) == [
        parsed[0].hash_id]
    await check({"eventType": "ObjectEvent"},
                [i for i in idx if parsed[i].event_type == "ObjectEvent"])
    r = await reader.get(f"/epcis/epcs/{quote(ITEM, safe='')}/events",
                         params={"eventType": "ObjectEvent", "EQ_bizStep": "sensor_reporting"})
    assert len(_events(r)) == 1


async def test_unknown_epc_is_an_empty_result(reader: httpx.AsyncClient) -> None:
    for epc in ("urn:epc:id:sgtin:0614141.107346.2017", "no-such-lot", "https://x.example/a/b",
                "urn:epc:id:sgtin:broken"):
        r = await reader.get(f"/epcis/epcs/{quote(epc, safe='')}/events")
        assert _events(r) == [] and "link" not in r.headers, epc
    assert _events(await reader.get("/epcis/events", params={"MATCH_epc": "nothing"})) == []


def test_an_event_under_two_subjects_comes_once(loaded: World) -> None:
    # Today each event is recorded under one subject; should one ever be recorded under
    # two, the query still returns it once, and a page boundary never repeats it.
    conn = sqlite3.connect(":memory:")
    loaded.node.store.reader().backup(conn)
    first = event_rows(conn, EventFilter(), None, 500)[0]
    twice = first[5]
    conn.execute("INSERT INTO trace_events SELECT 'dup-subject', 1, tx, item, height, type, "
                 "biz_step, disposition, link, event_time, signer, code, hash_id, verdict, "
                 "location, refs FROM trace_events WHERE tx=? AND item=?",
                 (twice[2], twice[3]))
    again, more = event_rows(conn, EventFilter(), None, 500)
    assert [r[2:4] for r in again] == [r[2:4] for r in first] and not more
    for n in range(1, 8):
        keys, after, more = [], None, True
        while more:
            page, more = event_rows(conn, EventFilter(), after, n)
            keys += [r[2:4] for r in page]
            after = (page[-1][-1], page[-1][3])
        assert keys == [r[2:4] for r in first], n
    only, _ = event_rows(conn, EventFilter(subjects=("dup-subject",)), None, 5)
    assert [r[2:4] for r in only] == [twice[2:4]]


@pytest.mark.parametrize(("path", "params", "says"), [
    ("/epcis/events", {"foo": "1"}, "unsupported query parameter 'foo'"),
    ("/epcis/events", {"EQ_bizLocation": "urn:epc:id:sgln:0614141.00777.0"}, "EQ_bizLocation"),
    ("/epcis/events", {"eventType": "QuantityEvent"}, "eventType: 'QuantityEvent'"),
    ("/epcis/events", {"GE_eventTime": "yesterday"}, "GE_eventTime: 'yesterday'"),
    ("/epcis/events", {"LT_eventTime": "2020-01-01"}, "LT_eventTime"),
    ("/epcis/events", {"EQ_bizStep": "shippping"}, "neither a CBV 2.0 term nor a URI"),
    ("/epcis/events", {"EQ_disposition": "not a disposition"}, "EQ_disposition"),
    ("/epcis/events", {"MATCH_epc": "|"}, "MATCH_epc: no value given"),
    ("/epcis/events", {"eventType": "|".join(["ObjectEvent"] * 65)}, "at most 64"),
    ("/epcis/events", {"perPage": "0"}, "perPage"),
    ("/epcis/events", {"perPage": "501"}, "perPage must be 1-500"),
    ("/epcis/events", {"perPage": "ten"}, "perPage"),
    ("/epcis/events", {"nextPageToken": "garbage!"}, "not one this server issued"),
    ("/epcis/events", {"nextPageToken": encode_cursor(["a", "b"])}, "nextPageToken"),
    ("/epcis/events", [("GE_eventTime", "2020-01-01T00:00:00Z")] * 2, "may be given once"),
    ("/epcis/epcs/x/events", {"MATCH_epc": "y"}, "unsupported query parameter 'MATCH_epc'"),
])
async def test_bad_query_parameters(reader: httpx.AsyncClient, path: str, params: Any,
                                    says: str) -> None:
    r = await reader.get(path, params=params)
    assert r.status_code == 422, r.text
    assert says in r.json()["error"]["message"], r.json()


async def test_openapi_describes_the_binding(reader: httpx.AsyncClient) -> None:
    paths = (await reader.get("/openapi.json")).json()["paths"]
    for path, verb in (("/epcis/capture", "post"), ("/epcis/capture/{captureID}", "get"),
                       ("/epcis/events", "get"), ("/epcis/epcs/{epc}/events", "get")):
        assert paths[path][verb]["summary"], path
    names = {p["name"] for p in paths["/epcis/events"]["get"]["parameters"]}
    assert {"eventType", "GE_eventTime", "LT_eventTime", "EQ_bizStep", "EQ_disposition",
            "MATCH_epc", "perPage", "nextPageToken"} <= names
