"""Review 11: EPCIS documents the ledger would capture as something else, or cannot read, are
refused with a specific error and nothing written, over REST (POST /epcis/capture) and by
``supplyledger epcis import``. Each case failed before its fix: 1e400 was captured as null
(0.10000000000000000001 as 0.1) under another hash id, a member named twice was captured as
the last one (other parsers take the first), a deeply nested document was a 500 or a
traceback, and the CLI read a file of any size whole before refusing it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.conftest import World, bearer
from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.cli.main import app
from supplyledger.contracts.builtin.trace import MAX_EVENTS_TEXT
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.bootstrap import write_key

from .conftest import sql

WHEN = "2019-12-20T08:00:00.000+08:00"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"ex": "https://example.org/flour/"}]


def document(batch: str, extension: str) -> bytes:
    """A one-event document whose event carries ``"ex:weight": <extension>`` verbatim."""
    ev = object_event(WHEN, "storing", "active", batch) | {"ex:weight": "@"}
    doc = {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": [ev]}}
    return json.dumps(doc).replace('"@"', extension).encode()


DEEP = "[" * 20_000 + "]" * 20_000
BAD = {  # the extension value -> what the refusal says
    "1e400": "the number 1e400, which the ledger would keep as null",
    "0.10000000000000000001": "the number 0.10000000000000000001, which the ledger would "
                              "keep as 0.1",
    DEEP: "arrays or objects nested too deeply",
    '1, "ex:weight": 2': "the member 'ex:weight' twice in one object",
}


# -- REST ------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_capture_refuses_numbers_it_would_change_and_unreadable_nesting(
        api_client: httpx.AsyncClient, api_world: World) -> None:
    b = await bearer(api_client, "mill")
    headers = {**b, "content-type": "application/ld+json"}
    before = api_world.snapshot()
    for extension, says in BAD.items():
        r = await api_client.post("/epcis/capture", content=document(api_world.batch, extension),
                              headers=headers)
        assert r.status_code == 422, (extension[:20], r.text[:300])
        err = r.json()["error"]
        assert err["code"] == "epcis_invalid" and says in err["message"], err
        assert err["details"]["errors"] == [{"event": None,
                                             "reason": err["details"]["errors"][0]["reason"]}]
    assert api_world.snapshot() == before
    # numbers a float holds exactly are taken as written
    r = await api_client.post("/epcis/capture", content=document(api_world.batch, "12.50"),
                          headers=headers)
    assert r.status_code == 202, r.text


# -- CLI -------------------------------------------------------------------------------------
def test_cli_import_refuses_each_bad_file_and_writes_nothing(mill: FlourMill,
                                                                tmp_path: Path) -> None:
    c = mill.c
    keyfile = tmp_path / "shop.key"
    write_key(keyfile, mill.parties["shop"].key, "pw", KdfParams(n=2**10))
    c.stop()  # the CLI runs its own node on the directory
    env = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw",
           "SUPPLYLEDGER_NODE_PASSWORD": "node"}
    files = []
    for i, extension in enumerate(BAD):
        files.append(tmp_path / f"bad{i}.json")
        files[-1].write_bytes(document(mill.flour, extension))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:  # sparse: the size of a file too large to read
        fh.truncate(MAX_EVENTS_TEXT + 1)
    height = sql(c, "SELECT MAX(height) FROM blocks")[0][0]
    state = sql(c, "SELECT key, value FROM state ORDER BY key")
    args = ["epcis", "import", *map(str, [*files, huge]), "--data", str(c.dir),
            "--key", str(keyfile), "--json"]
    out = CliRunner().invoke(app, args, env=env)
    assert out.exit_code == 1, out.output
    body = json.loads(out.output)
    got = {f["file"]: (f["code"], f["error"]) for f in body["files"]}
    for i, says in enumerate(BAD.values()):
        code, message = got[f"bad{i}.json"]
        assert code == "epcis_invalid" and says in message, message
    code, message = got["huge.json"]
    assert code == "payload_too_large"
    assert message.startswith(f"huge.json is {MAX_EVENTS_TEXT + 1} bytes, over the "
                              f"{MAX_EVENTS_TEXT}-byte limit")
    assert sql(c, "SELECT MAX(height) FROM blocks")[0][0] == height
    assert sql(c, "SELECT key, value FROM state ORDER BY key") == state
