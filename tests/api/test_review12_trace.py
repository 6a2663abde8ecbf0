"""Review 12 on the web and REST (trace rules v4): the trace page marks an event an EPCIS
error declaration says was wrong and the declaration itself, each linking to the other's
transaction; the trace and recall pages list the links the declaration withdrew (from ->
to by name, the event that made each, the declaration that withdrew it), so a quality
manager sees why a pallet is not reached; ``/api/trace`` and ``/api/recall`` carry the
fields and the OpenAPI document describes them. The ledger is the test consortium's, on a
real node and SQLite file, with events built as in tests/trace/test_review12_withdraw.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from tests.trace.test_review11_recall import PALLET, agg
from tests.trace.test_review12_withdraw import SHIPMENT, declared, ship

from supplyledger.api.routers.domain import RecallAnswer, TraceAnswer
from supplyledger.api.web import pages_trace

from .conftest import WHEAT, World, bearer
from .test_pages import _web_login

pytestmark = pytest.mark.anyio


def _lot(world: World, lot: str) -> str:
    return str(world.ok("mill", "products", "create_batch", {
        "gtin": WHEAT, "lot": lot, "quantity": "100", "uom": "KGM"})["batch"])


def _record(world: World, *events: dict[str, Any]) -> None:
    world.ok("mill", "trace", "record_events", {"events": json.dumps(list(events))})


def _packing_declared_wrong(world: World, lot: str) -> dict[str, Any]:
    """The lot packed onto the pallet, the pallet shipped, the packing declared wrong."""
    pack = agg(8, PALLET, "ADD", lot, 30)
    _record(world, pack)
    _record(world, ship(9, PALLET, SHIPMENT))
    _record(world, declared(pack))
    return pack


async def _json(client: httpx.AsyncClient, what: str, batch: str) -> dict[str, Any]:
    r = await client.get(f"/api/{what}", params={"batch": batch},
                         headers=await bearer(client, "mill"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _section(html: str) -> str:
    """The page's "Withdrawn links" section."""
    m = re.search(r'<section[^>]*id="withdrawn".*?</section>', html, re.S)
    assert m, "no withdrawn section"
    return m.group(0)


def _event_item(html: str, tx: str) -> str:
    """The timeline entry of the event in transaction ``tx``."""
    items = re.findall(r'<li class="link .*?</details>', html, re.S)
    found = [i for i in items if f"/explorer/tx/{tx}#proof" in i]
    assert len(found) == 1, tx
    return found[0]


async def test_the_trace_page_marks_both_events_and_lists_the_withdrawn_link(
        client: httpx.AsyncClient, world: World) -> None:
    lot = _lot(world, "W1")
    _packing_declared_wrong(world, lot)
    res = await _json(client, "trace", lot)
    wrong, declaration = (e["tx"] for e in res["events"])
    await _web_login(client, "mill")
    r = await client.get("/trace", params={"batch": "W1"})
    assert r.status_code == 200
    page = r.text
    shown = _event_item(page, wrong)
    assert "declared-wrong" in shown and "<del>" in shown and "declared wrong</span>" in shown
    assert f'<a href="/explorer/tx/{declaration}">declaration tx' in shown
    assert 'what it linked is no longer followed (<a href="#withdrawn">' in shown
    said = _event_item(page, declaration)
    assert "error declaration</span>" in said and "<del>" not in said
    assert f'<a href="/explorer/tx/{wrong}">the event of tx' in said
    assert "incorrect_data" in said
    section = _section(page)
    assert "Withdrawn links (1)" in section
    # from -> to by the names the page uses (lot number, the pallet's SSCC), linked
    assert re.search(r">W1</a> → <a [^>]*>340063810000000018</a>", section)
    assert f'href="/explorer/tx/{wrong}"' in section and "packing" in section
    # the declaration: who (name and organisation), when, why, and its transaction
    # (its time as every page shows times, as recorded in the tooltip)
    assert re.search(r"error declaration by <strong>Mill</strong> \(Mill\), declared "
                     r'<time [^>]*title="2019-12-23T08:00:00.000\+08:00">2019-12-23 00:00 UTC'
                     r"</time>: incorrect_data", section)
    assert f'href="/explorer/tx/{declaration}" class="declaration"' in section
    # the genealogy no longer reaches the pallet
    assert PALLET not in res["downstream"]


async def test_the_recall_page_says_why_the_pallet_is_not_reached(
        client: httpx.AsyncClient, world: World) -> None:
    lot = _lot(world, "W2")
    _packing_declared_wrong(world, lot)
    declaration = (await _json(client, "trace", lot))["events"][1]["tx"]
    await _web_login(client, "mill")
    page = (await client.get("/recall", params={"batch": "W2"})).text
    affected = page[page.index('id="aff"'):page.index('id="withdrawn"')]
    assert "340063810000000018" not in affected and SHIPMENT not in affected
    section = _section(page)
    assert "The recall does not follow these" in section
    assert re.search(r">W2</a> → <a [^>]*>340063810000000018</a>", section)
    assert f'href="/explorer/tx/{declaration}" class="declaration"' in section


