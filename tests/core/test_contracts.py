"""Contract runtime (snapshot/revert, roles, schemas, contract bugs), the registry, the
executor's admission rules, and the identity contract — all in memory, no node."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.identity import ROLES, genesis_writes, participant_key
from supplyledger.contracts.executor import Executor, encode_writes
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.contracts.runtime import (
    Call,
    CallOutcome,
    Contract,
    Ctx,
    call_from_env,
    execute_call,
    method,
    prepare_call,
)
from supplyledger.contracts.schema import Bool, Enum, Int, List, Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    NotFound,
    RevokedKey,
    SupplyLedgerError,
    UnknownSigner,
)
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.ledger.tx import SignedTx, make_tx

from .conftest import Keys

T = 1_767_225_600_000


# -- a test contract --------------------------------------------------------------------------

@method(roles="*", args={"k": Str(), "v": Int()})
def put(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    ctx.put(args["k"], args["v"])
    ctx.emit("put", k=args["k"])
    assert ctx.get(args["k"]) == args["v"]  # a call reads its own writes
    return {"k": args["k"]}


@method(roles="*", args={"k": Str()})
def put_then_fail(ctx: Ctx, args: dict[str, Any]) -> None:
    ctx.put(args["k"], 1)
    ctx.put_other("other", "x", 2)
    ctx.delete("gone")
    ctx.emit("written", k=args["k"])
    raise NotFound(f"no such thing as {args['k']}")


@method(roles="*", args={})
def key_error(ctx: Ctx, args: dict[str, Any]) -> None:
    ctx.put("half", 1)
    empty: dict[str, int] = {}
    empty["missing"] += 1


@method(roles="*", args={})
def returns_float(ctx: Ctx, args: dict[str, Any]) -> float:
    ctx.put("half", 1)
    return 0.5


@method(roles="*", args={})
def puts_float(ctx: Ctx, args: dict[str, Any]) -> None:
    ctx.put("price", 9.99)


@method(roles="*", args={})
def emits_float(ctx: Ctx, args: dict[str, Any]) -> None:
    ctx.put("a", 1)
    ctx.emit("measured", value=1.5)


@method(roles="*", args={})
def raises_with_float_detail(ctx: Ctx, args: dict[str, Any]) -> None:
    ctx.put("a", 1)
    raise NotFound("no batch", weight=1.5)  # a contract bug: a detail outside the subset


@method(roles="*", args={"k": Str()})
def mutate_copy(ctx: Ctx, args: dict[str, Any]) -> Any:
    v = ctx.get(args["k"])
    v["changed"] = True  # mutating a read value must not change state
    return ctx.get(args["k"])


@method(roles=("manufacturer", "supplier"), args={})
def makers_only(ctx: Ctx, args: dict[str, Any]) -> str:
    return "made"


@method(roles="*", args={
    "name": Str(min_len=2, max_len=5, pattern="[a-z]+"), "n": Int(min=1, max=10),
    "flag": Bool(optional=True), "colour": Enum(values=("red", "blue"), optional=True),
    "tags": List(item=Str(), max_items=2, optional=True),
    "doc": Obj(fields={"id": Str()}, optional=True),
})
def typed(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return args


TEST = Contract.of("t", "test contract", [put, put_then_fail, key_error, returns_float,
                                          puts_float, emits_float, raises_with_float_detail,
                                          mutate_copy, makers_only, typed])
CONTRACTS = {"t": TEST}


def call(method_name: str, args: dict[str, Any], *, roles: tuple[str, ...] = (),
         state: dict[str, bytes] | None = None, contract: str = "t") -> CallOutcome:
    store = state or {}
    value, error = prepare_call(CONTRACTS, contract, method_name, args)
    c = Call("tx1", "did:sl:caller", contract, method_name, T, "c1", b"", value, error)
    return execute_call(CONTRACTS, c, roles=frozenset(roles), org="o", read=store.get)


def receipt(out: CallOutcome) -> dict[str, Any]:
    r: dict[str, Any] = decode(out.receipt)
    assert out.receipt == canonical(r)  # receipts are stored canonically
    return r


def failed(out: CallOutcome, code: str) -> dict[str, Any]:
    r = receipt(out)
    assert out.ok is False and r["ok"] is False and r["tx"] == "tx1"
    assert set(r) == {"tx", "ok", "error"}
    assert r["error"]["code"] == code, r["error"]
    # Snapshot/revert: a failed call leaves no writes and no events.
    assert out.writes == {} and out.events == []
    return dict(r["error"])


# -- runtime ----------------------------------------------------------------------------------

def test_successful_call_gives_writes_events_and_receipt() -> None:
    out = call("put", {"k": "a", "v": 5})
    assert out.ok
    assert out.writes == {"t/a": b"5"}
    assert out.events == [["t.put", {"k": "a"}]]
    assert receipt(out) == {"tx": "tx1", "ok": True, "result": {"k": "a"},
                            "events": [["t.put", {"k": "a"}]]}


def test_failed_call_is_reverted_and_names_the_error() -> None:
    out = call("put_then_fail", {"k": "a"})
    err = failed(out, "not_found")
    assert err["message"] == "no such thing as a"


@pytest.mark.parametrize(("name", "code", "message"), [
    ("key_error", "contract_bug", "KeyError: 'missing'"),
    ("returns_float", "encoding_error", None),
    ("puts_float", "encoding_error", None),
    ("emits_float", "encoding_error", None),
])
def test_contract_bugs_give_deterministic_error_receipts(name: str, code: str,
                                                         message: str | None) -> None:
    first, second = call(name, {}), call(name, {})
    err = failed(first, code)
    if message is not None:
        assert err["message"] == message
    assert first.receipt == second.receipt  # same inputs, same bytes on every node


def test_an_unencodable_error_detail_still_gives_a_receipt() -> None:
    out = call("raises_with_float_detail", {})
    assert not out.ok and out.writes == {}
    err = receipt(out)["error"]
    assert "details dropped" in err["message"] and "details" not in err


def test_reads_are_copies() -> None:
    out = call("mutate_copy", {"k": "doc"}, state={"t/doc": b'{"a":1}'})
    assert out.ok and receipt(out)["result"] == {"a": 1} and out.writes == {}


def test_role_denied_names_required_and_held_roles() -> None:
    err = failed(call("makers_only", {}, roles=("transporter", "customer")), "role_denied")
    assert err["details"] == {"required": ["manufacturer", "supplier"],
                              "held": ["customer", "transporter"]}
    assert "manufacturer" in err["message"]
    out = call("makers_only", {}, roles=("supplier",))
    assert out.ok and receipt(out)["result"] == "made"


def test_any_participant_method_needs_no_role() -> None:
    assert call("put", {"k": "a", "v": 1}, roles=()).ok


def test_unknown_contract_and_method() -> None:
    failed(call("put", {"k": "a", "v": 1}, contract="nope"), "unknown_contract")
    failed(call("nope", {}), "unknown_method")
    # The contract registry holds real methods only, not module attributes.
    failed(call("__init__", {}), "unknown_method")


GOOD = {"name": "abc", "n": 3}


@pytest.mark.parametrize(("args", "arg"), [
    ({"n": 3}, "name"),  # missing
    ({"name": "abc"}, "n"),
    ({**GOOD, "extra": 1}, "extra"),  # unexpected
    ({**GOOD, "name": 5}, "name"),  # mistyped
    ({**GOOD, "name": "a"}, "name"),  # too short
    ({**GOOD, "name": "abcdef"}, "name"),  # too long
    ({**GOOD, "name": "ABC"}, "name"),  # pattern
    ({**GOOD, "n": "3"}, "n"),
    ({**GOOD, "n": True}, "n"),  # a bool is not an integer
    ({**GOOD, "n": 11}, "n"),
    ({**GOOD, "n": 0}, "n"),
    ({**GOOD, "flag": 1}, "flag"),
    ({**GOOD, "colour": "green"}, "colour"),
    ({**GOOD, "colour": ["red"]}, "colour"),
    ({**GOOD, "tags": "a"}, "tags"),
    ({**GOOD, "tags": ["a", "b", "c"]}, "tags"),
    ({**GOOD, "tags": ["a", 1]}, "tags[1]"),
    ({**GOOD, "doc": []}, "doc"),
    ({**GOOD, "doc": {}}, "doc.id"),
    ({**GOOD, "doc": {"id": "x", "more": 1}}, "doc.more"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_schema_errors_name_the_argument(args: dict[str, Any], arg: str) -> None:
    err = failed(call("typed", args), "validation_error")
    assert err["details"] == {"arg": arg}


def test_schema_accepts_valid_and_optional_arguments() -> None:
    full = {**GOOD, "flag": False, "colour": "blue", "tags": ["x"], "doc": {"id": "d"}}
    for args in (GOOD, full):
        out = call("typed", args)
        assert out.ok and receipt(out)["result"] == args


# -- registry ---------------------------------------------------------------------------------

def test_load_builtin_discovers_identity_and_trace() -> None:
    found = load_builtin()
    assert {"identity", "trace"} <= set(found)
    for name, c in found.items():
        assert isinstance(c, Contract) and c.name == name
    assert set(found["identity"].methods) == {"register_org", "register_member", "set_roles",
                                              "rotate_key", "revoke", "set_prefixes"}
    assert {"record_event", "record_events"} <= set(found["trace"].methods)
    names = [t.name for t in all_tables(found)]
    assert len(names) == len(set(names))
    assert {"participants", "organisations", "trace_events"} <= set(names)
    assert load_builtin().keys() == found.keys()  # discovery is repeatable, no side effects


# -- executor and identity --------------------------------------------------------------------

class World:
    """Committed state in a dict and an executor over it, block by block."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.admin = keys.admin
        self.contracts = load_builtin()
        genesis = encode_writes(genesis_writes(
            [{"name": "admin", "org": "consortium", "roles": ["admin", "auditor"],
              "public_key": self.admin.public.b64}],
            [{"id": "consortium", "name": "C", "roles": list(ROLES)}], T))
        self.store: dict[str, bytes] = {k: v for k, v in genesis.items() if v is not None}
        self.exec = Executor(self.contracts, self.store.get)
        self.height = 0
        self.nonce = 0

    def tx(self, key: PrivateKey, contract: str, method_name: str,
           args: dict[str, Any]) -> SignedTx:
        self.nonce += 1
        return make_tx(key, chain="c1", contract=contract, method=method_name, args=args,
                       time_ms=T, nonce=self.nonce)

    def call(self, tx: SignedTx) -> Call:
        return call_from_env(self.contracts, tx.id, tx.env, tx.raw)

    def block(self, *txs: SignedTx) -> Any:
        self.height += 1
        by_id = {t.id: t for t in txs}
        calls = [call_from_env(self.contracts, t.id, t.env, t.raw) for t in txs]
        # As the node does: the signature must verify with the signer's key at that point.
        res = self.exec.execute(
            calls, height=self.height,
            key_ok=lambda c, key: key.is_valid(by_id[c.tx_id].sig, by_id[c.tx_id].env_bytes))
        for k, v in res.writes:
            if v is None:
                self.store.pop(k, None)
            else:
                self.store[k] = v
        return res

    def run(self, key: PrivateKey, contract: str, method_name: str,
            args: dict[str, Any]) -> dict[str, Any]:
        res = self.block(self.tx(key, contract, method_name, args))
        assert not res.rejected, res.rejected
        r: dict[str, Any] = decode(res.receipts[0])
        return r

    def participant(self, did: str) -> dict[str, Any] | None:
        raw = self.store.get(f"identity/{participant_key(did)}")
        return None if raw is None else dict(decode(raw))

    def member(self, key: PrivateKey, org: str = "acme",
               roles: tuple[str, ...] = ("manufacturer",)) -> str:
        r = self.run(self.admin, "identity", "register_member",
                     {"org": org, "public_key": key.public.b64, "name": "m",
                      "roles": list(roles)})
        assert r["ok"], r
        return str(r["result"]["did"])


