"""Throughput of the EPCIS import path (validate + hash + normalise), for the benchmark command.

Why a helper rather than a test: speed depends on the machine, so it is measured and reported,
not asserted. This is the one module of :mod:`supplyledger.epcis` that reads a clock, and only
to time work; nothing in the pure core imports it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .document import parse_document

__all__ = ["epcis_throughput", "typical_document"]


def typical_document(n: int, *, seed: int = 0) -> dict[str, Any]:
    """An EPCISDocument of ``n`` typical shipping ObjectEvents, each with fresh identifiers.

    Modelled on the OpenEPCIS examples: three SGTINs, an SSCC-less shipment with a read point,
    business location, purchase order and despatch advice, source/destination parties, a
    non-UTC time zone and one user extension field.
    """
    events = []
    for i in range(n):
        k = seed * n + i
        when = f"2024-03-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:07.{k % 1000:03d}+01:00"
        events.append({
            "type": "ObjectEvent",
            "eventTime": when,
            "eventTimeZoneOffset": "+01:00",
            "epcList": [f"urn:epc:id:sgtin:4012345.011111.{k * 3 + j}" for j in range(3)],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "readPoint": {"id": f"urn:epc:id:sgln:4012345.00001.{k % 50}"},
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            "bizTransactionList": [
                {"type": "po", "bizTransaction": f"urn:epc:id:gdti:4012345.00001.{k}"},
                {"type": "desadv", "bizTransaction": f"urn:epcglobal:cbv:bt:4012345000016:{k}"},
            ],
            "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
            "destinationList": [
                {"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
            "example:shipmentRef": f"SHP-{k}",
        })
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-04-01T00:00:00.000Z",
        "epcisBody": {"eventList": events},
    }


def epcis_throughput(n: int = 10_000, *, repeat: int = 3,
                     timer: Callable[[], float] = time.perf_counter) -> float:
    """Events per second through :func:`parse_document` on one core -- JSON decoding,
    validation, CBV 2.0 hash IDs and normalisation of a capture document of ``n`` typical
    events. Best of ``repeat`` runs, each on fresh identifiers so the identifier caches start
    cold, as they do for new goods."""
    if n <= 0:
        raise ValueError("n must be positive")
    best = float("inf")
    for run in range(repeat):
        text = json.dumps(typical_document(n, seed=run + 1))
        start = timer()
        parsed = parse_document(text)
        elapsed = timer() - start
        if len(parsed.events) != n:  # pragma: no cover - guards the measurement itself
            raise RuntimeError("benchmark document did not parse completely")
        best = min(best, elapsed)
    return n / best
