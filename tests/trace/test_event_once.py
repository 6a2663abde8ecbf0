"""An EPCIS event is recorded once per chain (trace rules v2): a re-sent capture (EPCIS
delivery is at-least-once) is refused as AlreadyExists naming the first recording, keeps
nothing, and consumes or packs no quantity twice. Runs on a real embedded node (the flour
mill of paper 002), and the rules switch on the in-memory commerce world."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from commerce.conftest import World, gtin
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.cli.main import app
from supplyledger.errors import AlreadyExists, EPCISValidationError
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import write_key

from .conftest import error_of, sql

WHEN = "2019-12-20T08:00:00.000+08:00"
SSCC = "https://id.gs1.org/00/340063810000000018"


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


def rows(c: Consortium, batch: str | None = None) -> int:
    if batch is None:
        return int(sql(c, "SELECT COUNT(*) FROM trace_events")[0][0])
    return int(sql(c, "SELECT COUNT(*) FROM trace_events WHERE batch = ?", (batch,))[0][0])


def balance(c: Consortium, batch: str) -> tuple[str, str, str]:
    r = sql(c, "SELECT consumed, packed, remaining FROM batches WHERE id = ?", (batch,))[0]
    return r[0], r[1], r[2]


def flour_lots(m: FlourMill, *lots: str) -> list[str]:
    flour_gtin = m.flour.split("/")[4]
    return [m.c.ok(m.parties["mill"], "products", "create_batch",
                   {"gtin": flour_gtin, "lot": lot, "quantity": "100", "uom": "KGM"})["batch"]
            for lot in lots]


def transform(src: str, kg: int, outs: list[str]) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": src, "quantity": kg, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": o} for o in outs],
            "bizStep": "commissioning", "disposition": "active"}


def test_record_event_twice_is_refused_naming_the_first(mill: FlourMill) -> None:
    c, shop, flour = mill.c, mill.parties["shop"], mill.flour
    ev = object_event(WHEN, "storing", "active", flour)
    first = c.call(shop, "trace", "record_event", {"batch": flour, "event": ev})
    assert first.ok
    n = rows(c)
    # the retry differs only in what the hash leaves out (eventID, recordTime)
    retry = ev | {"eventID": "urn:uuid:7a1c2f3e-0000-4000-8000-000000000001",
                  "recordTime": "2019-12-20T09:00:00.000+08:00"}
    err = error_of(c, shop, "trace", "record_event", {"batch": flour, "event": retry})
    assert isinstance(err, AlreadyExists)
    assert first.tx_id in err.message and f"on {flour}" in err.message
    assert err.message.startswith("event ni:///sha-256;")
    assert err.details["tx"] == first.tx_id and err.details["subject"] == flour
    assert rows(c) == n
    # another event (another time) is taken; so is the error declaration of the first, once
    later = object_event("2019-12-21T08:00:00.000+08:00", "storing", "active", flour)
    assert c.ok(shop, "trace", "record_event", {"batch": flour, "event": later})
    wrong = ev | {"errorDeclaration": {"declarationTime": "2019-12-22T08:00:00.000+08:00",
                                       "reason": "incorrect_data"}}
    assert c.ok(shop, "trace", "record_event", {"batch": flour, "event": wrong})
    err = error_of(c, shop, "trace", "record_event", {"batch": flour, "event": wrong})
    assert err.code == "already_exists" and "an error declaration of event" in err.message
    assert rows(c) == n + 2
    assert run_audit(c.dir).ok  # the audit re-executes the refusals alike


def test_document_resent_is_refused_whole_and_keeps_nothing(mill: FlourMill) -> None:
    c, shop, flour = mill.c, mill.parties["shop"], mill.flour
    a = object_event(WHEN, "storing", "active", flour)
    b = object_event("2019-12-21T08:00:00.000+08:00", "storing", "active", flour)
    cap = c.call(shop, "trace", "record_events", doc(a, b))
    assert cap.ok
    n = rows(c)
    err = error_of(c, shop, "trace", "record_events", doc(a, b))
    assert isinstance(err, AlreadyExists)
    assert err.message.startswith("the document was captured before: 2 of 2 events")
    assert cap.tx_id in err.message
    assert [(e["event"], e["code"], e["tx"]) for e in err.details["errors"]] == [
        (0, "already_exists", cap.tx_id), (1, "already_exists", cap.tx_id)]
    # a document with one new event and one already recorded: none of it is kept
    new = object_event("2019-12-22T08:00:00.000+08:00", "storing", "active", flour)
    err = error_of(c, shop, "trace", "record_events", doc(new, b))
    assert err.code == "already_exists" and err.message.startswith("1 of 2 events")
    assert rows(c) == n
    # the same event sent through record_event is the same event
    err = error_of(c, shop, "trace", "record_event", {"batch": flour, "event": a})
    assert err.code == "already_exists" and cap.tx_id in err.message
    # with another refusal in the document, it is invalid, each reason listed
    err = error_of(c, shop, "trace", "record_events",
                   doc(a, object_event(WHEN, "storing", "active", mill.wheat)))
    assert isinstance(err, EPCISValidationError)
    assert [e["code"] for e in err.errors] == ["already_exists", "forbidden"]
    assert rows(c) == n


def test_a_document_naming_one_event_twice_is_invalid(mill: FlourMill) -> None:
    c, shop, flour = mill.c, mill.parties["shop"], mill.flour
    n = rows(c)
    ev = object_event(WHEN, "storing", "active", flour)
    err = error_of(c, shop, "trace", "record_events", doc(ev, ev))
    assert isinstance(err, EPCISValidationError)
    assert [e["event"] for e in err.errors] == [1]
    assert "event 1 repeats event 0 of this document" in err.errors[0]["reason"]
    assert rows(c) == n


def test_a_transformation_consumes_once(mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    src, out1, out2 = flour_lots(mill, "S1", "O1", "O2")
    milling = transform(src, 40, [out1, out2])
    first = c.call(miller, "trace", "record_event", {"batch": out1, "event": milling})
    assert first.ok
    assert balance(c, src) == ("40", "0", "60")
    for again in ({"batch": out1, "event": milling}, doc(milling)):
        method = "record_event" if "batch" in again else "record_events"
        assert error_of(c, miller, "trace", method, again).code == "already_exists"
    assert balance(c, src) == ("40", "0", "60")
    # the other output's holder adds the event to its history: no second consumption
    assert c.ok(miller, "trace", "record_event", {"batch": out2, "event": milling})
    assert balance(c, src) == ("40", "0", "60")
    assert rows(c, out2) == 1
    links = sql(c, "SELECT src, dst FROM trace_links WHERE src = ?", (src,))
    assert sorted(links) == sorted([(src, out1), (src, out2)])  # from the first recording
    # now both outputs hold it: the whole document is a repeat
    err = error_of(c, miller, "trace", "record_events", doc(milling))
    assert err.message.startswith("the document was captured before")
    assert balance(c, src) == ("40", "0", "60")


def test_a_packing_packs_once(mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    (lot,) = flour_lots(mill, "P1")
    pack = {"type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "parentID": SSCC, "action": "ADD", "bizStep": "packing",
            "disposition": "in_progress",
            "childQuantityList": [{"epcClass": lot, "quantity": 30, "uom": "KGM"}]}
    assert c.ok(miller, "trace", "record_events", doc(pack))
    assert balance(c, lot) == ("0", "30", "70")
    for args in (doc(pack), {"batch": lot, "event": pack}):
        method = "record_event" if "batch" in args else "record_events"
        assert error_of(c, miller, "trace", method, args).code == "already_exists"
    assert balance(c, lot) == ("0", "30", "70")


def test_cli_import_twice_refuses_the_second_in_one_line(mill: FlourMill,
                                                         tmp_path: Path) -> None:
    c = mill.c
    keyfile = tmp_path / "shop.key"
    write_key(keyfile, mill.parties["shop"].key, "pw", KdfParams(n=2**10))
    c.stop()  # the CLI runs its own node on the directory
    env = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node"}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2020-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            object_event(WHEN, "storing", "active", mill.flour),
            object_event("2019-12-21T08:00:00.000+08:00", "storing", "active", mill.flour)]}}))
    args = ["epcis", "import", str(path), "--data", str(c.dir), "--key", str(keyfile)]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    n = rows(c)
    again = CliRunner().invoke(app, args, env={**env, "COLUMNS": "400"})
    assert again.exit_code == 1
    lines = again.output.strip().splitlines()
    assert len(lines) == 1, again.output
    assert lines[0].startswith("refused doc.json: the document was captured before: 2 of 2")
    assert rows(c) == n
    out = CliRunner().invoke(app, [*args, "--json"], env=env)
    body = json.loads(out.output)
    assert out.exit_code == 1 and body["code"] == "already_exists"
    assert [e["event"] for e in body["errors"]] == [0, 1]


def test_rules_v1_ledgers_keep_taking_repeats_until_v2_is_adopted() -> None:
    # A ledger made before v2 re-executes its history as it was decided: under v1 the same
    # event is taken again; after the adoption it is refused.
    w = World()
    maker = w.participant("manufacturer", "warehouse")
    w.ok(maker, "products", "create_product", {"gtin": gtin(7), "name": "thing"})
    lot = w.ok(maker, "products", "create_batch", {"gtin": gtin(7), "lot": "L1"})["batch"]
    ev = {"batch": lot, "event": object_event(WHEN, "storing", "active", lot)}
    assert w.ok(maker, "trace", "record_event", ev)["seq"] == 1
    assert w.ok(maker, "trace", "record_event", ev)["seq"] == 2
    w.ok(w.admin, "rules", "adopt", {"contract": "trace", "version": 2})
    assert w.ok(maker, "trace", "record_event", ev)["seq"] == 3  # the first under v2
    err = w.fail("already_exists", maker, "trace", "record_event", ev)
    assert err["details"]["subject"] == lot


@pytest.mark.parametrize("declared", [False, True])
def test_reads_hint_the_event_key(declared: bool) -> None:
    # the executor prefetches where the event is recorded in the block's batched read
    from supplyledger.contracts.builtin._trace_once import key
    from supplyledger.contracts.builtin._trace_reads import reads_many, reads_one

    f = {"type": "ObjectEvent", "hash": "ni:///sha-256;" + "ab" * 32 + "?ver=CBV2.0",
         "inputs": [], "outputs": [], "objects": [], "parent": "", "declares": declared}
    k = "trace/e/" + "ab" * 32 + ("/x" if declared else "")
    assert f"trace/{key(f)}" == k
    assert k in reads_one({"batch": "urn:x", "items": [f]})
    assert k in reads_many({"items": [f]})
