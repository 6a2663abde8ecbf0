"""store/listings.py: keyset-paginated lists and lookups, checked on a real ledger (embedded
node) against what the test itself did. Every call's receipt is kept in call order, so the
expected pages, filters and lookups come from the calls, never from SQL."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import gtin
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import NotFound, ValidationError
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import decode
from supplyledger.node.receipts import Receipt
from supplyledger.store.listings import Listings, Page, PageLimits, decode_cursor, encode_cursor
from supplyledger.store.sqlite import SQLiteStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BAD_CURSOR = "cursor is not one this server issued"


@dataclass(frozen=True)
class Call:
    receipt: Receipt
    signer: str
    contract: str
    method: str


class LoggedConsortium(Consortium):
    """Keeps every call's receipt with who called what, in call order."""

    def __init__(self, data_dir: Path) -> None:
        self.log: list[Call] = []
        super().__init__(data_dir, clock=lambda: T0)

    def call(self, who: Party | PrivateKey, contract: str, method: str,
             args: dict[str, Any]) -> Receipt:
        r = super().call(who, contract, method, args)
        key = who.key if isinstance(who, Party) else who
        self.log.append(Call(r, key.did, contract, method))
        return r


@dataclass
class Ledger:
    c: LoggedConsortium
    store: SQLiteStore
    lists: Listings
    parties: dict[str, Party]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    c = LoggedConsortium(tmp_path_factory.mktemp("listings") / "ledger")
    store = SQLiteStore(c.dir)
    try:
        for org, roles in (("farm", ["manufacturer"]), ("mill", ["manufacturer", "warehouse"]),
                           ("bank", ["settlement"]), ("shop", ["warehouse"])):
            c.org(org, roles)
        farm = c.member("farm", "farm", ["manufacturer"])
        mill = c.member("mill", "mill", ["manufacturer", "warehouse"])
        bank = c.member("bank", "bank", ["settlement"])
        shop = c.member("shop", "shop", ["warehouse"])
        for i in range(3):
            c.ok(farm, "products", "create_product", {"gtin": gtin(f"69012340000{i}"),
                                                      "name": f"P{i}"})
        refused = c.call(farm, "products", "create_product", {"gtin": gtin("690123400000"),
                                                              "name": "again"})
        assert not refused.ok
        for who in (shop, mill):
            for cur in ("USD", "EUR"):
                c.ok(bank, "payments", "deposit", {"account": who.did, "currency": cur,
                                                   "amount": 1000})
        tables = {name: con.tables for name, con in load_builtin().items()}
        yield Ledger(c, store, Listings(store, tables), {p.name: p for p in (
            farm, mill, bank, shop)})
    finally:
        store.close()
        c.stop()


