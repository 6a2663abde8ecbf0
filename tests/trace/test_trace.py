"""trace: EPCIS events per batch, who may record which link, the code chain, and the trace
and recall queries that verify every event and locate the faulty link (paper 002)."""

from __future__ import annotations

import json

from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, build_flour_mill, gtin, object_event
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.audit import run_audit

from .conftest import error_of, queries, sql

WHEN = "2019-12-19T08:00:00.000+08:00"


def test_flour_mill_genealogy_verified_in_order(mill: FlourMill) -> None:
    res = queries(mill.c).trace(mill.flour)
    assert res["upstream"] == [mill.wheat] and res["downstream"] == []
    assert [(e["batch"], e["link"]) for e in res["events"]] == [
        (mill.wheat, "production"), (mill.wheat, "inspection"), (mill.flour, "processing"),
        (mill.flour, "storage"), (mill.flour, "transport"), (mill.flour, "sales")]
    heights = [e["height"] for e in res["events"]]
    assert heights == sorted(heights)
    assert res["faults"] == [] and res["faulty_link"] is None
    assert all(e["proof"]["verified"] and e["hash_id"].startswith("ni:///sha-256;")
               for e in res["events"])
    assert [e["signer_name"] for e in res["events"]] == [
        "farm", "inspector", "mill", "mill", "carrier", "shop"]
    assert all(c["ok"] for c in res["chains"])
    down = queries(mill.c).trace(mill.wheat)
    assert down["downstream"] == [mill.flour] and down["events_total"] == 6
    assert run_audit(mill.c.dir).ok


def test_recall_reaches_lots_units_shipments_and_holders(mill: FlourMill) -> None:
    c, p = mill.c, mill.parties
    sscc = "https://id.gs1.org/00/340063810000000018"
    c.ok(p["shop"], "trace", "record_event", {"batch": mill.flour, "event": {
        "type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
        "parentID": sscc, "childQuantityList": [{"epcClass": mill.flour, "quantity": 40,
                                                "uom": "KGM"}],
        "action": "ADD", "bizStep": "packing", "disposition": "in_progress"}})
    res = queries(c).recall(mill.wheat)
    assert res["counts"] == {"lot": 2, "logistic_unit": 1, "shipment": 1, "object": 0}
    lots = {a["id"]: a for a in res["affected"] if a["kind"] == "lot"}
    assert lots[mill.flour]["custodian_org"] == "shop"
    assert lots[mill.wheat]["custodian_org"] == "mill"
    assert [a["id"] for a in res["affected"] if a["kind"] == "shipment"] == [
        "urn:example:bol:7731"]
    page2 = queries(c).recall(mill.wheat, page=2, page_size=2)
    assert page2["pages"] == 2 and len(page2["affected"]) == 2


def test_only_the_entitled_party_records_a_link(mill: FlourMill) -> None:
    c, p, flour = mill.c, mill.parties, mill.flour
    unknown = flour.replace("20191215003", "NOPE")
    err = error_of(c, p["shop"], "trace", "record_event",
                   {"batch": unknown, "event": object_event(WHEN, "storing", "active", unknown)})
    assert err.code == "not_found"
    # custody went mill -> carrier -> shop: the carrier may no longer record transport
    err = error_of(c, p["carrier"], "trace", "record_event", {"batch": flour, "event":
                   object_event(WHEN, "transporting", "in_transit", flour)})
    assert err.code == "forbidden" and "custodian (shop)" in err.message
    err = error_of(c, p["farm"], "trace", "record_event", {"batch": flour, "event":
                   object_event(WHEN, "commissioning", "active", flour, action="ADD")})
    assert err.code == "forbidden"
    assert c.ok(p["inspector"], "trace", "record_event", {"batch": flour, "event":
                object_event(WHEN, "inspecting", "conformant", flour)})["seq"] == 5
    assert c.ok(p["shop"], "trace", "record_event", {"batch": flour, "event":
                object_event(WHEN, "storing", "active", flour)})["seq"] == 6
    err = error_of(c, p["shop"], "trace", "record_event", {"batch": flour, "prev": "0" * 64,
                   "event": object_event("2019-12-20T08:00:00.000+08:00", "storing", "active",
                                         flour)})
    assert err.code == "invalid_state"  # a stale view of the code chain
    bad = object_event(WHEN, "storing", "active", flour)
    del bad["action"]
    assert error_of(c, p["shop"], "trace", "record_event",
                    {"batch": flour, "event": bad}).code == "epcis_invalid"
    # a transformation needs custody of its inputs (the wheat is the mill's)
    new = c.ok(p["farm"], "products", "create_batch", {"gtin": gtin("690123400001"),
                                                       "lot": "W2"})["batch"]
    err = error_of(c, p["farm"], "trace", "record_event", {"batch": new, "event": {
        "type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
        "inputQuantityList": [{"epcClass": mill.wheat, "quantity": 1}],
        "outputQuantityList": [{"epcClass": new, "quantity": 1}]}})
    assert err.code == "forbidden" and mill.wheat in err.message


