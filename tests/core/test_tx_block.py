"""Transactions (envelope, id, stored form, parsing) and blocks (headers, roots, state root)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from supplyledger.contracts.builtin.identity import genesis_writes
from supplyledger.contracts.executor import Executor, encode_writes
from supplyledger.contracts.runtime import Contract, Ctx, call_from_env, method
from supplyledger.contracts.schema import List, Str
from supplyledger.errors import (
    CryptoError,
    EncodingError,
    InvalidSignature,
    PayloadTooLarge,
    SupplyLedgerError,
    ValidationError,
)
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import PrivateKey, b64e
from supplyledger.ledger.encoding import canonical
from supplyledger.ledger.tx import envelope_bytes_of, make_tx, parse_tx

from .conftest import Keys
from .test_merkle import ref_mth

T = 1_767_225_600_000
LIMIT = 64 * 1024


def _env(signer: str, **over: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"chain": "c1", "contract": "trace", "method": "record_event",
                           "args": {"batch": "b1", "event": {"type": "ObjectEvent"}},
                           "signer": signer, "nonce": 7, "time": T}
    env.update(over)
    return env


def _tx(key: PrivateKey, args: dict[str, Any] | None = None, **kw: Any) -> Any:
    return make_tx(key, chain=kw.get("chain", "c1"), contract=kw.get("contract", "trace"),
                   method=kw.get("method", "record_event"),
                   args=args if args is not None else {"batch": "b1", "event": {}},
                   time_ms=kw.get("time_ms", T), nonce=kw.get("nonce", 7))


# -- ids and the stored form ------------------------------------------------------------------

def test_id_is_sha256_of_the_canonical_envelope(keys: Keys) -> None:
    k = keys.ed[0]
    tx = _tx(k, {"batch": "b1", "event": {"type": "ObjectEvent"}})
    env = _env(k.did)
    assert tx.env == env
    assert tx.env_bytes == canonical(env)
    assert tx.id == hashlib.sha256(canonical(env)).hexdigest()
    k.public.verify(tx.sig, tx.env_bytes)


def test_id_does_not_cover_the_randomised_rsa_signature(keys: Keys) -> None:
    a, b = _tx(keys.rsa), _tx(keys.rsa)
    assert a.sig != b.sig and a.raw != b.raw  # PSS: same intent, two signatures
    assert a.id == b.id  # ... but one id, so a replay is recognised
    assert _tx(keys.rsa, nonce=8).id != a.id  # any envelope change is a new id


def test_stored_form_is_canonical_and_splits_back_exactly(keys: Keys) -> None:
    tx = _tx(keys.rsa)
    assert tx.raw == canonical({"env": tx.env, "sig": b64e(tx.sig)})
    env_bytes, sig_b64 = envelope_bytes_of(tx.raw)
    assert env_bytes == tx.env_bytes and sig_b64 == b64e(tx.sig)


@pytest.mark.parametrize("args", [
    {"a": 1, "sig": "AAAA"},  # a nested "sig" member: ,"sig":" appears literally in the env
    {"note": ',"sig":"', "x": {"a": 0, "sig": '"}'}},
    {"sig": ',"sig":"AAAA"}', "zz": [{"q": 1, "sig": ""}]},
], ids=["nested_sig_key", "sig_text_in_value", "several"])
def test_envelope_bytes_survive_args_that_mimic_the_separator(keys: Keys,
                                                              args: dict[str, Any]) -> None:
    tx = make_tx(keys.ed[0], chain="c1", contract="x", method="y", args=args, time_ms=T,
                 nonce="n")
    assert b',"sig":"' in tx.env_bytes  # the separator occurs inside the envelope itself
    env_bytes, sig_b64 = envelope_bytes_of(tx.raw)
    assert env_bytes == tx.env_bytes and sig_b64 == b64e(tx.sig)
    keys.ed[0].public.verify(tx.sig, env_bytes)
    assert parse_tx(tx.raw, max_bytes=LIMIT).id == tx.id


def test_envelope_bytes_of_rejects_non_stored_forms() -> None:
    for raw in (b'{"sig":"AA==","env":{}}', b'{"env":{}}', b'{"env":{},"sig":"AA=="'):
        with pytest.raises(EncodingError):
            envelope_bytes_of(raw)


# -- parsing submitted bytes ------------------------------------------------------------------

def test_parse_tx_round_trip(keys: Keys) -> None:
    tx = _tx(keys.rsa3072)
    p = parse_tx(tx.raw, max_bytes=LIMIT)
    assert (p.id, p.env, p.env_bytes, p.sig, p.raw) == (tx.id, tx.env, tx.env_bytes, tx.sig,
                                                        tx.raw)
    assert (p.signer, p.time, p.contract, p.method) == (keys.rsa3072.did, T, "trace",
                                                        "record_event")


def test_parse_tx_canonicalises_another_spelling(keys: Keys) -> None:
    tx = _tx(keys.ed[0])
    loose = json.dumps({"sig": b64e(tx.sig), "env": tx.env}, indent=2,
                       ensure_ascii=True).encode()
    p = parse_tx(loose, max_bytes=LIMIT)
    assert p.id == tx.id and p.raw == tx.raw and p.env_bytes == tx.env_bytes
    keys.ed[0].public.verify(p.sig, p.env_bytes)


def _raw(env: Any, sig: Any = "QUJD") -> bytes:
    return json.dumps({"env": env, "sig": sig}).encode()


def _bad_envs() -> list[tuple[str, Any]]:
    d = "did:sl:" + "0" * 40
    return [
        ("env_not_object", []),
        ("missing_nonce", {k: v for k, v in _env(d).items() if k != "nonce"}),
        ("extra_field", {**_env(d), "fee": 1}),
        ("chain_int", _env(d, chain=1)),
        ("chain_empty", _env(d, chain="")),
        ("chain_too_long", _env(d, chain="c" * 129)),
        ("signer_null", {**_env(d), "signer": None}),
        ("signer_too_long", {**_env(d), "signer": "d" * 129}),
        ("contract_upper", _env(d, contract="Trace")),
        ("contract_digit_first", _env(d, contract="1trace")),
        ("method_dash", _env(d, method="record-event")),
        ("method_too_long", _env(d, method="m" * 49)),
        ("args_list", _env(d, args=[])),
        ("args_string", _env(d, args="{}")),
        ("nonce_negative", _env(d, nonce=-1)),
        ("nonce_bool", _env(d, nonce=True)),
        ("nonce_empty", _env(d, nonce="")),
        ("nonce_long", _env(d, nonce="n" * 65)),
        ("nonce_object", _env(d, nonce={})),
        ("time_negative", _env(d, time=-1)),
        ("time_string", _env(d, time=str(T))),
        ("time_bool", _env(d, time=False)),
    ]


@pytest.mark.parametrize(("name", "env"), _bad_envs(), ids=[n for n, _ in _bad_envs()])
def test_parse_tx_rejects_bad_envelopes(name: str, env: Any) -> None:
    with pytest.raises(ValidationError):
        parse_tx(_raw(env), max_bytes=LIMIT)


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[]", b'"tx"', b"{}", b'{"env":{}}', b'{"sig":"QUJD"}',
    b'{"env":{},"sig":"QUJD","extra":1}', b'{"env":{},"sig":123}', b'{"env":{},"sig":null}',
], ids=repr)
def test_parse_tx_rejects_bad_documents(raw: bytes) -> None:
    with pytest.raises(SupplyLedgerError) as info:
        parse_tx(raw, max_bytes=LIMIT)
    assert isinstance(info.value, EncodingError | ValidationError)


def test_parse_tx_rejects_float_time_and_big_ints(keys: Keys) -> None:
    tx = _tx(keys.ed[0])
    for old, new in ((f'"time":{T}', f'"time":{T}.0'), ('"nonce":7', '"nonce":1e3')):
        with pytest.raises(EncodingError):
            parse_tx(tx.raw.replace(old.encode(), new.encode()), max_bytes=LIMIT)
    for old, new in (('"nonce":7', '"nonce":9007199254740992'),
                     (f'"time":{T}', '"time":9007199254740992')):
        with pytest.raises(ValidationError):  # envelope integers are range-checked
            parse_tx(tx.raw.replace(old.encode(), new.encode()), max_bytes=LIMIT)


@pytest.mark.parametrize("sig", ["QUJ", "QU#D", "QUJD\n", "é"], ids=repr)
def test_parse_tx_rejects_bad_base64(keys: Keys, sig: str) -> None:
    with pytest.raises(CryptoError):
        parse_tx(_raw(_env(keys.ed[0].did), sig), max_bytes=LIMIT)


def test_parse_tx_size_limit(keys: Keys) -> None:
    tx = _tx(keys.ed[0], {"batch": "b1", "event": {"pad": "x" * 2000}})
    n = len(tx.raw)
    assert parse_tx(tx.raw, max_bytes=n).id == tx.id  # exactly at the limit is fine
    with pytest.raises(PayloadTooLarge) as info:
        parse_tx(tx.raw, max_bytes=n - 1)
    assert (info.value.size, info.value.limit) == (n, n - 1)
    assert info.value.to_dict()["details"] == {"size": n, "limit": n - 1}
    assert isinstance(info.value, ValidationError)


def test_a_signature_does_not_move_to_another_envelope(keys: Keys) -> None:
    a, b = _tx(keys.ed[0], nonce=1), _tx(keys.ed[0], nonce=2)
    forged = parse_tx(_raw(a.env, b64e(b.sig)), max_bytes=LIMIT)
    with pytest.raises(InvalidSignature):
        keys.ed[0].public.verify(forged.sig, forged.env_bytes)


# -- block headers ----------------------------------------------------------------------------

def _header(**over: Any) -> blk.Header:
    fields: dict[str, Any] = dict(
        chain="c1", height=3, prev="ab" * 32, time=T, tx_root="01" * 32,
        receipts_root="02" * 32, state_root="03" * 32, tx_count=2, proposer="did:sl:x")
    fields.update(over)
    return blk.Header(**fields)


def test_header_hash_is_sha256_of_its_canonical_dict() -> None:
    h = _header()
    want = canonical({"version": 1, "chain": "c1", "height": 3, "prev": "ab" * 32, "time": T,
                      "tx_root": "01" * 32, "receipts_root": "02" * 32,
                      "state_root": "03" * 32, "tx_count": 2, "proposer": "did:sl:x"})
    assert h.encode() == want
    assert h.hash == hashlib.sha256(want).hexdigest()
    assert blk.Header.decode(want) == h
    for field, value in (("height", 4), ("prev", "ac" * 32), ("time", T + 1),
                         ("tx_root", "11" * 32), ("receipts_root", "12" * 32),
                         ("state_root", "13" * 32), ("tx_count", 3), ("proposer", "did:sl:y"),
                         ("chain", "c2"), ("version", 2)):
        assert _header(**{field: value}).hash != h.hash, field


def test_header_from_dict_needs_exactly_its_fields() -> None:
    d = _header().to_dict()
    bads: list[Any] = [{k: v for k, v in d.items() if k != "prev"}, {**d, "nonce": 0}, [], None]
    for bad in bads:
        with pytest.raises(ValidationError):
            blk.Header.from_dict(bad)


def test_header_signature(keys: Keys) -> None:
    for k in (keys.rsa, keys.ed[0]):
        signed = blk.SignedHeader.sign(_header(), k)
        signed.verify(k.public)
        with pytest.raises(InvalidSignature):
            blk.SignedHeader(_header(height=4), signed.signature).verify(k.public)
        with pytest.raises(InvalidSignature):
            signed.verify(keys.ed[1].public)


def test_tx_and_receipt_roots_are_rfc9162_trees() -> None:
    raws = [b'{"env":1}', b'{"env":2}', b'{"env":3}']
    assert bytes.fromhex(blk.tx_root(raws)) == ref_mth(raws)
    assert bytes.fromhex(blk.receipts_root(raws[:1])) == ref_mth(raws[:1])
    assert blk.tx_root([]) == hashlib.sha256(b"").hexdigest()
    assert blk.tx_root(raws) != blk.tx_root(raws[::-1])  # order is committed to
    assert blk.receipt_bytes({"tx": "t", "ok": True}) == b'{"ok":true,"tx":"t"}'


# -- state root -------------------------------------------------------------------------------

PREV = "00" * 32
BASE = [("a/x", b"1"), ("a/y", b'"v"'), ("b/z", None)]


def test_state_root_is_the_documented_hash_chain() -> None:
    h = hashlib.sha256()
    for k, v in BASE:
        h.update(len(k).to_bytes(4, "big") + k.encode())
        h.update(b"\xff\xff\xff\xff" if v is None else len(v).to_bytes(4, "big") + v)
    want = hashlib.sha256(bytes.fromhex(PREV) + h.digest()).hexdigest()
    assert blk.state_root(PREV, BASE) == want


def test_state_root_changes_with_any_write() -> None:
    base = blk.state_root(PREV, BASE)
    variants = [
        [("a/x", b"2"), *BASE[1:]],  # value
        [("a/w", b"1"), *BASE[1:]],  # key
        [*BASE[:2], ("b/z", b"")],  # deletion vs empty value
        [*BASE[:2]],  # a write fewer
        [*BASE, ("c", b"0")],  # a write more
        [("a/", b"x1"), *BASE[1:]],  # same concatenation, other split of key and value
    ]
    roots = {blk.state_root(PREV, v) for v in variants}
    assert base not in roots and len(roots) == len(variants)
    assert blk.state_root("11" * 32, BASE) != base  # chained onto the previous root
    assert blk.state_root(PREV, []) != PREV  # an empty block still advances the chain


@method(roles="*", args={"keys": List(item=Str())})
def put_all(ctx: Ctx, args: dict[str, Any]) -> None:
    for k in args["keys"]:
        ctx.put(k, k.upper())


def test_state_root_depends_on_content_not_on_how_writes_were_produced(keys: Keys) -> None:
    contracts = {"w": Contract.of("w", "", [put_all])}
    seed = encode_writes(genesis_writes(
        [{"name": "a", "org": "o", "roles": ["admin"], "public_key": keys.admin.public.b64}],
        [{"id": "o", "name": "O", "roles": ["admin"]}], T))

    def run(batches: list[list[str]]) -> list[tuple[str, bytes | None]]:
        ex = Executor(contracts, lambda key: None)
        ex.seed(seed)
        txs = [make_tx(keys.admin, chain="c1", contract="w", method="put_all",
                       args={"keys": b}, time_ms=T, nonce=i) for i, b in enumerate(batches)]
        res = ex.execute([call_from_env(contracts, t.id, t.env, t.raw) for t in txs], height=1)
        assert all(res.oks)
        return res.writes

    one = run([["b", "a", "c"]])
    two = run([["c"], ["a", "b"]])
    three = run([["a"], ["c", "b"], ["a"]])
    assert one == two == three == sorted(one)  # the executor hands over sorted writes
    root = blk.state_root(PREV, one)
    assert blk.state_root(PREV, two) == root
    assert blk.state_root(PREV, one[::-1]) != root  # the sorted content is what is hashed
    assert blk.state_root(PREV, run([["a", "b", "d"]])) != root
