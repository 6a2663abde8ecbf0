"""Session 12's cheaper main-process paths give exactly what the paths they replace gave.

* the canonical check (one plain loop per container) accepts and refuses the same values,
  with the same first error, as the check it replaced (kept below as the reference);
* a receipt's frame is canonical by construction, so checking only the contract's values
  (``canonical_framed``) gives the bytes, or the error, of checking the whole receipt;
* the orders projection's Update carries the event's columns in name order, as before;
* the store binds transaction, receipt and state bytes as blobs that read back as bytes;
* a node's Receipt is still a frozen, comparable record.
"""

from __future__ import annotations

import dataclasses
import enum
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplyledger.contracts.builtin._orders_model import _ORDER_COLS, project_transition
from supplyledger.contracts.projection import EventMeta, Update
from supplyledger.errors import EncodingError, StoreError
from supplyledger.ledger.encoding import (
    _ASTRAL,
    MAX_INT,
    canonical,
    canonical_framed,
    check_value,
)
from supplyledger.node.receipts import Receipt
from supplyledger.store.records import BlockRecord, TxRow
from supplyledger.store.sqlite import SQLiteStore


def _reference_check(value: Any) -> None:
    """The canonical check as it was before session 12 (the reference for the new one)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise EncodingError(f"object key {k!r} is not a string")
            if not k.isascii() and _ASTRAL.search(k):
                raise EncodingError(f"object key {k!r} lies outside the Basic Multilingual Plane")
            tv = type(v)
            if tv is str or tv is bool or v is None:
                continue
            if tv is int and -MAX_INT <= v <= MAX_INT:
                continue
            _reference_check(v)
        return
    if t is str or t is bool or value is None:
        return
    if t is int:
        if not -MAX_INT <= value <= MAX_INT:
            raise EncodingError(f"integer {value} is outside the exact range ±(2**53-1)")
        return
    if t is list or t is tuple:
        for v in value:
            _reference_check(v)
        return
    if t is float:
        raise EncodingError(f"floats are not allowed in ledger data (got {value!r})")
    raise EncodingError(f"type {t.__name__} cannot be canonically encoded")


class _Level(enum.IntEnum):
    LOW = 1


class _Name(str):
    pass


_ODD = [MAX_INT, -MAX_INT, MAX_INT + 1, -MAX_INT - 1, 2**70, 1.5, -0.0, b"x", bytearray(b"y"),
        {1, 2}, frozenset(), _Level.LOW, _Name("n"), "\ud800", "\U0001f600", "é", (1, "a")]
_LEAVES = (st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=6)
           | st.sampled_from(_ODD))
_KEYS = (st.text(max_size=4) | st.sampled_from(["\U0001f600k", "ék", "\ufb33", 1, None, True,
                                                 _Name("k"), (1,)]))
_VALUES = st.recursive(
    _LEAVES, lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                            | st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=16)


def _outcome(check: Any, value: Any) -> str | None:
    try:
        check(value)
    except EncodingError as exc:
        return exc.message
    return None


@settings(max_examples=600, deadline=None)
@given(_VALUES)
def test_property_check_agrees_with_the_reference(value: Any) -> None:
    assert _outcome(check_value, value) == _outcome(_reference_check, value)


@pytest.mark.parametrize("value, message", [
    ({"a": 1, 2: 1.5}, "object key 2 is not a string"),
    ({"a": 1.5, 2: 1}, "floats are not allowed in ledger data (got 1.5)"),
    ({"\U0001f600": 1}, "lies outside the Basic Multilingual Plane"),
    ({"é\ufb33": [MAX_INT, -MAX_INT]}, None),
    ({"k": [1, {"n": -MAX_INT - 1}]}, "outside the exact range"),
    ({"k": _Level.LOW}, "type _Level cannot be canonically encoded"),
    ({_Name("k"): 1}, "is not a string"),
    ([(1, 2), {"x": frozenset()}], "type frozenset cannot be canonically encoded"),
])
def test_check_names_the_first_value_outside_the_subset(value: Any,
                                                        message: str | None) -> None:
    got = _outcome(check_value, value)
    assert got == _outcome(_reference_check, value)
    assert (got is None) if message is None else (got is not None and message in got)


def _receipt(tx: str, result: Any, events: list[tuple[str, dict[Any, Any]]]) -> dict[str, Any]:
    # As execute_call builds it: Ctx.emit makes each event a [type string, data] pair.
    return {"tx": tx, "ok": True, "result": result,
            "events": [[f"c.{etype}", data] for etype, data in events]}


def _bytes_or_error(encode: Any, *args: Any) -> bytes | str:
    try:
        out: bytes = encode(*args)
    except EncodingError as exc:
        return exc.message
    return out


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=8), _VALUES,
       st.lists(st.tuples(st.text(max_size=5), st.dictionaries(st.text(max_size=4), _VALUES,
                                                                max_size=3)), max_size=3))
def test_property_framed_receipt_equals_the_fully_checked_one(
        tx: str, result: Any, events: list[tuple[str, dict[Any, Any]]]) -> None:
    frame = _receipt(tx, result, events)
    parts = [result, *(data for _, data in events)]
    assert _bytes_or_error(canonical_framed, frame, parts) == _bytes_or_error(canonical, frame)


def test_framed_receipt_names_the_same_first_error() -> None:
    frame = _receipt("t1", {"n": 2**60}, [("e", {"x": 1.5})])
    with pytest.raises(EncodingError, match="outside the exact range"):
        canonical(frame)
    with pytest.raises(EncodingError, match="outside the exact range"):
        canonical_framed(frame, [frame["result"], frame["events"][0][1]])


_COLUMNS = frozenset(c for c, _ in _ORDER_COLS)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*_COLUMNS, "reason", "lapsed", "proof", "release_at"]),
                       st.integers(0, 9) | st.text(max_size=3) | st.none(), max_size=8))
def test_property_order_update_carries_the_event_columns_in_name_order(
        changed: dict[str, Any]) -> None:
    e = {**changed, "order": "o-1", "state": "delivered"}
    meta = EventMeta("tx-9", 3, 0, "did:sl:t", 5, None)
    update, history = project_transition("delivered")(e, meta)
    assert type(update) is Update and update.key == ("o-1",)
    expected = tuple((k, v) for k, v in sorted(e.items()) if k in _COLUMNS)
    assert update.values == (*expected, ("tx", "tx-9"))
    assert history.row[0] == "o-1"


def _block(height: int, raw: bytes, receipt: bytes) -> BlockRecord:
    return BlockRecord(height, f"h{height}", b"header", b"signature", 7,
                       (TxRow(f"t{height}", 0, raw, "did:sl:s", "c", "m", True, receipt),))


def test_committed_bytes_are_blobs_that_read_back_as_bytes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    try:
        store.commit_block(_block(0, b'{"raw":0}', b'{"ok":true}'),
                           [("a/1", b'{"v":1}'), ("a/2", b"2")], [])
        store.commit_block(_block(1, b'{"raw":1}', b'{"ok":false}'),
                           [("a/1", b'{"v":3}'), ("a/2", None)], [])
        assert store.get_state("a/1") == b'{"v":3}' and store.get_state("a/2") is None
        assert type(store.get_state("a/1")) is bytes
        assert store.block_txs(1) == [("t1", 0, b'{"raw":1}', b'{"ok":false}')]
        conn = sqlite3.connect(store.path)
        assert conn.execute("SELECT typeof(value) FROM state").fetchall() == [("blob",)]
        assert set(conn.execute("SELECT typeof(raw), typeof(receipt) FROM txs")) == {
            ("blob", "blob")}
        conn.close()
    finally:
        store.close()


def test_an_update_setting_nothing_still_fails_as_a_store_error(tmp_path: Path) -> None:
    from supplyledger.contracts.projection import Table

    table = Table("p", (("k", "TEXT"), ("v", "INTEGER")), ("k",))
    store = SQLiteStore(tmp_path, [table])
    try:
        store.ensure_projections()
        with pytest.raises(StoreError):
            store.commit_block(_block(0, b"{}", b"{}"), [], [Update("p", ("k",), ())])
    finally:
        store.close()


def test_receipt_is_a_frozen_comparable_record() -> None:
    r = Receipt("t1", 4, 2, b'{"ok":true,"result":{"n":1},"tx":"t1"}', True)
    assert (r.tx_id, r.height, r.index, r.ok) == ("t1", 4, 2, True)
    assert r == Receipt("t1", 4, 2, r.raw, ok=True) and hash(r) == hash(Receipt(
        "t1", 4, 2, r.raw, True))
    assert r.result == {"n": 1} and r.error is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.ok = False  # type: ignore[misc]