async def test_an_unpacking_declared_wrong_is_listed_as_taken_out(
        client: httpx.AsyncClient, world: World) -> None:
    lot = _lot(world, "U1")
    _record(world, agg(8, PALLET, "ADD", lot, 30))
    off = agg(9, PALLET, "DELETE", lot)
    _record(world, off)
    _record(world, declared(off))
    await _web_login(client, "mill")
    section = _section((await client.get("/trace", params={"batch": "U1"})).text)
    assert re.search(r">U1</a> taken out of <a [^>]*>340063810000000018</a>", section)
    assert "unpacking" in section


async def test_the_json_answers_carry_the_fields_the_openapi_document_describes(
        client: httpx.AsyncClient, world: World) -> None:
    lot = _lot(world, "J1")
    _packing_declared_wrong(world, lot)
    trace = await _json(client, "trace", lot)
    wrong = trace["events"][0]["tx"]
    assert [(e["error_declaration"], e["declared_wrong"]) for e in trace["events"]] == [
        (False, True), (True, False)]
    assert trace["withdrawn"] == [{"what": "link", "src": lot, "dst": PALLET, "tx": wrong}]
    recall = await _json(client, "recall", lot)
    assert recall["withdrawn"] == trace["withdrawn"]
    assert {a["id"] for a in recall["affected"]} == {lot}
    # the documenting models hold for the real answers
    TraceAnswer.model_validate(trace)
    RecallAnswer.model_validate(recall)
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]

    def body(path: str) -> dict[str, Any]:
        ref = doc["paths"][path]["get"]["responses"]["200"]["content"][
            "application/json"]["schema"]["$ref"]
        return dict(schemas[ref.rsplit("/", 1)[-1]])

    w = {"$ref": "#/components/schemas/Withdrawn"}
    for path in ("/api/trace", "/api/recall"):
        withdrawn = body(path)["properties"]["withdrawn"]
        assert withdrawn["items"] == w and "withdrawn" in body(path)["required"]
    assert set(schemas["Withdrawn"]["properties"]) == {"what", "src", "dst", "tx"}
    events = body("/api/trace")["properties"]["events"]["items"]["$ref"]
    event = schemas[events.rsplit("/", 1)[-1]]
    assert event["properties"]["error_declaration"]["type"] == "boolean"
    assert event["properties"]["declared_wrong"]["type"] == "boolean"
    assert {"error_declaration", "declared_wrong"} <= set(event["required"])


async def test_a_ledger_without_declarations_shows_nothing_extra(
        client: httpx.AsyncClient, world: World) -> None:
    lot = _lot(world, "P1")
    _record(world, agg(8, PALLET, "ADD", lot, 30))
    assert (await _json(client, "trace", lot))["withdrawn"] == []
    assert (await _json(client, "recall", lot))["withdrawn"] == []
    await _web_login(client, "mill")
    for path in ("/trace", "/recall"):
        page = (await client.get(path, params={"batch": "P1"})).text
        assert "340063810000000018" in page  # the pallet is reached
        assert 'id="withdrawn"' not in page and "Withdrawn links" not in page
        assert "declared wrong" not in page and "error declaration" not in page


async def test_a_long_list_is_cut_and_says_so(client: httpx.AsyncClient, world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two lots' packings onto the pallet declared wrong: the pallet's trace meets both."""
    a, b = _lot(world, "M1"), _lot(world, "M2")
    pa, pb = agg(8, PALLET, "ADD", a, 30), agg(8, PALLET, "ADD", b, 30)
    _record(world, pa, pb)
    _record(world, declared(pa), declared(pb))
    assert len((await _json(client, "trace", PALLET))["withdrawn"]) == 2
    monkeypatch.setattr(pages_trace, "WITHDRAWN_ROWS", 1)
    await _web_login(client, "mill")
    section = _section((await client.get("/trace", params={"batch": PALLET})).text)
    assert "Withdrawn links (2)" in section and "Showing 1 of 2" in section
    assert section.count('class="withdrawn-link"') == 1


async def test_an_object_whose_every_link_was_withdrawn_is_still_traced(
        client: httpx.AsyncClient, world: World) -> None:
    """A pallet with no events of its own, its one packing declared wrong: trace and recall
    answered 404 "no batch or traced object", hiding why nothing is on it any more."""
    lot = _lot(world, "E1")
    pack = agg(8, PALLET, "ADD", lot, 30)
    _record(world, pack)
    _record(world, declared(pack))
    res = await _json(client, "trace", PALLET)
    assert [(w["src"], w["dst"]) for w in res["withdrawn"]] == [(lot, PALLET)]
    assert res["upstream"] == []
    # (recall walks downstream only: the link into the pallet is not on its paths, review 12b)
    assert (await _json(client, "recall", PALLET))["withdrawn"] == []
    await _web_login(client, "mill")
    assert (await client.get("/recall", params={"batch": PALLET})).status_code == 200
    r = await client.get("/trace", params={"batch": PALLET})
    assert r.status_code == 200
    assert re.search(r">E1</a> → <a [^>]*>340063810000000018</a>", _section(r.text))
