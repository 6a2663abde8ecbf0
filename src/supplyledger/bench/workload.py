"""Realistic benchmark workload: EPCIS-sized trace events (400-800 bytes) from many
signers, pre-signed in worker processes so signing cost stays out of the measurement."""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import make_tx

__all__ = ["Signer", "epcis_event", "presign"]

_STEPS = [("commissioning", "active"), ("shipping", "in_transit"), ("receiving", "in_progress"),
          ("storing", "in_progress"), ("inspecting", "conformant"), ("packing", "in_progress"),
          ("loading", "in_transit"), ("departing", "in_transit"), ("arriving", "in_progress")]


@dataclass(frozen=True)
class Signer:
    did: str
    pkcs8: bytes


def epcis_event(rng: random.Random, batch: str, t_ms: int) -> dict[str, Any]:
    step, disp = rng.choice(_STEPS)
    gtin = f"0614141.{rng.randrange(100000, 999999)}"
    ev: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": f"2026-11-{1 + t_ms % 28:02d}T{t_ms % 24:02d}:{t_ms % 60:02d}:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"urn:epc:id:sgtin:{gtin}.{rng.randrange(10**6)}"
                    for _ in range(rng.randrange(1, 5))],
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": disp,
        "readPoint": {"id": f"urn:epc:id:sgln:0614141.{rng.randrange(10**5):05d}.0"},
        "bizLocation": {"id": f"urn:epc:id:sgln:0614141.{rng.randrange(10**5):05d}.0"},
        "bizTransactionList": [{"type": "po", "bizTransaction":
                                f"urn:epc:id:gdti:0614141.00001.{rng.randrange(10**6)}"}],
    }
    if rng.random() < 0.5:
        ev["sensorElementList"] = [{"sensorReport": [
            {"type": "Temperature", "value": f"{rng.randrange(20, 80) / 10}", "uom": "CEL"},
            {"type": "RelativeHumidity", "value": f"{rng.randrange(300, 700) / 10}",
             "uom": "A93"}]}]
    return ev


def _sign_chunk(args: tuple[str, list[Signer], list[int], int, int, int]) -> list[bytes]:
    chain, signers, seeds, batches, t0, nonce0 = args
    keys = [PrivateKey.from_pkcs8_der(s.pkcs8) for s in signers]
    out: list[bytes] = []
    for i, seed in enumerate(seeds):
        rng = random.Random(seed)
        key = keys[rng.randrange(len(keys))]
        batch = f"urn:epc:class:lgtin:0614141.107346.L{rng.randrange(batches)}"
        tx = make_tx(key, chain=chain, contract="trace", method="record_event",
                     args={"batch": batch, "event": epcis_event(rng, batch, t0 + i)},
                     time_ms=t0, nonce=nonce0 + i)
        out.append(tx.raw)
    return out


def presign(chain: str, signers: list[Signer], n: int, *, t0: int, seed: int = 1,
            nonce0: int = 0, workers: int = 2, progress: Any = None) -> list[bytes]:
    """Sign ``n`` trace transactions in ``workers`` processes; ``progress(k)`` is called as
    chunks finish."""
    batches = max(1, n // 20)
    chunk = 500
    jobs = [(chain, signers, list(range(seed * 10**9 + s, seed * 10**9 + min(n, s + chunk))),
             batches, t0, nonce0 + s) for s in range(0, n, chunk)]
    out: list[bytes] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_sign_chunk, jobs):
            out.extend(part)
            if progress is not None:
                progress(len(part))
    return out
