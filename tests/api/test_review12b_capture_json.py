"""Review 12b: bytes that are not JSON sent to ``/epcis/capture`` were answered 422
``epcis_invalid``, while every other JSON endpoint answers 400 ``encoding_error``; JSON that
is not a valid EPCIS document stays 422. Nothing is written either way. In-process httpx
over the test consortium's real node and SQLite file."""

from __future__ import annotations

import httpx
import pytest

from .conftest import World, bearer

pytestmark = pytest.mark.anyio
LD = {"content-type": "application/ld+json"}
NOT_JSON = (b"{not json", b"", b"NaN", b'{"type": "EPCISDocument",}', b"\xff\xfe\xfa",
            b'{"a": Infinity}')
NOT_EPCIS = (b"[]", b"null", b'{"type": "ObjectEvent"}',
             b'{"type": "EPCISDocument", "type": "EPCISDocument"}',  # a member named twice
             b'{"type": "EPCISDocument", "n": 1e400}')  # a number a double cannot hold


async def test_capture_answers_bytes_that_are_not_json_as_every_json_endpoint(
        client: httpx.AsyncClient, world: World) -> None:
    b = await bearer(client, "mill")
    before = world.snapshot()
    for bad in NOT_JSON:
        r = await client.post("/epcis/capture", content=bad, headers={**b, **LD})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "encoding_error", bad
        assert r.json()["error"]["message"].startswith("malformed JSON"), bad
        assert r.headers["GS1-EPCIS-Version"] == "2.0.0"
        # the same bytes to the other endpoint that reads its body as sent: the same answer
        other = await client.post("/api/tx", content=bad,
                                  headers={**b, "content-type": "application/json"})
        assert (other.status_code, other.json()["error"]["code"]) == (400, "encoding_error")
    for bad in NOT_EPCIS:
        r = await client.post("/epcis/capture", content=bad, headers={**b, **LD})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "epcis_invalid", bad
    assert world.snapshot() == before
