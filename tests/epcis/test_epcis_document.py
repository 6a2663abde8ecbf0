"""Parsing into normalised events, building documents, and the parse -> build round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import supplyledger.epcis as epcis
from supplyledger.epcis import (
    EPCISEvent,
    EPCISValidationError,
    QuantityElement,
    build_document,
    document_problems,
    parse_document,
    validate_document,
)
from supplyledger.errors import ValidationError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "epcis" / "openepcis"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"OpenEPCIS test documents not found at {DATA}")
VALID = sorted(DATA.glob("valid/*.json")) if DATA.is_dir() else []


@needs_data
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_round_trip_keeps_validity_and_hash_ids(path: Path) -> None:
    parsed = parse_document(path)
    assert parsed.events, "every corpus document has events"
    doc = build_document(parsed.events, sender=parsed.sender, receiver=parsed.receiver)
    validate_document(doc)
    again = parse_document(json.dumps(doc))  # through JSON text, as a partner would get it
    assert [e.hash_id for e in again.events] == [e.hash_id for e in parsed.events]
    # export gives back what was captured; only an event-level @context may be added
    for before, after in zip(parsed.events, again.events, strict=True):
        assert _without_context(after.raw) == _without_context(before.raw)


def _without_context(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "@context"}


@needs_data
def test_events_from_many_documents_share_one_document_safely() -> None:
    # Prefixes clash across the corpus ("example" is declared with and without a trailing
    # slash, TransformationEvent_all_possible_fields redefines cbvmda, some events use an
    # undeclared "example:x" as a plain IRI): each event must keep its meaning.
    events = [e for path in VALID for e in parse_document(path).events]
    doc = build_document(events)
    assert document_problems(doc) == []
    again = parse_document(doc).events
    assert [e.hash_id for e in again] == [e.hash_id for e in events]
    assert doc["creationDate"] == max(e.event_time for e in events)


@needs_data
def test_normalised_fields() -> None:
    events = parse_document(DATA / "valid" / "ObjectEvent.json").events
    first, second = events
    assert isinstance(first, EPCISEvent)
    assert first.event_type == "ObjectEvent"
    assert first.event_time == "2005-04-04T02:33:31.116Z"  # -06:00 and microseconds, in UTC
    assert first.event_time_zone_offset == "-06:00"
    assert first.biz_step == "https://ref.gs1.org/cbv/BizStep-shipping"
    assert first.disposition == "https://ref.gs1.org/cbv/Disp-in_transit"
    assert first.read_point == "https://id.gs1.org/414/0614141073467/254/1234"
    assert first.epcs == {"epcList": ("https://id.gs1.org/01/10614141073464/21/2017",
                                      "https://id.gs1.org/01/10614141073464/21/2018")}
    assert first.all_epcs == first.epcs["epcList"]
    assert first.biz_transactions == (("https://ref.gs1.org/cbv/BTT-po",
                                       "http://transaction.acme.com/po/12345678"),)
    assert first.event_id == first.raw["eventID"]
    assert second.biz_location == "https://id.gs1.org/414/0012345111112"
    assert second.extensions == {
        "http://ns.example.com/epcis/myField": "Example of a vendor/user extension"}
    assert second.namespaces == {"example": "http://ns.example.com/epcis/"}
    assert second.hash_id == epcis.event_hash_id(
        second.raw, terms={"example": "http://ns.example.com/epcis/"})


@needs_data
def test_normalised_aggregation_transformation_and_ilmd() -> None:
    (agg,) = parse_document(DATA / "valid" / "AggregationEvent_all_possible_fields.json").events
    assert agg.parent_id == "https://id.gs1.org/00/106141412345678908"
    assert agg.all_epcs[0] == agg.parent_id and len(agg.all_epcs) == 3
    assert agg.quantities["childQuantityList"][1] == QuantityElement(
        "https://id.gs1.org/01/04012345123456/10/998877", 200.5, "KGM")
    assert ("https://ref.gs1.org/cbv/SDT-possessing_party",
            "https://id.gs1.org/417/4012345002256") in agg.sources
    (tf,) = parse_document(DATA / "valid" / "TransformationEvent_all_possible_fields.json").events
    assert tf.transformation_id == "https://id.gs1.org/253/0614141123452400"
    assert tf.ilmd["http://example.com/cbvmda/lotNumber"] == "ABC123"  # redefined cbvmda
    assert tf.ilmd["http://example.com/ext1/object"]["http://example.com/ext2/string"] == (
        "stringInObject")
    assert tf.record_time is None and tf.action is None


def _doc(*events: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                         {"ex": "https://ns.example.com/epcis/"}],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2024-05-01T12:00:00Z", "epcisBody": {"eventList": list(events)},
            **extra}


EVENT = {"type": "ObjectEvent", "eventTime": "2024-05-01T12:00:00.000+02:00",
         "eventTimeZoneOffset": "+02:00", "epcList": ["urn:epc:id:sgtin:0614141.107346.1"],
         "action": "OBSERVE", "ex:ref": "A1"}


def test_parse_accepts_json_text_bytes_paths_lists_and_single_events(tmp_path: Path) -> None:
    doc = _doc(EVENT, sender="urn:epc:id:pgln:0614141.00777")
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    results = [parse_document(doc), parse_document(json.dumps(doc)),
               parse_document(json.dumps(doc).encode()), parse_document(path)]
    assert len({r.events[0].hash_id for r in results}) == 1
    assert all(r.sender == "urn:epc:id:pgln:0614141.00777" for r in results)
    assert results[0].creation_date == "2024-05-01T12:00:00Z"
    assert results[0].namespaces == {"ex": "https://ns.example.com/epcis/"}
    bare = parse_document([EVENT], namespaces={"ex": "https://ns.example.com/epcis/"})
    single = parse_document({**EVENT, "@context": doc["@context"]})
    assert bare.events[0].hash_id == single.events[0].hash_id == results[0].events[0].hash_id


def test_parse_rejects_invalid_documents_with_every_problem() -> None:
    bad = _doc(dict(EVENT, action="CREATE"), dict(EVENT, bizStep="transforming"))
    with pytest.raises(EPCISValidationError) as caught:
        parse_document(bad)
    assert [e["event"] for e in caught.value.errors] == [0, 1]
    # callers that validated already (or want a best-effort parse) can skip it
    assert len(parse_document(bad, validate=False).events) == 2


def test_build_document_shape_and_options() -> None:
    parsed = parse_document(_doc(EVENT, dict(EVENT, eventTime="2024-05-02T00:00:00Z")))
    doc = build_document(parsed.events, sender="urn:epc:id:pgln:0614141.00777",
                         instance_identifier="42", assign_event_ids=True)
    assert doc["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                               {"ex": "https://ns.example.com/epcis/"}]
    assert (doc["type"], doc["schemaVersion"]) == ("EPCISDocument", "2.0")
    assert doc["creationDate"] == "2024-05-02T00:00:00.000Z"  # latest event; no clock here
    assert doc["sender"] == "urn:epc:id:pgln:0614141.00777" and "receiver" not in doc
    assert [e["eventID"] for e in doc["epcisBody"]["eventList"]] == [
        e.hash_id for e in parsed.events]
    assert "eventID" not in parsed.events[0].raw  # building never mutates what was parsed
    validate_document(doc)
    explicit = build_document(parsed.events, creation_date="2030-01-01T00:00:00Z")
    assert explicit["creationDate"] == "2030-01-01T00:00:00Z"


def test_build_from_raw_events_and_empty_documents() -> None:
    raw = dict(EVENT, **{"@context": {"ex": "https://ns.example.com/epcis/"}})
    doc = build_document([raw], assign_event_ids=True)
    validate_document(doc)
    assert doc["epcisBody"]["eventList"][0]["eventID"] == parse_document(doc).events[0].hash_id
    with pytest.raises(ValidationError, match="creation_date is required"):
        build_document([])
    empty = build_document([], creation_date="2024-01-01T00:00:00Z")
    assert document_problems(empty) == []
    assert empty["epcisBody"]["eventList"] == []


def test_clashing_prefixes_get_event_level_contexts() -> None:
    one = parse_document(_doc(EVENT)).events[0]
    other_doc = _doc(EVENT)
    other_doc["@context"][1] = {"ex": "https://elsewhere.example/"}
    two = parse_document(other_doc).events[0]
    assert one.hash_id != two.hash_id  # same text, different meaning
    doc = build_document([one, two])
    assert len(doc["@context"]) == 1  # nothing shared by both
    contexts = [e["@context"] for e in doc["epcisBody"]["eventList"]]
    assert contexts == [[{"ex": "https://ns.example.com/epcis/"}],
                        [{"ex": "https://elsewhere.example/"}]]
    assert [e.hash_id for e in parse_document(doc).events] == [one.hash_id, two.hash_id]
