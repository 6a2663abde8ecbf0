"""Review 12, the EPCIS 2.0 binding as an EPCIS client meets it: version headers and what
a client asks for.

The binding sent none of the standard's version headers and read none: a client asking
for EPCIS 1.2, for EPCs translated to URNs (``GS1-EPC-Format``) or for XML got 2.0 JSON
with identifiers as captured, as if it had asked for that, and a capture asking
``GS1-Capture-Error-Behaviour: proceed`` (keep the good events) was rolled back whole
while the client believed otherwise. Every answer now says what the server speaks, such
requests are refused (406; ``proceed`` 422) with nothing written, and ``OPTIONS
/epcis/capture`` answers the capture settings as the binding's clients discover them.
"""

from __future__ import annotations

import httpx
import pytest

from supplyledger.api.links import LINKS, build_event
from supplyledger.node.service import wall_clock_ms

from .conftest import World, bearer
from .test_review12_rest_schemas import epcis_document

pytestmark = pytest.mark.anyio
SPOKEN = {"gs1-epcis-version": "2.0.0", "gs1-epcis-min": "2.0.0", "gs1-epcis-max": "2.0.0",
          "gs1-cbv-version": "2.0.0", "gs1-epc-format": "Never_Translates"}


def _speaks(r: httpx.Response) -> bool:
    return all(r.headers.get(k) == v for k, v in SPOKEN.items())


async def test_every_answer_says_what_it_speaks(client: httpx.AsyncClient,
                                                world: World) -> None:
    b = await bearer(client, "mill")
    answers = [await client.get("/epcis/events", headers=b),
               await client.get(f"/epcis/epcs/{world.batch}/events", headers=b),
               await client.get(f"/epcis/capture/{'0' * 64}", headers=b),  # 404
               await client.get("/epcis/events?perPage=0", headers=b),  # 422
               await client.get("/epcis/events")]  # 401
    assert [r.status_code for r in answers] == [200, 200, 404, 422, 401]
    assert all(_speaks(r) for r in answers), [dict(r.headers) for r in answers]
    r = await client.options("/epcis/capture")  # discovery needs no login
    assert r.status_code == 204 and _speaks(r)
    assert r.headers["gs1-capture-error-behaviour"] == "rollback"
    assert int(r.headers["gs1-epcis-capture-file-size-limit"]) == (
        world.node.settings.max_tx_bytes)


@pytest.mark.parametrize("asks", [
    {"GS1-EPCIS-Version": "1.2"}, {"GS1-EPCIS-Version": "2.1.0"},
    {"GS1-EPCIS-Min": "2.1"}, {"GS1-EPCIS-Max": "1.2"}, {"GS1-CBV-Version": "1.2"},
    {"GS1-EPC-Format": "Always_EPC_URN"}, {"GS1-EPC-Format": "Always_GS1_Digital_Link"},
    {"Accept": "application/xml"},
])
async def test_asking_for_what_is_not_served_is_406(client: httpx.AsyncClient, world: World,
                                                    asks: dict[str, str]) -> None:
    b = await bearer(client, "mill")
    before = world.snapshot()
    doc = epcis_document(build_event(LINKS["storage"], batch=world.batch,
                                     time_ms=wall_clock_ms()))
    for r in (await client.get("/epcis/events", headers={**b, **asks}),
              await client.post("/epcis/capture", json=doc, headers={**b, **asks})):
        assert r.status_code == 406, r.text
        assert r.json()["error"]["code"] == "not_acceptable" and _speaks(r)
    assert world.snapshot() == before


@pytest.mark.parametrize("asks", [
    {"GS1-EPCIS-Version": "2.0"}, {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"},
    {"GS1-EPCIS-Min": "1.2", "GS1-EPCIS-Max": "2.0"}, {"GS1-EPC-Format": "No_Preference"},
    {"Accept": "application/ld+json"}, {"Accept": "text/html, */*;q=0.8"},
])
async def test_what_is_served_may_be_asked_for(client: httpx.AsyncClient,
                                               asks: dict[str, str]) -> None:
    b = await bearer(client, "mill")
    r = await client.get("/epcis/events", headers={**b, **asks})
    assert r.status_code == 200 and _speaks(r), r.text


async def test_capture_error_behaviour_proceed_is_refused(client: httpx.AsyncClient,
                                                          world: World) -> None:
    b = await bearer(client, "mill")
    doc = epcis_document(build_event(LINKS["storage"], batch=world.batch,
                                     time_ms=wall_clock_ms()))
    before = world.snapshot()
    r = await client.post("/epcis/capture", json=doc,
                          headers={**b, "GS1-Capture-Error-Behaviour": "proceed"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["details"] == {"arg": "GS1-Capture-Error-Behaviour"} and "rollback" in (
        err["message"])
    assert world.snapshot() == before
    r = await client.post("/epcis/capture", json=doc,
                          headers={**b, "GS1-Capture-Error-Behaviour": "rollback"})
    assert r.status_code == 202 and _speaks(r), r.text
    job = await client.get(r.headers["location"], headers=b)
    assert job.json()["captureErrorBehaviour"] == "rollback" and _speaks(job)
