"""Review 11: every command that signs with a key file signs as the participant the key is
registered for. After a key rotation the participant's id is not the new key's own, so
``dispatch plan --submit`` refused the platform's new key as "not of the platform" and
``epcis import`` sent captures under the new key's unregistered id (refused per file); an
old, rotated-away key and a wrong role are refused before signing with one line (exit 2),
where ``epcis import`` used to commit a role refusal as a failed transaction.

One real ledger per test (embedded node, SQLite), the commands run through the CLI."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from _shop import shop_parties
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.cli.main import app
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams, seal
from supplyledger.node.service import wall_clock_ms
from supplyledger.store.sqlite import DB_NAME

from .conftest import counts

DAY = 86_400_000
GTIN = "400638000007" + str(gtin_check_digit("400638000007"))
ENV = {"SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node",
       "COLUMNS": "200"}


@dataclass
class World:
    dir: Path
    shop: Party  # the platform, registered with the key it has since rotated away
    old: Path  # key files: the shop's first key, its current one, the customer's
    new: Path
    buyer: Path
    request: Path
    doc: Path


def _keyfile(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(seal(key, "pw", KdfParams(n=2**10)))
    return path


@pytest.fixture
def world(tmp_path: Path) -> World:
    c = Consortium(tmp_path / "ledger")
    p = shop_parties(c, GTIN, funds=10**6)
    batch = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": "L1"})["batch"]
    c.ok(p["maker"], "products", "declare_for_sale", {"id": batch})
    now = wall_clock_ms()
    c.ok(p["people"], "orders", "place", {
        "id": "O1", "seller": p["maker"].did, "batch": batch, "quantity": 1, "unit_price": 500,
        "freight": 100, "currency": "EUR", "earliest": now - DAY, "latest": now + 3 * DAY,
        "platform": p["shop"].did})
    new = generate("ed25519")
    c.ok(p["shop"], "identity", "rotate_key", {"did": p["shop"].did,
                                               "public_key": new.public.b64})
    c.stop()  # the CLI runs its own node on the directory
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "plan": "P-1", "platform": p["shop"].did,
        "warehouse": {"node": "WH", "lat": 52.52, "lon": 13.405, "open": now,
                      "close": now + 10 * 3_600_000, "outbound_capacity": 500},
        "fleet": [{"vehicle": "V1", "transporter": p["trucks"].did, "capacity": 400,
                   "vehicle_class": "van_diesel_avg"}],
        "orders": {"O1": {"lat": 52.53, "lon": 13.38, "quantity": 10}}}))
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2026-01-02T00:00:00Z",
            "eventTimeZoneOffset": "+00:00", "action": "ADD",
            "epcList": ["urn:epc:id:sgtin:4012345.011111.1001"],
            "bizStep": "commissioning", "disposition": "active"}]}}))
    return World(c.dir, p["shop"], _keyfile(tmp_path / "old.key", p["shop"].key),
                 _keyfile(tmp_path / "new.key", new),
                 _keyfile(tmp_path / "buyer.key", p["people"].key), request, doc)


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def _tx_submit(w: World, key: Path) -> Result:
    return _run("tx", "submit", "identity", "rotate_key", "--data", str(w.dir), "--key",
                str(key), "--args", json.dumps({"did": w.shop.did,
                                                "public_key": generate("ed25519").public.b64}))


def _dispatch(w: World, key: Path) -> Result:
    return _run("dispatch", "plan", "--data", str(w.dir), "--request", str(w.request),
                "--json", "--submit", "--key", str(key))


def _import(w: World, key: Path) -> Result:
    return _run("epcis", "import", str(w.doc), "--data", str(w.dir), "--key", str(key),
                "--json")


COMMANDS = {"tx submit": _tx_submit, "dispatch plan --submit": _dispatch,
            "epcis import": _import}


def _refused(res: Result, *fragments: str) -> None:
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), res.output
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, res.stderr
    for f in fragments:
        assert f in line, line


def _signers(w: World) -> list[str]:
    conn = sqlite3.connect(f"file:{w.dir / DB_NAME}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT signer FROM txs ORDER BY height, idx")]
    finally:
        conn.close()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_rotated_participant_s_old_key_is_refused_and_its_new_key_signs_as_it(
        world: World, command: str) -> None:
    run = COMMANDS[command]
    before = counts(world.dir)
    _refused(run(world, world.old), world.shop.did, "rotated", "[revoked_key]")
    assert counts(world.dir) == before  # nothing written
    res = run(world, world.new)
    assert res.exit_code == 0, res.output
    assert counts(world.dir)["txs"] == before["txs"] + 1
    assert _signers(world)[-1] == world.shop.did  # the participant, not the new key's id


@pytest.mark.parametrize("command", ["dispatch plan --submit", "epcis import"])
def test_a_key_of_another_role_is_refused_before_signing(world: World, command: str) -> None:
    before = counts(world.dir)
    res = COMMANDS[command](world, world.buyer)
    if command == "epcis import":  # it used to commit a failed transaction (role_denied)
        _refused(res, "trace.record_events needs the role ", "[role_denied]")
    else:
        _refused(res, "not of the platform")
    assert counts(world.dir) == before


def test_an_unregistered_key_is_refused_before_signing(world: World, tmp_path: Path) -> None:
    stranger = _keyfile(tmp_path / "stranger.key", generate("ed25519"))
    before = counts(world.dir)
    for run in COMMANDS.values():
        _refused(run(world, stranger), "is not registered", "[unknown_signer]")
    assert counts(world.dir) == before