def walk(fetch: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing, page by page; also how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        page: Page = fetch(limit, cursor)
        assert len(page.items) <= limit
        items += page.items
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return items, pages


def test_cursor_format_is_unpadded_base64url_json() -> None:
    assert encode_cursor([12, 3]) == "WzEyLCAzXQ"  # base64url('[12, 3]'), '=' stripped
    assert decode_cursor("WzEyLCAzXQ", 2) == [12, 3]
    assert decode_cursor(encode_cursor(["did:sl:x", 7]), 2) == ["did:sl:x", 7]


@pytest.mark.parametrize("cursor", [
    "zzz", "!!!", "", encode_cursor([1]),  # garbage; a one-part key where two are needed
    encode_cursor([1, 2, 3]), encode_cursor([True, 1]), encode_cursor([1.5, 1]),
    encode_cursor([None, 1]), encode_cursor([[1], 1]),
    base64.urlsafe_b64encode(b'{"h": 1, "i": 2}').decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode()])
def test_decode_cursor_rejects_what_it_did_not_issue(cursor: str) -> None:
    with pytest.raises(ValidationError) as e:
        decode_cursor(cursor, 2)
    assert (e.value.message, e.value.details) == (BAD_CURSOR, {"arg": "cursor"})


def test_blocks_newest_first_across_pages(ledger: Ledger) -> None:
    height = ledger.c.node.height
    items, pages = walk(ledger.lists.blocks, 4)
    assert [b["height"] for b in items] == list(range(height, -1, -1))
    assert pages == height // 4 + 1
    top = ledger.store.block(height)
    assert top is not None and (items[0]["hash"], items[0]["header"]) == top[:2]
    first = ledger.lists.blocks(4)
    assert first.next_cursor == encode_cursor([height - 3])
    assert ledger.lists.blocks(4, encode_cursor([2])).items[0]["height"] == 1


def test_transactions_newest_first_without_genesis_and_signed_bytes(ledger: Ledger) -> None:
    items, _ = walk(ledger.lists.txs, 5)
    assert [t["id"] for t in items] == [c.receipt.tx_id for c in reversed(ledger.c.log)]
    assert {t["raw"] for t in items} == {b""}
    by_id = {c.receipt.tx_id: c for c in ledger.c.log}
    for t in items:
        call = by_id[t["id"]]
        assert (t["height"], t["index"], t["ok"], t["receipt"]) == (
            call.receipt.height, call.receipt.index, call.receipt.ok, call.receipt.raw)
        assert (t["signer"], t["contract"], t["method"]) == (
            call.signer, call.contract, call.method)


@pytest.mark.parametrize(("filters", "wanted"), [
    ({"contract": "identity"}, lambda c: c.contract == "identity"),
    ({"contract": "products", "ok": True},
     lambda c: c.contract == "products" and c.receipt.ok),
    ({"ok": False}, lambda c: not c.receipt.ok),
    ({"method": "deposit"}, lambda c: c.method == "deposit"),
    ({"signer": "farm"}, lambda c: c.contract == "products"),  # the farm only made products
    ({"contract": "nothing"}, lambda c: False),
])
def test_transaction_filters_hold_across_pages(ledger: Ledger, filters: dict[str, Any],
                                               wanted: Any) -> None:
    if "signer" in filters:
        filters = {**filters, "signer": ledger.parties[filters["signer"]].did}
    items, _ = walk(lambda n, cur: ledger.lists.txs(n, cur, **filters), 2)
    assert [t["id"] for t in items] == [
        c.receipt.tx_id for c in reversed(ledger.c.log) if wanted(c)]


def test_transactions_of_one_block(ledger: Ledger) -> None:
    last = ledger.c.log[-1].receipt
    page = ledger.lists.txs(height=last.height)
    assert [t["id"] for t in page.items] == [last.tx_id] and page.next_cursor is None


def test_block_lists_its_transactions_in_order(ledger: Ledger) -> None:
    r = ledger.c.log[-1].receipt
    b = ledger.lists.block(r.height)
    stored = ledger.store.block(r.height)
    assert stored is not None and (b["hash"], b["header"], b["signature"]) == stored
    assert [(t["id"], t["index"], t["raw"]) for t in b["txs"]] == [(r.tx_id, r.index, b"")]
    assert ledger.lists.block(0)["height"] == 0  # genesis is a block
    with pytest.raises(NotFound, match=r"^no block 9999$"):
        ledger.lists.block(9999)


def test_one_transaction_and_its_receipt(ledger: Ledger) -> None:
    refused = next(c.receipt for c in ledger.c.log if not c.receipt.ok)
    t = ledger.lists.tx(refused.tx_id)
    assert (t["id"], t["ok"], t["receipt"]) == (refused.tx_id, False, refused.raw)
    assert decode(t["raw"])["env"]["method"] == "create_product"  # the signed bytes
    assert ledger.lists.receipt(refused.tx_id) == (refused.height, refused.index, refused.raw)
    missing = "0" * 64
    for lookup in (ledger.lists.tx, ledger.lists.receipt):
        with pytest.raises(NotFound, match=f"^no committed transaction {missing}$"):
            lookup(missing)
    genesis_tx = ledger.store.reader().execute(
        "SELECT id FROM txs WHERE height = 0").fetchone()[0]
    with pytest.raises(NotFound, match=r"^block 0 holds the genesis document, not a transaction$"):
        ledger.lists.tx(genesis_tx)


def test_state_keys_under_a_prefix_in_key_order(ledger: Ledger) -> None:
    items, pages = walk(lambda n, cur: ledger.lists.state_keys("identity/o/", n, cur), 2)
    keys = [it["key"] for it in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) and pages >= 3
    assert {f"identity/o/{o}" for o in ("bank", "farm", "mill", "shop")} <= set(keys)
    assert all(k.startswith("identity/o/") for k in keys)
    assert decode(items[keys.index("identity/o/mill")]["value"])["roles"] == [
        "manufacturer", "warehouse"]
    # The last key of a prefix's range: nothing after it leaks into the page.
    only = ledger.lists.state_keys("identity/o/shop")
    assert [it["key"] for it in only.items] == ["identity/o/shop"]
    assert only.next_cursor is None
    assert ledger.lists.state_keys("no/such/prefix/").items == []
    with pytest.raises(ValidationError, match=BAD_CURSOR):
        ledger.lists.state_keys("identity/o/", 2, encode_cursor([5]))  # keys are strings


def test_projection_rows_in_primary_key_order_across_pages(ledger: Ledger) -> None:
    p = ledger.parties
    # balances' primary key is (account, currency): four rows, one per page.
    items, pages = walk(lambda n, cur: ledger.lists.rows("balances", n, cur), 1)
    assert [(r["account"], r["currency"]) for r in items] == sorted(
        (w.did, cur) for w in (p["shop"], p["mill"]) for cur in ("EUR", "USD"))
    assert pages == 4 and {r["balance"] for r in items} == {1000}
    assert ledger.lists.count("balances") == 4
    second = ledger.lists.rows("balances", 1, encode_cursor(
        [items[0]["account"], items[0]["currency"]]))
    assert second.items == [items[1]]


def test_projection_filters_and_list_membership(ledger: Ledger) -> None:
    p, lists = ledger.parties, ledger.lists
    farm = lists.rows("participants", filters={"org": "farm"}).items
    assert [r["did"] for r in farm] == [p["farm"].did]
    shop_eur = lists.rows("balances", filters={"account": p["shop"].did, "currency": "EUR"})
    assert [(r["account"], r["currency"]) for r in shop_eur.items] == [(p["shop"].did, "EUR")]
    # roles is a list column: "warehouse" matches one item of "manufacturer,warehouse".
    ware = lists.rows("participants", contains={"roles": "warehouse"}).items
    assert [r["did"] for r in ware] == sorted([p["mill"].did, p["shop"].did])
    assert lists.rows("participants", contains={"roles": "ware"}).items == []
    both = lists.rows("participants", filters={"org": "mill"}, contains={"roles": "warehouse"})
    assert [r["did"] for r in both.items] == [p["mill"].did]


@pytest.mark.parametrize("where", ["filters", "contains"])
@pytest.mark.parametrize("column", ["nope", "did; DROP TABLE participants", "key"])
def test_rows_reject_columns_the_table_does_not_declare(ledger: Ledger, where: str,
                                                        column: str) -> None:
    with pytest.raises(ValidationError) as e:
        ledger.lists.rows("participants", **{where: {column: "x"}})
    assert e.value.message == f"table participants has no column {column!r}"
    assert e.value.details == {"arg": column}


@pytest.mark.parametrize("name", ["nope", "txs", "state", "participants; --"])
def test_only_declared_projection_tables_are_listed(ledger: Ledger, name: str) -> None:
    # txs and state exist in the database but are no projection table.
    for call in (ledger.lists.rows, ledger.lists.count, ledger.lists.table):
        with pytest.raises(NotFound, match=f"^no projection table {name!r}"):
            call(name)


def test_bad_cursors_are_rejected_by_every_listing(ledger: Ledger) -> None:
    lists = ledger.lists
    for fetch in (lambda cur: lists.blocks(2, cur), lambda cur: lists.txs(2, cur),
                  lambda cur: lists.state_keys("identity/", 2, cur),
                  lambda cur: lists.rows("balances", 2, cur)):
        for cursor in ("zzz", encode_cursor([1, 2, 3]), encode_cursor([False, 1])):
            with pytest.raises(ValidationError, match=BAD_CURSOR):
                fetch(cursor)


def test_page_limits_default_and_bounds(ledger: Ledger) -> None:
    lists = Listings(ledger.store, {"payments": [ledger.lists.table("balances")]},
                     PageLimits(default=3, max=3))
    assert set(lists.tables) == {"balances"}
    assert len(lists.rows("balances").items) == 3
    assert len(lists.rows("balances", 3).items) == 3
    for bad in (0, -1, 4):
        with pytest.raises(ValidationError) as e:
            lists.rows("balances", bad)
        assert (e.value.message, e.value.details) == ("limit must be 1-3", {"arg": "limit"})
    assert PageLimits() == PageLimits(default=50, max=500)


def test_listings_need_nothing_from_the_api_or_ledger_layers() -> None:
    code = ("import sys, supplyledger.store.listings; "
            "print(sorted(m for m in sys.modules if m.startswith(('supplyledger.api', "
            "'supplyledger.ledger', 'supplyledger.node'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_rows_naming_a_participant_newest_first_with_their_count(ledger: Ledger) -> None:
    p, lists = ledger.parties, ledger.lists
    rows, n = lists.naming("balances", ["account"], p["shop"].did, "updated", 10)
    # Same clock for every deposit: ties fall back to the primary key, descending.
    assert [(r["account"], r["currency"]) for r in rows] == [(p["shop"].did, "USD"),
                                                            (p["shop"].did, "EUR")]
    assert n == 2
    rows, n = lists.naming("balances", ["account"], p["shop"].did, None, 1)
    assert len(rows) == 1 and n == 2  # the count is of all rows, not of the page
    names = lists.naming("participants", ["did", "org"], "mill", None, 10)
    assert [r["did"] for r in names[0]] == [p["mill"].did] and names[1] == 1
    assert lists.naming("balances", [], p["shop"].did, None, 10) == ([], 0)
    for cols, newest in ((["nope"], None), (["account"], "nope; --")):
        with pytest.raises(ValidationError, match="has no column"):
            lists.naming("balances", cols, "x", newest, 10)