@pytest.fixture
def world(keys: Keys) -> World:
    w = World(keys)
    r = w.run(w.admin, "identity", "register_org",
              {"id": "acme", "name": "Acme", "roles": ["manufacturer", "supplier"]})
    assert r["ok"], r
    return w


def _code(r: dict[str, Any]) -> str | None:
    return None if r["ok"] else str(r["error"]["code"])


def test_register_org_and_member(world: World, keys: Keys) -> None:
    assert decode(world.store["identity/o/acme"])["roles"] == ["manufacturer", "supplier"]
    m = keys.ed[0]
    did = world.member(m)
    assert did == m.did  # the id is derived from the key, not chosen
    p = world.participant(did)
    assert p is not None
    assert (p["org"], p["roles"], p["status"], p["key"]) == ("acme", ["manufacturer"],
                                                             "active", m.public.b64)
    again = world.run(world.admin, "identity", "register_member",
                      {"org": "acme", "public_key": m.public.b64, "name": "m2",
                       "roles": ["supplier"]})
    assert _code(again) == AlreadyExists.code
    dup = world.run(world.admin, "identity", "register_org",
                    {"id": "acme", "name": "Again", "roles": ["supplier"]})
    assert _code(dup) == "already_exists"


def test_only_admins_register(world: World, keys: Keys) -> None:
    world.member(keys.ed[0])
    r = world.run(keys.ed[0], "identity", "register_org",
                  {"id": "mine", "name": "Mine", "roles": ["admin"]})
    assert _code(r) == "role_denied"
    assert r["error"]["details"] == {"required": ["admin"], "held": ["manufacturer"]}
    assert "identity/o/mine" not in world.store


