"""Review 21 (trace rules v6): an EPCIS ``eventID`` names one event, and an error declaration
declares an event the ledger recorded. Under v5 a second, different event under a recorded
event's eventID was taken (v2 records an event once per chain by its hash, which leaves
eventID out), and so was a declaration of an event never recorded. v5 ledgers still decide
so, and re-execute clean after adopting v6. Runs on a real embedded node (the flour mill of
paper 002) with its SQLite ledger; over REST and the CLI's import too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from _rules import up_to
from api.conftest import World, bearer
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, build_flour_mill, object_event
from supplyledger.cli.main import app
from supplyledger.contracts.builtin.trace import CONTRACT
from supplyledger.errors import AlreadyExists, EPCISValidationError, InvalidState, NotFound
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger, write_key

from .conftest import T0, error_of, sql
from .test_review11_recall import Run, when
from .test_review14_declared_balance import declared

ID = "urn:uuid:6f1c2a70-3b5e-4d0a-9c1e-21a0b0c0d0e1"
OTHER = "urn:uuid:6f1c2a70-3b5e-4d0a-9c1e-21a0b0c0d0e2"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def ev(hour: int, *lots: str, eid: str | None = ID) -> dict[str, Any]:
    """A storing event about ``lots``; ``hour`` makes events differ (and hash apart)."""
    out: dict[str, Any] = {
        "type": "ObjectEvent", "eventTime": when(hour), "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE", "quantityList": [{"epcClass": lot} for lot in lots],
        "bizStep": "storing", "disposition": "in_progress"}
    return out | ({"eventID": eid} if eid else {})


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


def state(c: Consortium) -> list[Any]:
    return sql(c, "SELECT key, value FROM state ORDER BY key")


def tx_of(c: Consortium, lot: str) -> str:
    """The transaction that recorded the lot's latest event."""
    return str(sql(c, "SELECT tx FROM trace_events WHERE batch = ? ORDER BY seq DESC LIMIT 1",
                   (lot,))[0][0])


def test_new_ledgers_start_at_v6(mill: FlourMill) -> None:
    assert CONTRACT.versions[-1] == 6
    r = Run(mill)
    a, b = r.lots("V1", "V2")
    r.record(ev(8, a))
    err = error_of(r.c, r.miller, "trace", "record_event", {"batch": b, "event": ev(9, b)})
    assert isinstance(err, InvalidState)  # (v6 in force, no adoption needed)


def test_v6_refuses_another_event_under_a_recorded_eventID(mill: FlourMill) -> None:
    r = Run(mill)
    a, b = r.lots("D1", "D2")
    r.record(ev(8, a))
    first = tx_of(r.c, a)
    before = state(r.c)
    # one event alone: InvalidState naming the eventID, the event it names, its transaction
    err = error_of(r.c, r.miller, "trace", "record_event", {"batch": b, "event": ev(9, b)})
    assert isinstance(err, InvalidState)
    assert f"eventID {ID} already names event ni:///sha-256;" in err.message
    assert f"recorded by transaction {first}" in err.message
    assert err.details["tx"] == first and err.details["event_id"] == ID
    # in a document: refused whole, the event and the first transaction named
    err = error_of(r.c, r.miller, "trace", "record_events",
                   doc(ev(10, b, eid=OTHER), ev(9, b)))
    assert isinstance(err, EPCISValidationError)
    assert [(e["event"], e["code"], e["tx"]) for e in err.errors] == [
        (1, InvalidState.code, first)]
    assert err.message.startswith("1 of 2 events refused, none recorded; event 1: eventID")
    assert state(r.c) == before
    # two different events of one document under one eventID: the document is wrong
    err = error_of(r.c, r.miller, "trace", "record_events",
                   doc(ev(10, b, eid=OTHER), ev(11, b, eid=OTHER)))
    assert isinstance(err, EPCISValidationError)
    assert f"event 1 carries eventID {OTHER} of event 0 of this document" in err.message
    assert state(r.c) == before
    assert run_audit(r.c.dir).ok


