"""Review 11c: the record-event form offered the first 200 batches held and the first 200
locations, and said nothing past them: a later location could not be chosen at all, nor
a held batch past the cut as a transformation's input. Now both lists say where the rest
are, the location takes any GLN typed, and inputs may be typed one per line. (The cuts
are lowered here so a few rows pass them.)"""

from __future__ import annotations

import re

import httpx
import pytest

from supplyledger.api.web import mine, pages_trace
from supplyledger.gs1 import gs1_check_digit

from .conftest import WHEAT, World

pytestmark = pytest.mark.anyio


def _gln(body: str) -> str:
    return body + str(gs1_check_digit(body))


async def _web_login(c: httpx.AsyncClient, who: str) -> str:
    from .test_pages import _web_login as login

    c.cookies.clear()
    return await login(c, who)


async def test_the_event_form_says_where_the_rest_are_and_takes_typed_ones(
        client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mine, "HELD_MAX", 1)
    monkeypatch.setattr(pages_trace, "PLACES_MAX", 1)
    newer = world.ok("mill", "products", "create_batch", {
        "gtin": WHEAT, "lot": "L20260102", "quantity": "500", "uom": "KGM"})["batch"]
    first, later = _gln("690123410001"), _gln("690123410002")
    for gln, name in ((first, "Mill yard"), (later, "Mill silo 2")):
        world.ok("mill", "products", "register_location", {"gln": gln, "name": name})
    csrf = await _web_login(client, "mill")
    html = (await client.get("/events/new?link=processing")).text
    hint = re.search(r'<small class="hint" id="held-hint">([^<]*)</small>', html)
    assert hint and "1 batches your organisation received last" in hint.group(1)
    assert "/tables/custody_holdings" in hint.group(1)
    places = re.search(r'<small class="hint" id="places-hint">([^<]*)</small>', html)
    assert places and "1 of the 2 registered locations" in places.group(1)
    assert "/tables/gln_locations" in places.group(1)
    assert re.search(r'<input id="ev-loc" name="location"[^>]*list="dl-places"', html)
    assert re.findall(r'<input type="checkbox" name="inputs" value="([^"]+)"', html) == [newer]

    # The location past the cut, typed; the older batch (past the cut) typed as an input.
    assert later not in html.split('id="dl-places"', 1)[1].split("</datalist>", 1)[0]
    r = await client.post("/events/new", data={
        "csrf": csrf, "link": "processing", "batch": newer, "quantity": "400",
        "location": later, "inputs": ["", "L20260101\n"]})
    assert r.status_code == 200 and 'id="event-ok"' in r.text, r.text[-3000:]
    doc = world.service.reads.rows("trace_events", 5, None, {"batch": newer}).items[-1]
    assert doc["location"].endswith(later)
    tx = world.service.reads.tx(doc["tx"])["envelope"]["args"]["event"]
    assert [i["epcClass"] for i in tx["inputQuantityList"]] == [world.batch]