def test_member_roles_are_bounded_by_the_org(world: World, keys: Keys) -> None:
    r = world.run(world.admin, "identity", "register_member",
                  {"org": "acme", "public_key": keys.ed[0].public.b64, "name": "m",
                   "roles": ["admin"]})
    assert _code(r) == "forbidden"
    missing = world.run(world.admin, "identity", "register_member",
                        {"org": "nope", "public_key": keys.ed[0].public.b64, "name": "m",
                         "roles": ["supplier"]})
    assert _code(missing) == "not_found"
    did = world.member(keys.ed[0])
    r = world.run(world.admin, "identity", "set_roles", {"did": did, "roles": ["transporter"]})
    assert _code(r) == "forbidden"
    assert world.participant(did)["roles"] == ["manufacturer"]  # type: ignore[index]
    r = world.run(world.admin, "identity", "set_roles",
                  {"did": did, "roles": ["supplier", "manufacturer"]})
    assert r["ok"] and world.participant(did)["roles"] == ["manufacturer", "supplier"]  # type: ignore[index]


def test_bad_public_key_is_a_validation_error(world: World) -> None:
    r = world.run(world.admin, "identity", "register_member",
                  {"org": "acme", "public_key": "A" * 64, "name": "m", "roles": ["supplier"]})
    assert _code(r) == "validation_error" and r["error"]["details"] == {"arg": "public_key"}