def test_v6_takes_the_same_event_again_as_v2_does(mill: FlourMill) -> None:
    """Same hash, same event: re-sent to a chain that holds it, a retry (AlreadyExists, as
    v2); recorded on another lot it names, taken; the same under another eventID too (the
    hash leaves eventID out). Its error declaration carries its eventID and is taken."""
    r = Run(mill)
    a, b, c = r.lots("S1", "S2", "S3")
    both = ev(8, a, b, c)
    r.c.ok(r.miller, "trace", "record_event", {"batch": a, "event": both})
    err = error_of(r.c, r.miller, "trace", "record_events", doc(both))
    assert isinstance(err, AlreadyExists) and "captured before" in err.message
    r.c.ok(r.miller, "trace", "record_event", {"batch": b, "event": both})
    r.c.ok(r.miller, "trace", "record_event", {"batch": c, "event": both | {"eventID": OTHER}})
    r.record(declared(both))
    assert sql(r.c, "SELECT COUNT(*) FROM trace_events WHERE batch IN (?, ?, ?)",
               (a, b, c))[0][0] == 6  # the event and its declaration on each lot
    # the eventID names the event's hash once, however often the event is recorded
    assert sql(r.c, "SELECT COUNT(*) FROM state WHERE key LIKE 'trace/e/%/i'")[0][0] == 2
    assert run_audit(r.c.dir).ok


def test_v6_refuses_a_declaration_of_an_event_never_recorded(mill: FlourMill) -> None:
    r = Run(mill)
    a, b = r.lots("N1", "N2")
    r.record(ev(8, a))
    before = state(r.c)
    err = error_of(r.c, r.miller, "trace", "record_event",
                   {"batch": b, "event": declared(ev(9, b, eid=None))})
    assert isinstance(err, NotFound)
    assert "error declaration of event ni:///sha-256;" in err.message
    assert "which this ledger never recorded" in err.message
    # its eventID names a recorded event, but it does not repeat that event: say which
    err = error_of(r.c, r.miller, "trace", "record_events", doc(declared(ev(9, a))))
    assert isinstance(err, EPCISValidationError)
    assert [(e["event"], e["code"]) for e in err.errors] == [(0, NotFound.code)]
    assert f"its eventID {ID} is event ni:///sha-256;" in err.message
    assert f"recorded by transaction {tx_of(r.c, a)}" in err.message
    assert state(r.c) == before
    # the event and its declaration in one document: recorded, then declared
    r.record(ev(10, b, eid=OTHER), declared(ev(10, b, eid=OTHER)))
    assert run_audit(r.c.dir).ok


@pytest.fixture
def v5_mill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlourMill]:
    """A flour mill on a ledger an older release made: trace rules v5."""
    monkeypatch.setattr(consortium, "init_ledger",
                        partial(init_ledger, contracts=up_to("trace", 5)))
    c = Consortium(tmp_path / "ledger", clock=lambda: T0)
    yield build_flour_mill(c)
    c.stop()


def test_v5_still_takes_both(v5_mill: FlourMill) -> None:
    r = Run(v5_mill)
    a, b = r.lots("F1", "F2")
    r.record(ev(8, a))
    r.c.ok(r.miller, "trace", "record_event", {"batch": b, "event": ev(9, b)})
    r.record(declared(ev(10, b, eid=None)))
    assert sql(r.c, "SELECT COUNT(*) FROM state WHERE key LIKE 'trace/e/%/i'")[0][0] == 0
    assert run_audit(r.c.dir).ok


