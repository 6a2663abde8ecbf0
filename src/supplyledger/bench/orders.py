"""``supplyledger bench-orders``: complete order lifecycles per second in the embedded node.

A lifecycle is five signed transactions, each depending on the one before: place (buyer:
price and freight into escrow), dispatch (seller: transporter and transport order number),
pickup (transporter: custody hand-over 1), deliver (transporter: hand-over 2 to the buyer,
delivery recorded) and confirm (buyer: receipt confirmed, which releases the escrow at once
— seller paid, freight paid, ownership to the buyer — as paper 000's eq. 7 has it). The
other release path, ``release`` by anyone after the dispute period, needs the period to pass
and is left to the tests.

Phases: set up a consortium (bank, buyers, sellers with one product and a batch per order,
transporters) and fund the buyers; pre-sign every lifecycle in worker processes (not timed);
then run many independent lifecycles at once, each submitting its next transaction when the
previous one's receipt arrives (so dependencies hold whatever order the verifier processes
finish in). Also timed, for comparison: the same transactions through the executor alone
(one core, no signatures, no storage), which bounds what the contracts themselves allow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from supplyledger.bench.workdir import kept, ledger_dir
from supplyledger.bench.workload import load_key
from supplyledger.contracts.executor import Executor
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import call_from_env
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx, parse_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["STEPS", "run_orders_bench", "sign_all"]

STEPS = ("place", "dispatch", "pickup", "deliver", "confirm")
Progress = Callable[[str, int, int], None]
Job = tuple[int, str, str, dict[str, Any], str]  # signer index, contract, method, args, nonce
_PRICE, _FREIGHT, _QTY = 1_250, 300, 4


def _noop(stage: str, done: int, total: int) -> None:
    pass


def _gtin(n: int) -> str:
    body = f"9506000{n:05d}"
    return body + str(gtin_check_digit(body))


def _sign_chunk(args: tuple[str, list[bytes], list[Job], int]) -> list[bytes]:
    chain, pkcs8s, jobs, t0 = args
    out = []
    for who, contract, method, a, nonce in jobs:
        out.append(make_tx(load_key(pkcs8s[who]), chain=chain, contract=contract,
                           method=method, args=a, time_ms=t0, nonce=nonce).raw)
    return out


def sign_all(chain: str, keys: list[PrivateKey], jobs: list[Job], *, t0: int,
             workers: int = 2, progress: Callable[[int], None] | None = None) -> list[bytes]:
    """Sign ``jobs`` in worker processes, in order (signing is not what is measured)."""
    pkcs8s = [k.pkcs8_der() for k in keys]
    chunks = [(chain, pkcs8s, jobs[s:s + 1000], t0) for s in range(0, len(jobs), 1000)]
    out: list[bytes] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_sign_chunk, chunks):
            out.extend(part)
            if progress is not None:
                progress(len(out))
    return out


class _Cast:
    """The bench's participants: key index 0 is the admin, then bank, buyers, sellers,
    transporters."""

    def __init__(self, sig: str, buyers: int, sellers: int, carriers: int) -> None:
        self.keys = [generate(sig) for _ in range(2 + buyers + sellers + carriers)]
        self.bank = 1
        self.buyers = list(range(2, 2 + buyers))
        self.sellers = list(range(2 + buyers, 2 + buyers + sellers))
        self.carriers = list(range(2 + buyers + sellers, len(self.keys)))

    def did(self, i: int) -> str:
        return self.keys[i].did


_ORGS = {"bank": "settlement", "shoppers": "customer", "makers": "manufacturer",
         "haulers": "transporter"}


def _setup_jobs(c: _Cast, lifecycles: int) -> tuple[list[list[Job]], list[str]]:
    """Waves of setup transactions (each wave may run in any order) and the batch id of
    each lifecycle."""
    orgs = [(0, "identity", "register_org", {"id": o, "name": o, "roles": [r]}, f"o-{o}")
            for o, r in _ORGS.items()]
    groups = [("bank", [c.bank]), ("shoppers", c.buyers), ("makers", c.sellers),
              ("haulers", c.carriers)]
    members = [(0, "identity", "register_member",
                {"org": org, "public_key": c.keys[i].public.b64, "name": f"m{i}",
                 "roles": [_ORGS[org]]}, f"m-{i}") for org, idx in groups for i in idx]
    money = [(c.bank, "payments", "deposit",
              {"account": c.did(b), "currency": "EUR",
               "amount": (lifecycles // len(c.buyers) + 1) * (_PRICE * _QTY + _FREIGHT)},
              f"d-{b}") for b in c.buyers]
    products = [(s, "products", "create_product", {"gtin": _gtin(k), "name": f"item {k}"},
                 f"p-{k}") for k, s in enumerate(c.sellers)]
    sale = [(s, "products", "declare_for_sale", {"id": _gtin(k)}, f"s-{k}")
            for k, s in enumerate(c.sellers)]
    lots, batch_ids = [], []
    for i in range(lifecycles):
        k = i % len(c.sellers)
        lots.append((c.sellers[k], "products", "create_batch", {"gtin": _gtin(k),
                                                                "lot": f"B{i}"}, f"b-{i}"))
        batch_ids.append(f"https://id.gs1.org/01/{_gtin(k).zfill(14)}/10/B{i}")
    return [orgs, members, money + products, sale + lots], batch_ids


def _lifecycle_jobs(c: _Cast, i: int, batch: str, now: int) -> list[Job]:
    k = i % len(c.sellers)
    buyer, seller = c.buyers[i % len(c.buyers)], c.sellers[k]
    carrier, oid = c.carriers[i % len(c.carriers)], f"bench-{i}"
    order = {"order": oid}
    return [
        (buyer, "orders", "place", {
            "id": oid, "seller": c.did(seller), "product": _gtin(k), "quantity": _QTY,
            "unit_price": _PRICE, "freight": _FREIGHT, "currency": "EUR", "earliest": now,
            "latest": now + 86_400_000}, f"{oid}-0"),
        (seller, "orders", "dispatch", {**order, "transporter": c.did(carrier),
                                        "transport_no": f"TN-{i}", "batch": batch}, f"{oid}-1"),
        (carrier, "orders", "pickup", order, f"{oid}-2"),
        (carrier, "orders", "deliver", {**order, "proof": f"pod-{i}"}, f"{oid}-3"),
        (buyer, "orders", "confirm", order, f"{oid}-4"),
    ]


def _drive(node: Node, chains: list[list[bytes]], window: int,
           progress: Progress) -> tuple[float, int, str | None]:
    """Run every chain, at most ``window`` at a time; each transaction is submitted when
    its predecessor's receipt arrives. Returns (seconds, failed chains, first error)."""
    n = len(chains)
    slots = threading.Semaphore(window)
    finished = threading.Semaphore(0)
    errors: list[str] = []

    def submit(i: int, k: int) -> None:
        node.submit(chains[i][k]).add_done_callback(lambda f: done(i, k, f))

    def done(i: int, k: int, fut: Any) -> None:
        exc = fut.exception()
        err = str(exc) if exc is not None else (
            None if fut.result().ok else str(fut.result().error))
        if err is None and k + 1 < len(chains[i]):
            submit(i, k + 1)
            return
        if err is not None:
            errors.append(f"{STEPS[k]}: {err}")
        slots.release()
        finished.release()

    t0 = time.perf_counter()
    for i in range(n):
        slots.acquire()
        submit(i, 0)
    for k in range(n):
        finished.acquire()
        if k % 500 == 0:
            progress("lifecycles", k, n)
    progress("lifecycles", n, n)
    return time.perf_counter() - t0, len(errors), errors[0] if errors else None


