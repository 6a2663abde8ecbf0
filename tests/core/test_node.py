"""The embedded node: every admission rejection writes nothing; acknowledged means durable.

Rejections are checked on the SQLite file itself (read-only connection): the height and the
row counts of ``blocks``, ``txs`` and ``state`` must not move. After each rejection a probe
transaction that writes no state (a role-denied call) is committed, and it must be the only
new transaction: a rejected one written late would show up next to it.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.flourmill import object_event
from supplyledger.errors import (
    CryptoError,
    EncodingError,
    EPCISValidationError,
    InvalidSignature,
    NodeError,
    NodeStopped,
    PayloadTooLarge,
    ReplayedTransaction,
    RevokedKey,
    StaleTransaction,
    SupplyLedgerError,
    UnknownContract,
    UnknownMethod,
    UnknownSigner,
    ValidationError,
    WrongChain,
)
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey, b64e
from supplyledger.ledger.encoding import canonical
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import RECENT_MS, Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Keys, Ledger

W = 60_000  # time window used by these tests


def _org(led: Ledger, node: Node, org: str = "acme",
         roles: tuple[str, ...] = ("manufacturer", "supplier")) -> None:
    r = node.submit(led.tx(led.admin, "identity", "register_org",
                           {"id": org, "name": org.title(), "roles": list(roles)})).result(10)
    assert r.ok, r.error


def _member(led: Ledger, node: Node, key: PrivateKey, org: str = "acme",
            roles: tuple[str, ...] = ("manufacturer",)) -> str:
    r = node.submit(led.tx(led.admin, "identity", "register_member",
                           {"org": org, "public_key": key.public.b64, "name": "m",
                            "roles": list(roles)})).result(10)
    assert r.ok, r.error
    return str(r.result["did"])


_GTINS = itertools.count(400638100000)


def _gtin() -> str:
    body = str(next(_GTINS))
    return body + str(gtin_check_digit(body))


def _event(led: Ledger, key: PrivateKey, batch: str = "b1", **kw: Any) -> bytes:
    """A call any manufacturer member may make with no set-up (a new product type); ``batch``
    only tells calls apart, as it did when this was an unchecked trace event."""
    return led.tx(key, "products", "create_product", {"gtin": _gtin(), "name": batch}, **kw)


def _rejected(node: Node, raw: bytes, err: type[SupplyLedgerError]) -> SupplyLedgerError:
    exc = node.submit(raw).exception(10)
    assert isinstance(exc, err), repr(exc)
    return exc


def _assert_nothing_written(led: Ledger, node: Node, before: dict[str, Any]) -> None:
    assert led.counts() == before
    assert node.height == before["height"]
    probe = node.submit(led.tx(led.admin, "products", "create_product",
                               {"gtin": _gtin(), "name": "probe"},
                               time_ms=node.clock())).result(10)
    assert probe.error is not None and probe.error["code"] == "role_denied"
    after = led.counts()
    assert after == {**before, "blocks": before["blocks"] + 1, "txs": before["txs"] + 1,
                     "height": before["height"] + 1}
    conn = sqlite3.connect(f"file:{led.dir / DB_NAME}?mode=ro", uri=True)
    try:
        new = conn.execute("SELECT id FROM txs WHERE height > ?", (before["height"],)).fetchall()
    finally:
        conn.close()
    assert new == [(probe.tx_id,)]


@pytest.fixture
def node(ledger: Ledger) -> Node:
    return ledger.start(time_window_ms=W)


# -- admission rejections ---------------------------------------------------------------------

def test_malformed_envelopes(ledger: Ledger, node: Node) -> None:
    before = ledger.counts()
    good = make_tx(ledger.admin, chain=CHAIN, contract="identity", method="register_org",
                   args={"id": "x1", "name": "X", "roles": ["supplier"]}, time_ms=T0, nonce=1)
    doc = json.loads(good.raw)
    cases: list[tuple[bytes, type[SupplyLedgerError]]] = [
        (b"", EncodingError),
        (b"{not json", EncodingError),
        (b"[]", ValidationError),
        (json.dumps({"env": doc["env"]}).encode(), ValidationError),
        (json.dumps({**doc, "extra": 1}).encode(), ValidationError),
        (json.dumps({"env": {**doc["env"], "fee": 0}, "sig": doc["sig"]}).encode(),
         ValidationError),
        (json.dumps({"env": {**doc["env"], "time": "now"}, "sig": doc["sig"]}).encode(),
         ValidationError),
        (good.raw.replace(f'"time":{T0}'.encode(), f'"time":{T0}.5'.encode()), EncodingError),
        (json.dumps({"env": doc["env"], "sig": "***"}).encode(), CryptoError),
    ]
    for raw, err in cases:
        _rejected(node, raw, err)
    _assert_nothing_written(ledger, node, before)


def test_bad_signature(ledger: Ledger, node: Node) -> None:
    before = ledger.counts()
    good = make_tx(ledger.admin, chain=CHAIN, contract="identity", method="register_org",
                   args={"id": "x1", "name": "X", "roles": ["supplier"]}, time_ms=T0, nonce=1)
    sig = bytearray(good.sig)
    sig[10] ^= 1
    doc = json.loads(good.raw)
    _rejected(node, json.dumps({"env": doc["env"], "sig": b64e(bytes(sig))}).encode(),
              InvalidSignature)
    # A valid signature by someone else, over an envelope that names the admin as signer.
    other = ledger.keys.ed[0].sign(good.env_bytes)
    _rejected(node, json.dumps({"env": doc["env"], "sig": b64e(other)}).encode(),
              InvalidSignature)
    # The signed envelope with one argument changed.
    changed = good.raw.replace(b'"name":"X"', b'"name":"Y"')
    assert changed != good.raw
    _rejected(node, changed, InvalidSignature)
    _assert_nothing_written(ledger, node, before)
    assert node.submit(good.raw).result(10).ok  # the untouched original still goes in


def test_unknown_signer(ledger: Ledger, node: Node) -> None:
    before = ledger.counts()
    _rejected(node, _event(ledger, ledger.keys.ed[6]), UnknownSigner)
    _assert_nothing_written(ledger, node, before)


def test_wrong_chain(ledger: Ledger, node: Node) -> None:
    before = ledger.counts()
    exc = _rejected(node, _event(ledger, ledger.admin, chain="other-chain"), WrongChain)
    assert "other-chain" in exc.message
    _assert_nothing_written(ledger, node, before)


def test_stale_and_future_transactions(ledger: Ledger) -> None:
    now = [T0 + 5 * W]
    node = ledger.start(clock=lambda: now[0], time_window_ms=W)
    before = ledger.counts()
    for t in (now[0] - W - 1, now[0] + W + 1, T0, 0):
        _rejected(node, _event(ledger, ledger.admin, time_ms=t), StaleTransaction)
    _assert_nothing_written(ledger, node, before)
    # The window's edges are inside it (the admin's trace call is recorded as role_denied).
    for t in (now[0] - W, now[0] + W):
        assert node.submit(_event(ledger, ledger.admin, time_ms=t)).result(10).ok is False
    # The node's clock decides: what was fresh goes stale when the clock moves on.
    raw = _event(ledger, ledger.admin, time_ms=now[0])
    now[0] += W + 1
    _rejected(node, raw, StaleTransaction)


def test_oversized_transaction(ledger: Ledger) -> None:
    node = ledger.start(max_tx_bytes=4096)
    before = ledger.counts()
    raw = ledger.tx(ledger.admin, "identity", "register_org",
                    {"id": "big", "name": "x" * 5000, "roles": ["supplier"]})
    exc = _rejected(node, raw, PayloadTooLarge)
    assert isinstance(exc, PayloadTooLarge)
    assert (exc.size, exc.limit) == (len(raw), 4096)
    _assert_nothing_written(ledger, node, before)


def test_revoked_key(ledger: Ledger, node: Node) -> None:
    m = ledger.keys.ed[0]
    _org(ledger, node)
    did = _member(ledger, node, m)
    assert node.submit(_event(ledger, m)).result(10).ok
    r = node.submit(ledger.tx(ledger.admin, "identity", "revoke",
                              {"did": did, "reason": "left"})).result(10)
    assert r.ok
    before = ledger.counts()
    _rejected(node, _event(ledger, m), RevokedKey)
    _assert_nothing_written(ledger, node, before)


def test_rotated_away_key(ledger: Ledger, node: Node) -> None:
    old, new = ledger.keys.ed[0], ledger.keys.ed[1]
    _org(ledger, node)
    did = _member(ledger, node, old)
    signed_before_rotation = _event(ledger, old, batch="b-early")
    r = node.submit(ledger.tx(old, "identity", "rotate_key",
                              {"did": did, "public_key": new.public.b64})).result(10)
    assert r.ok, r.error
    before = ledger.counts()
    for raw in (_event(ledger, old), signed_before_rotation):
        exc = node.submit(raw).exception(10)
        # errors.py files a rotated-away key under RevokedKey; admission reports it as a
        # signature that does not verify with the signer's current key. Either refuses it.
        assert isinstance(exc, InvalidSignature | RevokedKey), repr(exc)
    _assert_nothing_written(ledger, node, before)
    # The same participant id goes on with its new key.
    ok = node.submit(_sign_as(new, did, "products", "create_product",
                              {"gtin": _gtin(), "name": "b1"})).result(10)
    assert ok.ok, ok.error
    assert _stored_raw(ledger, ok.tx_id) and json.loads(
        _stored_raw(ledger, ok.tx_id))["env"]["signer"] == did


def test_make_tx_can_sign_for_a_rotated_participant(ledger: Ledger, node: Node) -> None:
    old, new = ledger.keys.ed[0], ledger.keys.ed[1]
    _org(ledger, node)
    did = _member(ledger, node, old)
    assert node.submit(ledger.tx(old, "identity", "rotate_key",
                                 {"did": did, "public_key": new.public.b64})).result(10).ok
    tx = make_tx(new, chain=CHAIN, contract="products", method="create_product",
                 args={"gtin": _gtin(), "name": "b1"}, time_ms=T0, nonce="n", signer=did)
    assert tx.env["signer"] == did
    assert node.submit(tx.raw).result(10).ok


def _sign_as(key: PrivateKey, did: str, contract: str, method: str,
             args: dict[str, Any]) -> bytes:
    env = {"chain": CHAIN, "contract": contract, "method": method, "args": args,
           "signer": did, "nonce": "as", "time": T0}
    return canonical({"env": env, "sig": b64e(key.sign(canonical(env)))})


def test_arguments_the_schema_refuses_never_enter_a_block(ledger: Ledger, node: Node) -> None:
    m = ledger.keys.ed[1]
    _org(ledger, node)
    _member(ledger, node, m)
    before = ledger.counts()
    for args, contract, method, err in (
            ({"gtin": "123", "name": "p"}, "products", "create_product", ValidationError),
            ({"gtin": _gtin(), "name": "p", "extra": 1}, "products", "create_product",
             ValidationError),
            ({"batch": "b", "event": {}}, "trace", "record_event", EPCISValidationError),
            ({}, "nosuch", "call", UnknownContract),
            ({}, "products", "nosuch", UnknownMethod)):
        exc = _rejected(node, ledger.tx(m, contract, method, args), err)
        assert exc.message  # says what is wrong, and nothing is recorded for it
    _assert_nothing_written(ledger, node, before)


def test_replay_after_commit(ledger: Ledger, node: Node) -> None:
    raw = _event(ledger, ledger.admin)
    first = node.submit(raw).result(10)
    before = ledger.counts()
    exc = _rejected(node, raw, ReplayedTransaction)
    assert isinstance(exc, ReplayedTransaction) and exc.tx_id == first.tx_id
    _assert_nothing_written(ledger, node, before)


def test_replay_with_a_fresh_rsa_signature(ledger: Ledger, node: Node) -> None:
    # The node key is a registered RSA participant: sign one envelope twice.
    k = ledger.node_key
    args = {"gtin": _gtin(), "name": "b"}  # a failed call (role): ids are ids all the same
    a = make_tx(k, chain=CHAIN, contract="products", method="create_product", args=args,
                time_ms=T0, nonce=1)
    b = make_tx(k, chain=CHAIN, contract="products", method="create_product", args=args,
                time_ms=T0, nonce=1)
    assert a.raw != b.raw and a.id == b.id
    node.submit(a.raw).result(10)
    before = ledger.counts()
    _rejected(node, b.raw, ReplayedTransaction)
    _assert_nothing_written(ledger, node, before)


def test_replay_twice_in_one_block(ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=2, block_max_ms=5000)
    before = ledger.counts()
    raw = ledger.tx(ledger.admin, "identity", "register_org",
                    {"id": "twice", "name": "T", "roles": ["supplier"]})
    f1, f2 = node.submit(raw), node.submit(raw)
    outcomes = sorted([f1, f2], key=lambda f: f.exception(10) is None)
    assert isinstance(outcomes[0].exception(), ReplayedTransaction)
    r = outcomes[1].result()
    assert r.ok and r.data["ok"] is True and r.height == before["height"] + 1
    after = ledger.counts()
    assert after["txs"] == before["txs"] + 1 and after["blocks"] == before["blocks"] + 1


def test_wrong_role_is_recorded_with_its_error(ledger: Ledger, node: Node) -> None:
    m = ledger.keys.ed[0]
    _org(ledger, node)
    _member(ledger, node, m, roles=("supplier",))
    before = ledger.counts()
    r = node.submit(ledger.tx(m, "identity", "register_org",
                              {"id": "mine", "name": "M", "roles": ["supplier"]})).result(10)
    assert r.ok is False and r.error is not None and r.data["ok"] is False
    assert r.error["code"] == "role_denied"
    assert r.error["details"] == {"required": ["admin"], "held": ["supplier"]}
    assert r.height == before["height"] + 1
    after = ledger.counts()
    assert after == {**before, "blocks": before["blocks"] + 1, "txs": before["txs"] + 1,
                     "height": before["height"] + 1}  # recorded, but no state written
    conn = sqlite3.connect(f"file:{ledger.dir / DB_NAME}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT ok, receipt, height, idx FROM txs WHERE id=?",
                           (r.tx_id,)).fetchone()
    finally:
        conn.close()
    assert row[0] == 0 and bytes(row[1]) == r.raw and (row[2], row[3]) == (r.height, r.index)


# -- durability and lifecycle -----------------------------------------------------------------

def test_acknowledged_receipts_are_in_the_database(ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=7, verify_workers=2)  # the default worker processes
    m = ledger.keys.ed[0]
    _org(ledger, node)
    _member(ledger, node, m)
    # trace events need registered batches (and valid EPCIS events)
    g = _gtin()
    assert node.submit(ledger.tx(m, "products", "create_product",
                                 {"gtin": g, "name": "p"})).result(10).ok
    batches = [node.submit(ledger.tx(m, "products", "create_batch", {"gtin": g, "lot": f"b{i}"}))
               .result(10).result["batch"] for i in range(3)]
    futs = [node.submit(ledger.tx(m, "trace", "record_event", {
        "batch": batches[i % 3], "event": object_event(
            f"2026-01-01T00:00:{i:02d}Z", "shipping", "in_transit", batches[i % 3])}))
        for i in range(30)]  # distinct events: the same one twice is refused
    receipts = [f.result(10) for f in futs]
    node.stop()
    conn = sqlite3.connect(f"file:{ledger.dir / DB_NAME}?mode=ro", uri=True)
    try:
        for r in receipts:
            row = conn.execute("SELECT height, idx, receipt FROM txs WHERE id=?",
                               (r.tx_id,)).fetchone()
            assert row is not None and (row[0], row[1], bytes(row[2])) == (r.height, r.index,
                                                                          r.raw)
        n = conn.execute("SELECT COUNT(*) FROM trace_events").fetchone()[0]
    finally:
        conn.close()
    assert all(r.ok for r in receipts) and n == 30
    # Each batch's events got consecutive sequence numbers.
    assert sorted(r.result["seq"] for r in receipts if r.result["batch"] == batches[0]) == \
        list(range(1, 11))
    assert run_audit(ledger.dir).ok


def test_restart_continues_the_chain(ledger: Ledger) -> None:
    node = ledger.start()
    _org(ledger, node)
    r1 = node.submit(_event(ledger, ledger.admin)).result(10)
    h = node.height
    node.stop()
    again = ledger.start()
    assert again.height == h
    r2 = again.submit(ledger.tx(ledger.admin, "identity", "register_org",
                                {"id": "second", "name": "S", "roles": ["supplier"]})).result(10)
    assert r2.ok and r2.height == h + 1
    _rejected(again, _stored_raw(ledger, r1.tx_id), ReplayedTransaction)
    again.stop()
    report = run_audit(ledger.dir)
    assert report.ok, report.findings
    assert report.blocks == h + 2


def _stored_raw(ledger: Ledger, tx_id: str) -> bytes:
    conn = sqlite3.connect(f"file:{ledger.dir / DB_NAME}?mode=ro", uri=True)
    try:
        return bytes(conn.execute("SELECT raw FROM txs WHERE id=?", (tx_id,)).fetchone()[0])
    finally:
        conn.close()


def test_stop_drains_pending_submissions(ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=5, block_max_ms=50)
    raws = [ledger.tx(ledger.admin, "identity", "register_org",
                      {"id": f"org{i}", "name": "O", "roles": ["supplier"]}) for i in range(40)]
    futs = [node.submit(r) for r in raws]
    node.stop()
    assert all(f.done() for f in futs)
    assert all(f.result().ok for f in futs)
    assert ledger.counts()["txs"] == 1 + 40
    late = node.submit(raws[0])
    assert isinstance(late.exception(1), NodeStopped)


def test_node_refuses_an_unregistered_node_key(ledger: Ledger) -> None:
    with pytest.raises(NodeError):
        Node(Settings(ledger.dir), ledger.keys.ed[7])  # not registered at all
    with pytest.raises(NodeError):
        Node(Settings(ledger.dir), ledger.admin)  # registered, but not as a node


def test_a_node_on_an_empty_directory_leaves_it_initialisable(tmp_path: Path,
                                                              keys: Keys) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    with pytest.raises(NodeError, match="init"):
        Node(Settings(d), keys.rsa)
    init_ledger(d, chain=CHAIN, time_ms=T0, node_password="pw",
                admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF)


def test_a_node_on_a_missing_directory_raises_a_node_error(tmp_path: Path,
                                                           keys: Keys) -> None:
    with pytest.raises(SupplyLedgerError):
        Node(Settings(tmp_path / "nowhere"), keys.rsa)


# -- replay protection across restarts --------------------------------------------------------

def _replay_case(ledger: Ledger, raw: bytes, clock: Callable[[], int], **settings: Any) -> None:
    node = ledger.start(clock=clock, time_window_ms=W, **settings)
    before = ledger.counts()
    exc = node.submit(raw).exception(10)
    assert isinstance(exc, ReplayedTransaction), repr(exc)
    _assert_nothing_written(ledger, node, before)


def test_future_dated_tx_cannot_be_replayed_after_restart(ledger: Ledger) -> None:
    node = ledger.start(clock=lambda: T0, time_window_ms=W)
    raw = _event(ledger, ledger.admin, time_ms=T0 + W)  # at the window's future edge
    r = node.submit(raw).result(10)
    assert r.height == 1
    node.stop()
    # 1.5 windows later the tx time is still inside the window, its block time is not.
    _replay_case(ledger, raw, lambda: T0 + W + W // 2)


def test_restart_loaded_ids_survive_pruning(ledger: Ledger) -> None:
    node = ledger.start(clock=lambda: T0, time_window_ms=W)
    raw = _event(ledger, ledger.admin)
    node.submit(raw).result(10)
    node.stop()
    again = ledger.start(clock=lambda: T0 + 1, time_window_ms=W, block_max_txs=1)
    while again.height < 4:  # one tx per block: the memory of recent ids is pruned at each
        again.submit(ledger.tx(ledger.admin, "products", "create_product",
                               {"gtin": _gtin(), "name": "fill"}, time_ms=T0 + 1)).result(10)
    before = ledger.counts()
    exc = again.submit(raw).exception(10)
    assert isinstance(exc, ReplayedTransaction), repr(exc)
    _assert_nothing_written(ledger, again, before)


def test_recent_ids_leave_the_memory_oldest_first(ledger: Ledger) -> None:
    now = [T0]
    # A window wider than the memory: a replay that outlives its id's memory is in time.
    node = ledger.start(clock=lambda: now[0], time_window_ms=3 * RECENT_MS, block_max_txs=1)

    def product() -> str:
        raw = ledger.tx(ledger.admin, "products", "create_product",
                        {"gtin": _gtin(), "name": "p"}, time_ms=now[0])
        return node.submit(raw).result(10).tx_id  # (a role_denied receipt: committed too)

    old = [product(), product()]
    now[0] += RECENT_MS  # at the memory's edge: still held
    edge = product()
    assert set(old) | {edge} <= node._recent
    now[0] += 1
    newer = product()
    held = node._recent
    assert not held & set(old) and {edge, newer} <= held
    ids, times = [i for _, i in node._recent_order], [t for t, _ in node._recent_order]
    assert sorted(ids) == sorted(held) and times == sorted(times)  # one entry each, in order
    # Out of memory, an id is still refused: its commit is visible to the verifiers.
    raw = ledger.tx(ledger.admin, "products", "create_product", {"gtin": _gtin(), "name": "p"},
                    time_ms=now[0])
    first = node.submit(raw).result(10)
    now[0] += RECENT_MS + 1
    product()
    assert first.tx_id not in node._recent
    before = ledger.counts()
    exc = node.submit(raw).exception(10)
    assert isinstance(exc, ReplayedTransaction), repr(exc)
    _assert_nothing_written(ledger, node, before)


def test_replay_after_restart_inside_the_window(ledger: Ledger) -> None:
    node = ledger.start(clock=lambda: T0, time_window_ms=W)
    raw = _event(ledger, ledger.admin)
    node.submit(raw).result(10)
    node.stop()
    _replay_case(ledger, raw, lambda: T0 + W // 2)


def test_state_cache_stays_bounded_and_evicted_values_are_read_back(
        ledger: Ledger, keys: Keys) -> None:
    node = ledger.start(state_cache_keys=8, block_max_txs=1)
    _org(ledger, node)
    maker = keys.ed[0]
    _member(ledger, node, maker)
    gtins = [_gtin() for _ in range(30)]
    sizes = []
    for g in gtins:
        r = node.submit(ledger.tx(maker, "products", "create_product",
                                  {"gtin": g, "name": g})).result(10)
        assert r.ok, r.error
        sizes.append(len(node.executor.cache))
    # Trimmed whenever it passed the bound: never more than one block's writes beyond it.
    assert max(sizes) <= 8 + 4 and len(sizes) == 30
    # The first product's record left the cache long ago: it is read back from the store.
    assert f"products/t/{gtins[0]}" not in node.executor.cache
    dup = node.submit(ledger.tx(maker, "products", "create_product",
                                {"gtin": gtins[0], "name": "again"})).result(10)
    assert not dup.ok and dup.error is not None and dup.error["code"] == "already_exists"
    lot = node.submit(ledger.tx(maker, "products", "create_batch",
                                {"gtin": gtins[0], "lot": "L1"})).result(10)
    assert lot.ok, lot.error
    node.stop()
    report = run_audit(ledger.dir)
    assert report.ok, report.findings


def test_wal_is_checkpointed_off_the_commit_path(ledger: Ledger, keys: Keys) -> None:
    # The writer never checkpoints itself; a background thread copies committed blocks
    # into the database file. Read the file alone (immutable: the WAL is ignored) until
    # it holds every committed block.
    node = ledger.start(block_max_txs=1)
    _org(ledger, node)
    for i in range(5):  # role-denied calls: each still commits a block
        node.submit(_event(ledger, ledger.admin, batch=f"b{i}")).result(10)
    writer = node.store._writer
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    uri = f"file:{ledger.dir / DB_NAME}?immutable=1"
    deadline = time.monotonic() + 10
    while True:
        conn = sqlite3.connect(uri, uri=True)
        try:
            in_file = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
        finally:
            conn.close()
        if in_file == node.height or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert in_file == node.height
    node.stop()
    assert not (ledger.dir / (DB_NAME + "-wal")).exists() or \
        (ledger.dir / (DB_NAME + "-wal")).stat().st_size == 0