def test_failed_inspection_and_sensor_breaches_are_flagged(consortium: Consortium) -> None:
    m = build_flour_mill(consortium, faulty=True)
    res = queries(m.c).trace(m.flour)
    assert res["faulty_link"]["link"] == "processing"
    assert res["faulty_link"]["reason"] == "disposition: non_conformant"
    c, p, flour = m.c, m.parties, m.flour
    c.ok(p["inspector"], "trace", "record_event", {"batch": flour, "event": object_event(
        WHEN, "inspecting", "non_conformant", flour)})
    c.ok(p["shop"], "trace", "record_event", {"batch": flour, "event": object_event(
        WHEN, "storing", "active", flour, sensorElementList=[{"sensorReport": [
            {"type": "Temperature", "value": 35, "uom": "CEL"}]}])})
    c.ok(p["shop"], "trace", "record_event", {"batch": flour, "event": object_event(
        WHEN, "storing", "active", flour, sensorElementList=[{"sensorReport": [
            {"type": "Temperature", "exception": "ALARM_CONDITION"}]}])})
    faults = {(f["seq"], f["kind"], f["reason"]) for f in queries(c).trace(flour)["faults"]}
    assert (5, "inspection", "inspection failed: non_conformant") in faults
    assert (6, "sensor", "Temperature 35 CEL above the limit 30 CEL") in faults
    assert (7, "sensor", "sensor alarm: Temperature ALARM_CONDITION") in faults


def test_tampered_row_and_transaction_are_located(mill: FlourMill) -> None:
    c = mill.c
    batch, seq = mill.events["storage"]
    sql(c, "UPDATE trace_events SET disposition='conformant' WHERE batch=? AND seq=?",
        (batch, seq))
    first = queries(c).trace(mill.wheat)["faulty_link"]
    assert (first["seq"], first["link"], first["kind"]) == (seq, "storage", "row")
    assert "disposition 'conformant' (ledger: 'sellable_not_accessible')" in first["reason"]
    sql(c, "UPDATE trace_events SET disposition='sellable_not_accessible' WHERE batch=? AND "
        "seq=?", (batch, seq))
    assert queries(c).trace(mill.wheat)["faults"] == []
    # now the stored transaction of the transport event: edit the event inside it
    batch, seq = mill.events["transport"]
    tx = sql(c, "SELECT tx FROM trace_events WHERE batch=? AND seq=?", (batch, seq))[0][0]
    raw = bytes(sql(c, "SELECT raw FROM txs WHERE id=?", (tx,))[0][0])
    env_bytes, sig = envelope_bytes_of(raw)
    env = decode(env_bytes)
    env["args"]["event"]["disposition"] = "in_progress"
    sql(c, "UPDATE txs SET raw=? WHERE id=?",
        (b'{"env":' + canonical(env) + b',"sig":"' + sig.encode() + b'"}', tx))
    res = queries(c).trace(mill.flour)
    kinds = {f["kind"] for f in res["faults"] if f["seq"] == seq}
    assert {"tx_hash", "proof", "chain"} <= kinds
    assert res["faulty_link"]["link"] == "transport"
    assert [ch["broken_at"] for ch in res["chains"] if ch["batch"] == batch] == [seq]
    assert not run_audit(c.dir).ok


def test_long_history_pages(consortium: Consortium) -> None:
    c = consortium
    c.org("wh", ["manufacturer", "warehouse"])
    w = c.member("wh", "wh", ["manufacturer", "warehouse"])
    g = gtin("690123400009")
    c.ok(w, "products", "create_product", {"gtin": g, "name": "Rice"})
    b = c.ok(w, "products", "create_batch", {"gtin": g, "lot": "R1"})["batch"]
    futs = [c.node.submit(c.tx(w.key, "trace", "record_event", {"batch": b, "event":
            object_event(f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z", "stocking", "active",
                         b)})) for i in range(120)]
    assert all(f.result(60).ok for f in futs)
    q = queries(c)
    seen = []
    for page in (1, 2, 3):
        res = q.trace(b, page=page, page_size=50)
        assert res["pages"] == 3 and res["events_total"] == 120 and res["faults"] == []
        seen += [e["seq"] for e in res["events"]]
    assert seen == list(range(1, 121))
    assert json.dumps(res)  # the result is plain JSON


def test_ecommerce_stages_map_to_links(consortium: Consortium) -> None:
    c = consortium
    c.org("brand", ["supplier", "manufacturer", "warehouse", "transporter", "platform"])
    s = c.member("ops", "brand", ["supplier", "manufacturer", "warehouse", "transporter",
                                  "platform"])
    g = gtin("690123400016")
    c.ok(s, "products", "create_product", {"gtin": g, "name": "Phone case"})
    b = c.ok(s, "products", "create_batch", {"gtin": g, "lot": "E1"})["batch"]
    stages = [("supplier", "commissioning", "production"), ("warehouse", "storing", "storage"),
              ("sorting centre", "picking", "storage"),
              ("distribution", "departing", "transport"),
              ("last mile", "transporting", "transport"), ("customer", "retail_selling", "sales")]
    for _, step, _ in stages:
        c.ok(s, "trace", "record_event", {"batch": b, "event": object_event(
            WHEN, step, "active", b, action="ADD" if step == "commissioning" else "OBSERVE")})
    links = [e["link"] for e in queries(c).trace(b)["events"]]
    assert links == [link for _, _, link in stages]


def test_a_long_lived_query_object_still_sees_tampering(mill: FlourMill) -> None:
    c = mill.c
    q = queries(c)  # its caches are warm after the first trace
    assert q.trace(mill.flour)["faults"] == []
    batch, seq = mill.events["sales"]
    tx = sql(c, "SELECT tx FROM trace_events WHERE batch=? AND seq=?", (batch, seq))[0][0]
    receipt = bytes(sql(c, "SELECT receipt FROM txs WHERE id=?", (tx,))[0][0])
    sql(c, "UPDATE txs SET receipt=? WHERE id=?", (receipt.replace(b'"ok":true', b'"ok":1'),
                                                   tx))
    first = q.trace(mill.flour)["faulty_link"]
    assert (first["seq"], first["kind"]) == (seq, "proof")