def test_rotate_key_by_self_by_admin_and_not_by_a_stranger(world: World, keys: Keys) -> None:
    m, stranger = keys.ed[0], keys.ed[1]
    did = world.member(m)
    world.member(stranger)
    new1, new2, new3 = keys.ed[2], keys.ed[3], keys.ed[4]
    # A stranger may not rotate someone else's key.
    r = world.run(stranger, "identity", "rotate_key", {"did": did, "public_key": new3.public.b64})
    assert _code(r) == "forbidden"
    assert world.participant(did)["key"] == m.public.b64  # type: ignore[index]
    # The participant itself.
    r = world.run(m, "identity", "rotate_key", {"did": did, "public_key": new1.public.b64})
    assert r["ok"], r
    assert world.participant(did)["key"] == new1.public.b64  # type: ignore[index]
    assert world.participant(did)["did"] == did  # type: ignore[index]  # rotation keeps the id
    # Now the old key's transactions are refused, the new key's accepted.
    res = world.block(world.tx(m, "identity", "revoke", {"did": did, "reason": "old key"}))
    assert res.included == [] and isinstance(res.rejected[0][1], RevokedKey)
    # An admin (the lost-key case).
    r = world.run(world.admin, "identity", "rotate_key",
                  {"did": did, "public_key": new2.public.b64})
    assert r["ok"] and world.participant(did)["key"] == new2.public.b64  # type: ignore[index]
    # A key that is or was registered cannot be reused.
    r = world.run(world.admin, "identity", "rotate_key",
                  {"did": did, "public_key": new1.public.b64})
    assert _code(r) == "already_exists"


