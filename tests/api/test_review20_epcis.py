"""Review 20: a quality manager's and an integrator's walk through EPCIS capture, export and
the REST binding. Each test failed before its fix: ``epcis import`` of a document whose
``type`` is an array was a TypeError traceback; a document without ``type`` or
``schemaVersion`` was told they were ``None``; ``epcis import`` listed 50 of a document's
problems and did not say it left the others out; ``epcis export --batch ''`` said "no
events recorded for None"; a bad ``nextPageToken`` was refused as a bad ``cursor`` (a
parameter the binding does not take), and as a pydantic "Value error" when its numbers
were out of range. Also what ``docs/traceability.md`` says of where a capture's give-back
is read."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.epcis import document_problems
from supplyledger.errors import EPCISValidationError
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.bootstrap import write_key
from supplyledger.node.epcis_ingest import capture_args
from supplyledger.store.listings import encode_cursor

from .conftest import World, bearer, build_world

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
LD = {"content-type": "application/ld+json"}


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-20T00:00:00Z", "epcisBody": {"eventList": list(events)}}


def _event(batch: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventTime": f"2026-11-19T08:{minute:02d}:00Z",
            "eventTimeZoneOffset": "+00:00", "action": "OBSERVE",
            "quantityList": [{"epcClass": batch}], "bizStep": "storing",
            "disposition": "active", **extra}


# -- the document's envelope (pure) ----------------------------------------------------------
def test_a_type_that_is_an_array_is_refused_not_a_traceback() -> None:
    for kind in (["EPCISDocument"], {"a": 1}):
        with pytest.raises(EPCISValidationError) as caught:
            capture_args({**_doc(), "type": kind})
        assert caught.value.errors == [{"event": None,
                                        "reason": f"type: {kind!r} must be EPCISDocument"}]


def test_missing_type_and_schema_version_are_required_not_none() -> None:
    reasons = [p["reason"] for p in document_problems({"epcisBody": {"eventList": []},
                                                       "@context": CONTEXT,
                                                       "schemaVersion": None})]
    assert "type: is required (EPCISDocument)" in reasons
    assert 'schemaVersion: is required ("2.0")' in reasons
    assert not any("None" in r for r in reasons), reasons
    with pytest.raises(EPCISValidationError, match=r"^EPCIS document: type: is required"):
        capture_args({k: v for k, v in _doc().items() if k != "type"})


# -- the CLI ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory,
           rsa_keys: list[PrivateKey]) -> tuple[Path, Path, str]:
    """A stopped world's directory, the mill's key file and its batch (the CLI runs its
    own node on the directory)."""
    d = tmp_path_factory.mktemp("review20")
    w = build_world(d / "ledger", rsa_keys)
    w.node.stop()
    w.service.close()
    write_key(d / "mill.key", w.keys["mill"], "pw", KdfParams(n=2**10))
    return w.dir, d / "mill.key", w.batch


ENV = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node-pw",
       "COLUMNS": "200"}


def _height(data: Path) -> int:
    conn = sqlite3.connect(data / "ledger.sqlite")
    try:
        return int(conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0])
    finally:
        conn.close()


def test_cli_import_says_how_many_problems_it_did_not_list(
        ledger: tuple[Path, Path, str], tmp_path: Path) -> None:
    data, key, batch = ledger
    many = tmp_path / "many.json"
    many.write_text(json.dumps(_doc(*(_event(batch, i, bizStep="warehousing")
                                      for i in range(60)))))
    odd = tmp_path / "odd.json"  # type an array, with a body: was a TypeError traceback
    odd.write_text(json.dumps({**_doc(_event(batch, 1)), "type": ["EPCISDocument"]}))
    height = _height(data)
    r = CliRunner().invoke(app, ["epcis", "import", str(many), str(odd), "--data", str(data),
                                 "--key", str(key)], env=ENV)
    assert r.exit_code == 1, r.output
    assert isinstance(r.exception, SystemExit), r.exception  # (not the TypeError)
    assert r.output.count("\n  event ") == 50  # under the summary line, one a problem
    assert "… and 10 more (--json lists them all)" in r.output
    assert "refused odd.json: EPCIS document: type: ['EPCISDocument'] must be" in r.output
    assert _height(data) == height  # nothing written
    r = CliRunner().invoke(app, ["epcis", "import", str(many), "--data", str(data),
                                 "--key", str(key), "--json"], env=ENV)
    assert len(json.loads(r.output)["errors"]) == 60


def test_cli_export_refuses_an_empty_batch_or_tx(ledger: tuple[Path, Path, str]) -> None:
    data, _, batch = ledger
    for option in ("--batch", "--tx"):
        r = CliRunner().invoke(app, ["epcis", "export", option, " ", "--data", str(data)],
                               env=ENV)
        assert r.exit_code == 2, r.output
        assert "not an empty one [validation_error]" in r.output
        assert "None" not in r.output
    r = CliRunner().invoke(app, ["epcis", "export", "--batch", batch, "--data", str(data)],
                           env=ENV)
    assert r.exit_code == 0 and json.loads(r.output)["epcisBody"]["eventList"]


# -- the REST binding ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_a_bad_next_page_token_is_refused_by_its_name(client: httpx.AsyncClient) -> None:
    b = await bearer(client, "inspector")
    for token in ("!!!", encode_cursor([1]), encode_cursor(["a", "b"]),
                  encode_cursor([10**30, 1])):
        r = await client.get("/epcis/events", params={"nextPageToken": token}, headers=b)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "validation_error"
        assert err["details"] == {"arg": "nextPageToken"}, err
        assert err["message"].startswith("nextPageToken is not one this server issued"), err


@pytest.mark.anyio
async def test_a_captured_declaration_gives_back_in_its_receipt(
        client: httpx.AsyncClient, world: World) -> None:
    """docs/traceability.md: a capture answers counts; the receipt lists given_back."""
    b = await bearer(client, "mill")
    flour_gtin = "690123400002" + str(gtin_check_digit("690123400002"))
    world.ok("mill", "products", "create_product", {"gtin": flour_gtin, "name": "Flour"})
    flour = world.ok("mill", "products", "create_batch", {
        "gtin": flour_gtin, "lot": "F1", "quantity": "800", "uom": "KGM"})["batch"]
    wrong = {"type": "TransformationEvent", "eventTime": "2026-11-19T09:00:00Z",
             "eventTimeZoneOffset": "+00:00", "bizStep": "commissioning",
             "disposition": "active",
             "inputQuantityList": [{"epcClass": world.batch, "quantity": 1000, "uom": "KGM"}],
             "outputQuantityList": [{"epcClass": flour, "quantity": 80, "uom": "KGM"}]}
    r = await client.post("/epcis/capture", json=_doc(wrong), headers=b)
    assert r.status_code == 202, r.text
    wrong_tx = r.json()["captureID"]
    right_id = "urn:uuid:00000000-0000-4000-8000-000000000007"
    right = {**wrong, "eventID": right_id,
             "inputQuantityList": [{"epcClass": world.batch, "quantity": 100, "uom": "KGM"}]}
    declared = {**wrong, "errorDeclaration": {"declarationTime": "2026-11-20T10:00:00Z",
                                              "reason": "incorrect_data",
                                              "correctiveEventIDs": [right_id]}}
    r = await client.post("/epcis/capture", json=_doc(declared, right), headers=b)
    assert r.status_code == 202, r.text
    assert set(r.json()) == {"captureID", "height", "events", "subjects"}  # counts only
    receipt = (await client.get(f"/api/tx/{r.json()['captureID']}/receipt", headers=b)).json()
    given = [e[1]["given_back"] for e in receipt["events"]
             if e[0] == "trace.recorded" and "given_back" in e[1]]
    assert given == [[[wrong_tx, 0, world.batch, "1000", "0"]]], receipt
    row = (await client.get("/api/tables/batches", params={"id": world.batch},
                            headers=b)).json()["items"][0]
    assert (row["consumed"], row["remaining"]) == ("100", "900")
