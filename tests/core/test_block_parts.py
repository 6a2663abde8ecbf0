"""A block executed in parts, as the node's builder runs it while the block's transactions
still arrive (node/orderer.SoloOrderer.parts), gives exactly what one call over the whole
block gives, which is how the audit re-executes it."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from supplyledger.contracts.builtin.identity import ROLES, genesis_writes
from supplyledger.contracts.executor import BlockResult, Executor, encode_writes
from supplyledger.contracts.runtime import Call, call_from_env
from supplyledger.ledger.crypto import PrivateKey, PublicKey
from supplyledger.ledger.tx import make_tx
from supplyledger.node.orderer import SoloOrderer

from .conftest import T0, Keys
from .test_rules import release


def _calls(keys: Keys) -> tuple[dict[str, bytes], list[Call], dict[str, bytes]]:
    """Genesis state and one block's calls whose later ones depend on the earlier ones:
    a member registered, then signing; a rules adoption, then a call under the new rules;
    a member revoked, then refused; a key rotated, then the old key refused."""
    admin, m1, m2, m2b = keys.admin, keys.ed[0], keys.ed[1], keys.ed[2]
    state = {k: v for k, v in encode_writes(genesis_writes(
        [{"name": "admin", "org": "co", "roles": ["admin"], "public_key": admin.public.b64}],
        [{"id": "co", "name": "Co", "roles": list(ROLES)}], T0)).items() if v is not None}
    contracts = release(1, 2)

    def member(key: PrivateKey, name: str) -> tuple[PrivateKey, str, str, dict[str, Any]]:
        return (admin, "identity", "register_member",
                {"org": "co", "public_key": key.public.b64, "name": name,
                 "roles": ["supplier"]})

    steps: list[tuple[PrivateKey, str, str, dict[str, Any]]] = [
        member(m1, "one"),
        (m1, "tally", "add", {"k": "a"}),
        (admin, "rules", "adopt", {"contract": "tally", "version": 2}),
        (m1, "tally", "add", {"k": "a"}),
        member(m2, "two"),
        (m2, "tally", "add", {"k": "b"}),
        (admin, "identity", "rotate_key", {"did": m2.did, "public_key": m2b.public.b64}),
        (m2b, "tally", "add", {"k": "b"}),
        (m2, "tally", "add", {"k": "b"}),  # the key rotated away: refused
        (admin, "identity", "revoke", {"did": m1.did, "reason": "left"}),
        (m1, "tally", "add", {"k": "a"}),  # revoked: refused
        (admin, "tally", "add", {"k": "a"}),
    ]
    txs = [make_tx(k, chain="c", contract=c, method=m, args=a, time_ms=T0, nonce=i,
                   signer=m2.did if k is m2b else None)
           for i, (k, c, m, a) in enumerate(steps)]
    return (state, [call_from_env(contracts, t.id, t.env, t.raw) for t in txs],
            {t.id: k.public.fp for t, (k, *_) in zip(txs, steps, strict=True)})


def _outcome(results: list[BlockResult]) -> tuple[Any, ...]:
    writes: dict[str, bytes | None] = {}
    for r in results:
        writes.update(r.writes)
    return ([c.tx_id for r in results for c in r.included],
            [x for r in results for x in r.receipts], [x for r in results for x in r.oks],
            [(c.tx_id, e.code) for r in results for c, e in r.rejected],
            sorted(writes.items()))


def test_executing_a_block_in_parts_equals_executing_it_whole(keys: Keys) -> None:
    state, calls, signed_with = _calls(keys)
    contracts = release(1, 2)

    def key_ok(call: Call, key: PublicKey) -> bool:
        return key.fp == signed_with[call.tx_id]

    whole = _outcome([Executor(contracts, state.get).execute(calls, height=1, key_ok=key_ok)])
    ids, _, oks, rejected, writes = whole
    assert [code for _, code in rejected] == ["revoked_key", "revoked_key"]
    assert all(oks) and len(ids) == len(calls) - 2
    assert dict(writes)["tally/a"] == b"5"  # 1 under v1, then 2 and 2 under v2
    assert dict(writes)["tally/b"] == b"4"  # both under v2, the second with the new key
    for cuts in ([1], [2, 4], [6, 7, 8, 9], list(range(1, len(calls)))):
        ex = Executor(contracts, state.get)
        bounds = [0, *cuts, len(calls)]
        parts = [ex.execute(calls[a:b], height=1, key_ok=key_ok)
                 for a, b in itertools.pairwise(bounds)]
        assert _outcome(parts) == whole, cuts


def test_parts_arrive_as_they_come_and_the_block_ends_at_its_deadline() -> None:
    o = SoloOrderer(max_txs=100, max_wait=0.3)
    got: list[tuple[list[int], bool]] = []

    def consume() -> None:
        for part, last in o.parts(1):
            got.append((part, last))
            if len(got) == 1:  # the builder runs the first part while more arrives
                time.sleep(0.05)

    t = threading.Thread(target=consume)
    t.start()
    o.put_many([1, 2])
    time.sleep(0.02)
    o.put_many([3])
    time.sleep(0.5)  # past the first block's deadline
    o.put_many([4])
    o.close_one()
    t.join(timeout=10)
    assert not t.is_alive()
    assert got[0] == ([1, 2], False)  # handed over at once, not after max_wait
    first = [x for part, last in got[:next(i for i, (_, last) in enumerate(got) if last) + 1]
             for x in part]
    assert first == [1, 2, 3]
    assert [x for part, _ in got for x in part] == [1, 2, 3, 4]
    assert got[-1][1] and sum(last for _, last in got) == 2  # two blocks