def test_revoked_signer_is_stopped_in_the_next_block_and_later_in_the_same_block(
        world: World, keys: Keys) -> None:
    m = keys.ed[0]
    did = world.member(m)
    # Same block: revoke, then a transaction by the revoked signer.
    after = world.tx(m, "trace", "record_event", {"batch": "b", "event": {}})
    res = world.block(world.tx(world.admin, "identity", "revoke", {"did": did, "reason": "r"}),
                      after)
    assert res.oks == [True] and len(res.included) == 1
    assert res.rejected[0][0].tx_id == after.id and isinstance(res.rejected[0][1], RevokedKey)
    assert world.participant(did)["status"] == "revoked"  # type: ignore[index]
    # Next block.
    res = world.block(world.tx(m, "trace", "record_event", {"batch": "b", "event": {}}))
    assert res.included == [] and res.writes == []
    assert isinstance(res.rejected[0][1], RevokedKey)
    r = world.run(world.admin, "identity", "revoke", {"did": did, "reason": "again"})
    assert _code(r) == "invalid_state"


def test_unknown_signer_is_rejected_not_recorded(world: World, keys: Keys) -> None:
    res = world.block(world.tx(keys.ed[5], "trace", "record_event", {"batch": "b", "event": {}}))
    assert res.included == [] and res.receipts == [] and res.writes == []
    assert isinstance(res.rejected[0][1], UnknownSigner)


def test_failed_call_in_a_block_leaves_no_writes(world: World, keys: Keys) -> None:
    did = world.member(keys.ed[0])
    before = dict(world.store)
    bad = world.tx(keys.ed[0], "trace", "record_event", {"batch": "b", "event": {},
                                                         "prev": "f" * 64})
    res = world.block(bad)
    assert res.oks == [False] and res.writes == [] and res.ops == []
    # (the empty event is refused by trace's prepare step, before any write)
    assert decode(res.receipts[0])["error"]["code"] == "epcis_invalid"
    assert world.store == before and did