def _executor_only(chains: list[list[bytes]], node_dir: Path) -> float:
    """Seconds the executor alone takes for the lifecycles, over the set-up state in the
    store (read, never written), in dependency waves of one step per lifecycle."""
    contracts = load_builtin()
    store = SQLiteStore(node_dir)
    try:
        ex = Executor(contracts, store.get_state, read_many=store.get_states)
        calls = [[call_from_env(contracts, t.id, t.env, t.raw)
                  for t in (parse_tx(raw, max_bytes=1 << 20) for raw in chain)]
                 for chain in chains]
        t0 = time.perf_counter()
        for step in range(len(STEPS)):
            wave = [c[step] for c in calls]
            for s in range(0, len(wave), 2000):
                res = ex.execute(wave[s:s + 2000], height=1)
                if not all(res.oks) or res.rejected:
                    raise RuntimeError(f"executor-only run failed at {STEPS[step]}")
        return time.perf_counter() - t0
    finally:
        store.close()


def _setup_node(settings: Settings, key: PrivateKey, waves: list[list[bytes]],
                progress: Progress) -> None:
    with Node(settings, key) as node:
        for w, raws in enumerate(waves):
            futs = [node.submit(r) for r in raws]
            for k, f in enumerate(futs):
                r = f.result()
                if not r.ok:
                    raise RuntimeError(f"bench setup failed: {r.error}")
                if k % 1000 == 0:
                    progress(f"setup {w + 1}/{len(waves)}", k, len(futs))


