"""EPCIS 2.0 validation: the OpenEPCIS corpus, and the schema + CBV rules one by one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from supplyledger.epcis import (
    EPCISValidationError,
    document_problems,
    parse_document,
    validate_document,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "epcis" / "openepcis"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"OpenEPCIS test documents not found at {DATA}")
VALID = sorted(DATA.glob("valid/*.json")) if DATA.is_dir() else []
INVALID = sorted(DATA.glob("invalid/*.json")) if DATA.is_dir() else []

# For each invalid document: (event index, substring its reason must contain) that must be
# among the problems reported -- the field that makes it invalid.
EXPECTED = {
    "Combination_of_events_with_missing_mandatory_fields.json": [
        (0, "action: is required"), (1, "eventTimeZoneOffset: is required"),
        (1, "action: is required")],
    "Combination_of_multiple_invalid_fields.json": [
        (0, "bizStep: 'transforming'"), (1, "disposition: 'in_transport'"),
        (2, "sourceList[0].type: 'place'"), (3, "ilmd.materialType"),
        (4, "eventTime: '22-07-2026'"), (4, "action: 'CREATE'")],
    "Combination_of_non_standard_bizStep_and_disposition.json": [
        (0, "bizStep: 'transforming'"), (1, "disposition: 'in_transport'")],
    "EPCISDocument_without_context.json": [(None, "@context: is required")],
    "ObjectEvent_with_ilmd_field_without_namespace.json": [
        (0, "ilmd.materialType: user extension fields must be namespaced")],
    "ObjectEvent_with_invalid_action.json": [(0, "action: 'CREATE' must be ADD")],
    "ObjectEvent_with_invalid_certificationInfo.json": [
        (0, "certificationInfo[1].gs1:CertificationDetails.gs1:certificationAuditDate")],
    "ObjectEvent_with_invalid_eventTime_format.json": [(0, "eventTime: '22-07-2026'")],
    "ObjectEvent_with_non_standard_bizStep.json": [(0, "bizStep: 'transforming'")],
    "ObjectEvent_with_non_standard_bizStep_in_second_event.json": [
        (1, "bizStep: 'transforming'")],
    "ObjectEvent_with_non_standard_disposition.json": [(0, "disposition: 'in_transport'")],
    "ObjectEvent_with_quantity_as_text.json": [
        (0, "quantityList[0].quantity: 'twenty' must be a number")],
    "ObjectEvent_with_unknown_field_in_quantityList.json": [
        (0, "quantityList[0].weight: unknown field")],
    "ObjectEvent_without_action_and_eventTime.json": [
        (0, "eventTime: is required"), (0, "action: is required")],
    "ObjectEvent_without_identifier_list.json": [(0, "ObjectEvent: needs epcList")],
}


@needs_data
def test_corpus_is_complete() -> None:
    assert len(VALID) == 38
    assert len(INVALID) == 15
    assert {p.name for p in INVALID} == set(EXPECTED)


@needs_data
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_documents_are_accepted(path: Path) -> None:
    doc = json.loads(path.read_bytes())
    assert document_problems(doc) == []
    validate_document(doc)


@needs_data
@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_documents_are_rejected_for_the_right_reason(path: Path) -> None:
    doc = json.loads(path.read_bytes())
    with pytest.raises(EPCISValidationError) as caught:
        validate_document(doc)
    errors = caught.value.errors
    for index, reason in EXPECTED[path.name]:
        assert any(e["event"] == index and reason in e["reason"] for e in errors), (
            f"expected ({index}, {reason!r}) among {errors}")
    # The rejection names no event the document does not contain.
    events = doc.get("epcisBody", {}).get("eventList", [])
    assert all(e["event"] is None or 0 <= e["event"] < len(events) for e in errors)


@needs_data
def test_sensor_data_edge_case_is_accepted_because_of_documented_tolerances() -> None:
    doc = json.loads((DATA / "valid" / "SensorData_with_combined_events.json").read_bytes())
    events = doc["epcisBody"]["eventList"]
    reports = [r for e in events for s in e.get("sensorElementList", [])
               for r in s["sensorReport"]]
    # what makes the official schema reject it -- and what we accept on purpose:
    assert any("type" not in r and "exception" in r for r in reports)
    assert any(r.get("type") == "Molar_concentration" for r in reports)
    assert any("bizRules" in r for r in reports)
    assert document_problems(doc) == []


# ----------------------------------------------------------------------------- unit rules
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"ex": "https://ns.example.com/epcis/"}]


def _event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T12:00:00.000+02:00",
        "eventTimeZoneOffset": "+02:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "action": "OBSERVE",
    }
    for key, value in fields.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": copy.deepcopy(CONTEXT), "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2024-05-01T12:00:00Z", "epcisBody": {"eventList": list(events)}}


def _reasons(*events: dict[str, Any]) -> list[str]:
    return [e["reason"] for e in document_problems(_doc(*events))]


def test_minimal_event_is_valid() -> None:
    assert _reasons(_event()) == []


@pytest.mark.parametrize(
    "value",
    ["shipping", "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/BizStep-shipping",
     "cbv:BizStep-shipping", "https://example.com/bizStep/inspecting", "ex:summarising",
     "urn:example:bizstep:x"],
)
def test_biz_step_standard_in_any_spelling_or_a_user_uri(value: str) -> None:
    assert _reasons(_event(bizStep=value)) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [("transforming", "neither a CBV 2.0 business step nor a URI"),
     ("Shipping", "neither a CBV 2.0 business step nor a URI"),
     ("urn:epcglobal:cbv:bizstep:transforming", "not a CBV 2.0 business step"),
     ("https://ref.gs1.org/cbv/BizStep-transforming", "not a CBV 2.0 business step"),
     ("https://ref.gs1.org/cbv/Disp-in_transit", "not a CBV 2.0 business step"),
     (42, "must be a string")],
)
def test_biz_step_non_standard_words_are_rejected(value: Any, why: str) -> None:
    reasons = _reasons(_event(bizStep=value))
    assert len(reasons) == 1 and reasons[0].startswith("bizStep: ") and why in reasons[0]


def test_disposition_and_persistent_disposition() -> None:
    assert _reasons(_event(disposition="urn:epcglobal:cbv:disp:in_transit")) == []
    assert _reasons(_event(persistentDisposition={"set": ["completeness_verified"],
                                                  "unset": ["completeness_inferred"]})) == []
    assert "persistentDisposition: needs set or unset" in _reasons(
        _event(persistentDisposition={}))
    assert any("persistentDisposition.set[0]" in r for r in _reasons(
        _event(persistentDisposition={"set": ["in_transport"]})))
    assert any("persistentDisposition.other" in r for r in _reasons(
        _event(persistentDisposition={"set": ["active"], "other": ["x"]})))


@pytest.mark.parametrize(
    ("value", "ok"),
    [("2024-05-01T12:00:00Z", True), ("2024-05-01T12:00:00.123456789-14:00", True),
     ("2024-02-29T00:00:00+01:00", True), ("2023-02-29T00:00:00+01:00", False),
     ("2024-05-01T12:00:00", False), ("2024-05-01 12:00:00Z", False),
     ("2024-13-01T12:00:00Z", False), ("22-07-2026", False), (1714557600, False)],
)
def test_event_time_needs_a_valid_date_time_with_offset(value: Any, ok: bool) -> None:
    reasons = _reasons(_event(eventTime=value))
    assert (reasons == []) is ok
    if not ok:
        assert reasons[0].startswith("eventTime: ")


@pytest.mark.parametrize(("value", "ok"), [("+02:00", True), ("-14:00", True), ("+14:00", True),
                                           ("+14:30", False), ("02:00", False), ("+2:00", False),
                                           ("Z", False)])
def test_time_zone_offset_format(value: str, ok: bool) -> None:
    assert (_reasons(_event(eventTimeZoneOffset=value)) == []) is ok


def test_quantity_elements_have_a_fixed_shape() -> None:
    good = {"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200.5,
            "uom": "KGM"}
    assert _reasons(_event(epcList=None, quantityList=[good])) == []
    reasons = _reasons(_event(quantityList=[{"quantity": True, "uom": "kg", "ex:note": "x"}]))
    assert "quantityList[0].quantity: True must be a number" in reasons
    assert any(r.startswith("quantityList[0].uom: 'kg'") for r in reasons)
    assert any(r.startswith("quantityList[0].ex:note: unknown field") for r in reasons)
    assert "quantityList[0].epcClass: is required" in reasons


def test_identifiers_must_be_uris_and_epc_urns_well_formed() -> None:
    reasons = _reasons(_event(epcList=["not a uri", "urn:epc:id:sgtin:0614141.10734.1",
                                       "https://id.gs1.org/01/09521234543214/21/1"]))
    assert any(r.startswith("epcList[0]: 'not a uri' is not a URI") for r in reasons)
    assert any(r.startswith("epcList[1]: invalid EPC") for r in reasons)
    assert len(reasons) == 2  # a Digital Link is only required to be a URI here
    dup = ["urn:epc:id:sgtin:0614141.107346.1"] * 2
    assert "epcList: contains duplicate identifiers" in _reasons(_event(epcList=dup))


def test_extensions_must_be_namespaced_at_every_attachment_point() -> None:
    assert _reasons(_event(**{"ex:a": {"plain": "nested children need no namespace"},
                              "https://ns.other.org/b": 1, "urn:x:c": 2})) == []
    reasons = _reasons(_event(**{"undeclared:a": 1, "plainField": 2},
                              readPoint={"id": "urn:epc:id:sgln:0614141.07346.0", "note": 1},
                              ilmd={"ex:ok": 1, "lot": "L1"}, action="ADD"))
    assert "undeclared:a: namespace prefix 'undeclared' is not declared in @context" in reasons
    assert "plainField: unknown field (user extensions must be namespaced)" in reasons
    assert any(r.startswith("readPoint.note: unknown field") for r in reasons)
    assert "ilmd.lot: user extension fields must be namespaced" in reasons


def test_event_level_context_declares_prefixes_for_that_event_only() -> None:
    with_ctx = _event(**{"@context": [{"own": "https://own.example/"}], "own:x": 1})
    without = _event(**{"own:x": 1})
    problems = document_problems(_doc(with_ctx, without))
    assert [p["event"] for p in problems] == [1]


def test_ilmd_only_with_add() -> None:
    assert _reasons(_event(action="ADD", ilmd={"ex:lot": "L1"})) == []
    assert "ilmd: is only allowed with action ADD, not OBSERVE" in _reasons(
        _event(ilmd={"ex:lot": "L1"}))


def test_what_rules_per_event_type() -> None:
    base = {"eventTime": "2024-05-01T12:00:00Z", "eventTimeZoneOffset": "+00:00"}
    agg = {**base, "type": "AggregationEvent", "action": "ADD",
           "childEPCs": ["urn:epc:id:sgtin:0614141.107346.1"]}
    assert "parentID: is required when action is ADD or DELETE" in _reasons(agg)
    assert _reasons({**agg, "action": "OBSERVE"}) == []
    assert _reasons({**agg, "parentID": "urn:epc:id:sscc:0614141.1234567890",
                     "childEPCs": [], "action": "DELETE"}) == []
    assert any("needs childEPCs" in r for r in _reasons(
        {**agg, "parentID": "urn:epc:id:sscc:0614141.1234567890", "childEPCs": []}))
    assoc = {**base, "type": "AssociationEvent", "action": "ADD",
             "childEPCs": ["urn:epc:id:giai:4000001.12345"]}
    assert "parentID: is required" in _reasons(assoc)
    tx = {**base, "type": "TransactionEvent", "action": "ADD", "epcList": []}
    assert "bizTransactionList: is required and must not be empty" in _reasons(tx)
    tf = {**base, "type": "TransformationEvent",
          "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.1"]}
    assert any("needs inputs and outputs" in r for r in _reasons(tf))
    assert _reasons({**tf, "transformationID": "urn:epc:id:gdti:0614141.12345.400"}) == []
    assert "action: is not allowed in an TransformationEvent" in _reasons({
        **tf, "outputEPCList": ["urn:epc:id:sgtin:0614141.107346.2"], "action": "ADD"})
    assert _reasons(_event(type="DeliveryEvent")) == [
        "type: 'DeliveryEvent' is not an EPCIS 2.0 event type"]


def test_object_event_identified_by_sensor_data_and_read_point() -> None:
    sensors = [{"sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}]}]
    assert _reasons(_event(epcList=None, sensorElementList=sensors,
                           readPoint={"id": "urn:epc:id:sgln:0614141.07346.0"})) == []
    assert any("needs epcList" in r for r in _reasons(
        _event(epcList=None, sensorElementList=sensors)))


def test_sensor_reports() -> None:
    def reasons(report: dict[str, Any]) -> list[str]:
        return _reasons(_event(sensorElementList=[{"sensorReport": [report]}]))

    assert reasons({"type": "gs1:Temperature", "value": 4, "uom": "CEL",
                    "component": "cbv:Comp-x", "hexBinaryValue": "0aF0",
                    "booleanValue": False, "exception": "ERROR_CONDITION"}) == []
    assert reasons({"exception": "ALARM_CONDITION", "booleanValue": True}) == []
    assert any("sensorReport[0].type: is required unless" in r for r in reasons({"value": 1}))
    assert any("component: 'north'" in r for r in reasons({"type": "Length",
                                                           "component": "north"}))
    assert any("hexBinaryValue" in r for r in reasons({"type": "Length",
                                                       "hexBinaryValue": "abc"}))
    assert any("value: '4' must be a number" in r for r in reasons({"type": "Length",
                                                                    "value": "4"}))
    assert any("type: 'not a term'" in r for r in reasons({"type": "not a term"}))
    assert any("sensorElementList[0].sensorReport: is required" in r
               for r in _reasons(_event(sensorElementList=[{"sensorMetadata": {}}])))


def test_source_destination_and_business_transactions() -> None:
    assert _reasons(_event(
        sourceList=[{"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00777"}],
        destinationList=[{"type": "urn:example:sdt:hub", "destination": "https://x.example/1"}],
        bizTransactionList=[{"bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"}],
    )) == []
    reasons = _reasons(_event(sourceList=[{"source": "urn:epc:id:pgln:0614141.00777"}],
                              bizTransactionList=[{"type": "purchase", "id": "x"}]))
    assert "sourceList[0].type: is required" in reasons
    assert any(r.startswith("bizTransactionList[0].type: 'purchase'") for r in reasons)
    assert any(r.startswith("bizTransactionList[0].id: unknown field") for r in reasons)
    assert "bizTransactionList[0].bizTransaction: is required" in reasons


def test_error_declaration_and_certification_info() -> None:
    assert _reasons(_event(
        errorDeclaration={"declarationTime": "2024-05-02T00:00:00Z", "reason": "incorrect_data",
                          "correctiveEventIDs": ["ni:///sha-256;ab?ver=CBV2.0"], "ex:by": "me"},
        certificationInfo=[
            "https://cert.example/1",
            {"gs1:CertificationDetails": {"gs1:certificationAuditDate": "2023-12-20"}}],
    )) == []
    reasons = _reasons(_event(errorDeclaration={"reason": "oops"},
                              certificationInfo=[{"gs1:CertificationDetails": {
                                  "gs1:certificationEndDate": "2023-02-30"}}]))
    assert "errorDeclaration.declarationTime: is required" in reasons
    assert any(r.startswith("errorDeclaration.reason: 'oops'") for r in reasons)
    assert any("gs1:certificationEndDate: '2023-02-30' is not a date" in r for r in reasons)


def test_document_level_rules() -> None:
    doc = _doc(_event())
    doc["schemaVersion"] = 2
    doc["@context"] = ["https://example.com/other-context.jsonld"]
    doc["sender"] = 7
    doc["comment"] = "x"
    reasons = [e["reason"] for e in document_problems(doc) if e["event"] is None]
    assert "schemaVersion: 2 must be \"2.0\"" in reasons
    assert "@context: must reference the EPCIS 2.0 JSON-LD context" in reasons
    assert "sender: must be a string" in reasons
    assert "comment: unknown document field" in reasons
    missing_body = _doc()
    del missing_body["epcisBody"]
    assert [e["reason"] for e in document_problems(missing_body)] == [
        "epcisBody: is required and must be an object"]


def test_bare_event_list_and_standalone_event() -> None:
    ev = _event(**{"ex:x": 1})
    assert document_problems(ev)[0]["reason"] == "@context: is required on a standalone event"
    assert document_problems({**ev, "@context": CONTEXT}) == []
    problems = document_problems([ev, _event(action="NOPE")],
                                 namespaces={"ex": "https://ns.example.com/epcis/"})
    assert [(p["event"], p["reason"][:6]) for p in problems] == [(1, "action")]
    assert document_problems("not a document")[0]["event"] is None


def test_all_problems_are_collected_and_the_error_summarises_them() -> None:
    doc = _doc(_event(action="CREATE", bizStep="transforming"), _event(eventTime="yesterday"))
    with pytest.raises(EPCISValidationError) as caught:
        validate_document(doc)
    err = caught.value
    assert [e["event"] for e in err.errors] == [0, 0, 1]
    assert err.message.startswith("EPCIS event 0: action: 'CREATE'")
    assert err.message.endswith("(and 2 more)")
    assert err.to_dict()["code"] == "epcis_invalid"


def test_arrays_and_objects_where_a_word_belongs_are_reported_not_raised() -> None:
    # (the validator used to fail with TypeError: unhashable type)
    assert _reasons(_event(action=["ADD"])) == ["action: ['ADD'] must be ADD, OBSERVE or DELETE"]
    assert _reasons(_event(type={"x": 1})) == ["type: {'x': 1} is not an EPCIS 2.0 event type"]
    assert document_problems({"type": ["EPCISEvent"], "@context": CONTEXT})[0]["reason"] == (
        "type: ['EPCISEvent'] must be EPCISDocument")


@pytest.mark.parametrize("when", ["0000-06-01T00:00:00Z", "0000-06-01T00:00:00+02:00",
                                  "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_times_outside_years_1_to_9999_are_refused_not_crashed(when: str) -> None:
    event = {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+00:00",
             "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"], "action": "OBSERVE"}
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2024-01-01T00:00:00Z", "epcisBody": {"eventList": [event]}}
    reasons = [e["reason"] for e in document_problems(doc)]
    assert any(r.startswith("eventTime:") for r in reasons), reasons
    with pytest.raises(EPCISValidationError):
        parse_document(doc)