def test_a_ledger_adopted_from_v5_to_v6_audits_clean(v5_mill: FlourMill) -> None:
    """What v5 took stays; from the adoption on, v6 decides. eventIDs recorded under v5 are
    not known (v5 kept none); an event recorded under v5 may be declared wrong under v6."""
    r = Run(v5_mill)
    a, b, c = r.lots("A1", "A2", "A3")
    old = ev(8, a)
    r.record(old)
    r.record(ev(9, b))  # v5: another event under the same eventID
    r.record(declared(ev(10, b, eid=None)))  # v5: a declaration of no recorded event
    r.c.ok(r.c.admin, "rules", "adopt", {"contract": "trace", "version": 6})
    r.record(ev(11, c, eid=OTHER))
    err = error_of(r.c, r.miller, "trace", "record_events", doc(ev(12, c, eid=OTHER)))
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == InvalidState.code
    assert err.errors[0]["tx"] == tx_of(r.c, c)
    err = error_of(r.c, r.miller, "trace", "record_events", doc(declared(ev(13, c, eid=None))))
    assert err.errors[0]["code"] == NotFound.code
    # events recorded under v5 may be declared wrong under v6, each under the eventID
    # they share (v5 kept no eventIDs: a declaration checks them, claims none)
    r.record(declared(old))
    r.record(declared(ev(9, b)))
    report = run_audit(r.c.dir)
    assert report.ok, report.findings[:3]


def test_cli_import_reports_the_eventID_refusal(mill: FlourMill, tmp_path: Path) -> None:
    c, shop = mill.c, mill.parties["shop"]
    keyfile = tmp_path / "shop.key"
    write_key(keyfile, shop.key, "pw", KdfParams(n=2**10))
    c.ok(shop, "trace", "record_events", doc(ev(8, mill.flour)))
    first = tx_of(c, mill.flour)
    c.stop()  # the CLI runs its own node on the directory
    env = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node"}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({
        "@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2020-01-01T00:00:00Z",
        "epcisBody": {"eventList": [ev(9, mill.flour)]}}))
    before = state(c)
    args = ["epcis", "import", str(path), "--data", str(c.dir), "--key", str(keyfile)]
    out = CliRunner().invoke(app, args, env={**env, "COLUMNS": "400"})
    assert out.exit_code == 1
    assert out.output.startswith("refused doc.json: 1 of 1 events refused, none recorded; "
                                 f"event 0: eventID {ID} already names event"), out.output
    assert first in out.output
    out = CliRunner().invoke(app, [*args, "--json"], env=env)
    body = json.loads(out.output)
    assert out.exit_code == 1 and body["code"] == EPCISValidationError.code
    assert [(e["code"], e["tx"]) for e in body["errors"]] == [(InvalidState.code, first)]
    assert state(c) == before


# -- REST ------------------------------------------------------------------------------------
def capture_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                       "creationDate": "2020-01-01T00:00:00Z",
                       "epcisBody": {"eventList": list(events)}}).encode()


@pytest.mark.anyio
async def test_rest_capture_reports_both_refusals(api_client: httpx.AsyncClient,
                                                  api_world: World) -> None:
    headers = {**await bearer(api_client, "mill"), "content-type": "application/ld+json"}
    first = object_event(when(8), "storing", "active", api_world.batch, eventID=ID)
    r = await api_client.post("/epcis/capture", content=capture_body(first), headers=headers)
    assert r.status_code == 202, r.text
    tx = r.json()["captureID"]
    before = api_world.snapshot()[1]
    for event, code, says in (
            (object_event(when(9), "storing", "active", api_world.batch, eventID=ID),
             InvalidState.code, f"eventID {ID} already names event"),
            (declared(object_event(when(9), "storing", "active", api_world.batch)),
             NotFound.code, "which this ledger never recorded")):
        r = await api_client.post("/epcis/capture", content=capture_body(event), headers=headers)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "epcis_invalid" and says in err["message"], err
        assert [e["code"] for e in err["details"]["errors"]] == [code]
        if code == InvalidState.code:  # the transaction that recorded the first
            assert tx in err["message"] and err["details"]["errors"][0]["tx"] == tx
        job = (await api_client.get(f"/epcis/capture/{r.json()['captureID']}",
                                headers=headers)).json()
        assert job["success"] is False and job["errors"][0]["code"] == code
    assert api_world.snapshot()[1] == before