def run_orders_bench(*, lifecycles: int = 20_000, sig: str = "ed25519",
                     data_dir: Path | None = None, window: int = 4_000, buyers: int = 32,
                     sellers: int = 8, carriers: int = 8, verify_workers: int | None = None,
                     progress: Progress = _noop) -> dict[str, Any]:
    """Measure complete order lifecycles per second; see the module docstring."""
    with ledger_dir(data_dir, "sl-orders-") as ledger:
        res = _bench(ledger, lifecycles=lifecycles, sig=sig, window=window, buyers=buyers,
                     sellers=sellers, carriers=carriers, verify_workers=verify_workers,
                     progress=progress)
    return res | {"data_dir": kept(data_dir, ledger)}


def _bench(data_dir: Path, *, lifecycles: int, sig: str, window: int, buyers: int,
           sellers: int, carriers: int, verify_workers: int | None,
           progress: Progress) -> dict[str, Any]:
    c = _Cast(sig, buyers, sellers, carriers)
    node_key = generate("rsa")
    chain = "orders-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:8]
    t0 = wall_clock_ms()
    init_ledger(data_dir, chain=chain, time_ms=t0, node_password="bench",
                admins=[("bench-admin", c.keys[0], None)], node_key=node_key,
                kdf=KdfParams(n=2**10))
    waves, batches = _setup_jobs(c, lifecycles)
    setup = [sign_all(chain, c.keys, w, t0=t0) for w in waves]
    jobs = [j for i in range(lifecycles) for j in _lifecycle_jobs(c, i, batches[i], t0)]
    signed = sign_all(chain, c.keys, jobs, t0=t0,
                      progress=lambda k: progress("sign", k, len(jobs)))
    chains = [signed[i * len(STEPS):(i + 1) * len(STEPS)] for i in range(lifecycles)]
    settings = Settings(data_dir, time_window_ms=6 * 3_600_000)
    if verify_workers is not None:
        settings = dataclasses.replace(settings, verify_workers=verify_workers)
    _setup_node(settings, node_key, setup, progress)
    exec_only = _executor_only(chains, data_dir)
    with Node(settings, node_key) as node:
        h0 = node.height
        elapsed, failed, first_error = _drive(node, chains, window, progress)
        blocks = node.height - h0
    txs = lifecycles * len(STEPS)
    return {
        "lifecycles": lifecycles, "txs": txs, "sig": sig, "window": window,
        "verify_workers": settings.verify_workers,
        "seconds": round(elapsed, 3),
        "lifecycles_per_s": round(lifecycles / elapsed, 1),
        "tx_per_s": round(txs / elapsed, 1),
        "failed": failed, "first_error": first_error, "blocks": blocks,
        "executor_only_lifecycles_per_s": round(lifecycles / exec_only, 1),
        "target_lifecycles_per_s": 2_000,
    }
