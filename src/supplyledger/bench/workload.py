"""Realistic benchmark workload: EPCIS-sized trace events (400-800 bytes) from many
signers, pre-signed in worker processes so signing cost stays out of the measurement."""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from supplyledger.gs1 import parse_epc
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import make_tx

__all__ = ["Signer", "batch_txs", "batch_urn", "batches_for", "epcis_event", "load_key",
           "presign"]

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
        "epcList": [f"urn:epc:id:sgtin:{gtin}.{serial}"  # distinct: EPCIS refuses repeats
                    for serial in rng.sample(range(10**6), rng.randrange(1, 5))],
        "quantityList": [{"epcClass": batch}],  # the batch it is recorded on (trace v3)
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": disp,
        "readPoint": {"id": f"urn:epc:id:sgln:0614141.{rng.randrange(10**5):05d}.0"},
        "bizLocation": {"id": f"urn:epc:id:sgln:0614141.{rng.randrange(10**5):05d}.0"},
        "bizTransactionList": [{"type": "po", "bizTransaction":
                                f"urn:epc:id:gdti:0614141.00001.{rng.randrange(10**6)}"}],
    }
    if rng.random() < 0.5:
        # EPCIS sensor values are JSON numbers; the ledger's encoding admits integers only.
        ev["sensorElementList"] = [{"sensorReport": [
            {"type": "Temperature", "value": rng.randrange(2, 8), "uom": "CEL"},
            {"type": "RelativeHumidity", "value": rng.randrange(30, 70), "uom": "A93"}]}]
    return ev


ORGS = 8  # the bench registers its signers round-robin into this many organisations


def batch_urn(b: int, signers: int) -> str:
    """Batch ``b`` of the workload: created by signer ``b % signers``, whose organisation
    owns the product type (one GTIN per organisation)."""
    return f"urn:epc:class:lgtin:0614141.10734{b % signers % ORGS}.L{b}"


def batch_txs(chain: str, signers: list[Signer], batches: int, *, t0: int) -> tuple[
        list[bytes], list[bytes]]:
    """The products the trace workload needs first: per organisation a product type, then
    every batch, created by the signer that will record its events (its custodian).
    Returned as two phases: the product types must be committed before the batches, since
    verifier workers may reorder transactions submitted together."""
    keys = _load_keys(signers)
    out = []
    for org in range(min(ORGS, len(keys))):
        gtin = parse_epc(batch_urn(org, len(keys))).gtin
        out.append(make_tx(keys[org], chain=chain, contract="products", method="create_product",
                           args={"gtin": gtin, "name": f"bench product {org}"}, time_ms=t0,
                           nonce=f"p{org}").raw)
    lots = []
    for b in range(batches):
        epc = parse_epc(batch_urn(b, len(keys)))
        lots.append(make_tx(keys[b % len(keys)], chain=chain, contract="products",
                            method="create_batch", args={"gtin": epc.gtin, "lot": epc.lot},
                            time_ms=t0, nonce=f"b{b}").raw)
    return out, lots


_LOADED: dict[bytes, PrivateKey] = {}


def load_key(pkcs8: bytes) -> PrivateKey:
    """A signing key, loaded once per (worker) process: loading an RSA key checks it
    (~80 ms here), which per chunk of transactions would cost more than the signing."""
    key = _LOADED.get(pkcs8)
    if key is None:
        key = _LOADED[pkcs8] = PrivateKey.from_pkcs8_der(pkcs8)
    return key


def _load_keys(signers: list[Signer]) -> list[PrivateKey]:
    return [load_key(s.pkcs8) for s in signers]


def _sign_chunk(args: tuple[str, list[Signer], list[int], int, int, int]) -> list[bytes]:
    chain, signers, seeds, batches, t0, nonce0 = args
    keys = _load_keys(signers)
    out: list[bytes] = []
    for i, seed in enumerate(seeds):
        rng = random.Random(seed)
        b = rng.randrange(batches)
        key = keys[b % len(keys)]  # the batch's creator and custodian records its events
        batch = batch_urn(b, len(keys))
        tx = make_tx(key, chain=chain, contract="trace", method="record_event",
                     args={"batch": batch, "event": epcis_event(rng, batch, t0 + i)},
                     time_ms=t0, nonce=nonce0 + i)
        out.append(tx.raw)
    return out


def batches_for(n: int) -> int:
    """Batches a workload of ``n`` events spreads over (about 20 events each)."""
    return max(1, n // 20)


def presign(chain: str, signers: list[Signer], n: int, *, t0: int, seed: int = 1,
            nonce0: int = 0, workers: int = 2, progress: Any = None) -> list[bytes]:
    """Sign ``n`` trace transactions in ``workers`` processes; ``progress(k)`` is called as
    chunks finish."""
    batches = batches_for(n)
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
