"""The curated public surface of supplyledger.epcis, and the benchmark helper's contract."""

from __future__ import annotations

import time

import pytest

import supplyledger.epcis as epcis
from supplyledger.epcis.bench import epcis_throughput, typical_document


def test_exports_are_exactly_what_we_mean() -> None:
    assert sorted(epcis.__all__) == sorted([
        "EVENT_TYPES", "HASH_VERSION", "EPCISEvent", "EPCISValidationError", "ParsedDocument",
        "QuantityElement", "build_document", "document_problems", "event_hash_id",
        "event_prehash", "event_problems", "parse_document", "parse_events",
        "validate_document",
    ])
    for name in epcis.__all__:
        assert getattr(epcis, name) is not None
    version, types = epcis.HASH_VERSION, epcis.EVENT_TYPES
    assert version == "CBV2.0"
    assert types == {"ObjectEvent", "AggregationEvent", "TransactionEvent",
                     "TransformationEvent", "AssociationEvent"}


def test_benchmark_document_is_valid_and_has_fresh_identifiers() -> None:
    doc = typical_document(20, seed=3)
    epcis.validate_document(doc)
    ids = [epc for e in doc["epcisBody"]["eventList"] for epc in e["epcList"]]
    assert len(ids) == len(set(ids)) == 60
    assert typical_document(20, seed=4)["epcisBody"]["eventList"][0]["epcList"] != ids[:3]


def test_throughput_helper_reports_events_per_second() -> None:
    ticks = iter(range(0, 1000, 2))  # a fake clock: every run takes 2 "seconds"
    assert epcis_throughput(50, repeat=2, timer=lambda: float(next(ticks))) == 25.0
    assert epcis_throughput(50, repeat=1, timer=time.perf_counter) > 0
    with pytest.raises(ValueError):
        epcis_throughput(0)