def test_a_participant_read_racing_a_block_does_not_leave_stale_state(keys: Keys) -> None:
    w = World(keys)
    assert w.run(w.admin, "identity", "register_org",
                 {"id": "acme", "name": "A", "roles": ["manufacturer"]})["ok"]
    m = keys.ed[0]
    did = w.member(m)
    committed = dict(w.store)
    # A fresh executor over the committed store, as after a node restart. Its store reader
    # is where an admission thread blocks (SQLite releases the GIL) in
    # Node._settle -> executor.participant; the builder thread meanwhile runs a block that
    # revokes the member. The interleaving is replayed here deterministically.
    pkey = f"identity/{participant_key(did)}"
    revoke = w.tx(w.admin, "identity", "revoke", {"did": did, "reason": "r"})
    blocks: list[Any] = []
    interleaved: list[bool] = []
    ex: Executor

    def store_read(key: str) -> bytes | None:
        value = committed.get(key)  # the value as of the read, before the block commits
        if key == pkey and not interleaved:
            interleaved.append(True)
            blocks.append(ex.execute([w.call(revoke)], height=9))  # builder thread, meanwhile
        return value

    ex = Executor(w.contracts, store_read)
    # An admission thread's check (Node._settle) peeks without filling the caches.
    assert ex.peek_participant(did) is not None
    assert blocks[0].oks == [True]
    committed.update({k: v for k, v in blocks[0].writes if v is not None})  # commit
    assert decode(committed[pkey])["status"] == "revoked"
    p = ex.participant(did)
    assert p is not None and not p.active
    late = ex.execute([w.call(w.tx(m, "trace", "record_event", {"batch": "b", "event": {}}))],
                      height=10)
    assert late.included == []


def test_error_codes_rebuild_typed_errors() -> None:
    # Receipts and worker verdicts carry errors as {code, message, details}; rebuilding one
    # must give the narrow class back, with its typed attributes.
    from supplyledger.errors import PayloadTooLarge, RoleDenied, error_from_code

    e = error_from_code("role_denied", "m", {"required": ["admin"], "held": []})
    assert isinstance(e, RoleDenied) and e.required == ["admin"] and e.held == []
    p = error_from_code("payload_too_large", "m", {"size": 5, "limit": 4})
    assert isinstance(p, PayloadTooLarge) and (p.size, p.limit) == (5, 4)
    for code in ("not_found", "validation_error", "unknown_method", "revoked_key"):
        assert error_from_code(code, "m").code == code
    assert type(error_from_code("no_such_code", "m")) is SupplyLedgerError


@method(roles="*", args={"k": Str()}, reads=lambda a: [f"t/{a['k']}", "t/hinted-only"])
def bump(ctx: Ctx, args: dict[str, Any]) -> int:
    n = (ctx.get(args["k"]) or 0) + 1
    ctx.put(args["k"], n)
    return int(n)


def test_read_hints_are_fetched_in_one_batch_and_never_override_executed_state(
        keys: Keys) -> None:
    w = World(keys)
    assert w.run(w.admin, "identity", "register_org",
                 {"id": "acme", "name": "A", "roles": ["manufacturer"]})["ok"]
    m = keys.ed[0]
    w.member(m)
    contracts = {**w.contracts, "t": Contract.of("t", "hinted", [bump])}
    store = {**w.store, "t/a": canonical(5)}
    point: list[str] = []
    batches: list[list[str]] = []

    def read_one(key: str) -> bytes | None:
        point.append(key)
        return store.get(key)

    def read_many(ks: list[str]) -> dict[str, bytes]:
        batches.append(sorted(ks))
        return {k: store[k] for k in ks if k in store}

    ex = Executor(contracts, read_one, read_many=read_many)

    def run(*names: str) -> list[int]:
        calls = [call_from_env(contracts, t.id, t.env, t.raw) for t in (
            w.tx(m, "t", "bump", {"k": n}) for n in names)]
        res = ex.execute(calls, height=1)
        return [decode(r)["result"] for r in res.receipts]

    assert run("a", "a", "b") == [6, 7, 1]
    assert batches == [["t/a", "t/b", "t/hinted-only"]]
    assert not [k for k in point if k.startswith("t/")]  # no one-by-one reads of hinted keys
    # The store still says 5 (nothing committed): a later prefetch must not fetch a key the
    # executor already holds, or it would undo the block above.
    assert run("a", "c") == [8, 1]
    assert batches[1] == ["t/c"]
