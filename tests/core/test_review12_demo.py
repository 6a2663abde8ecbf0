"""Review 12 in the demo: a visitor meets this session's features on the demo ledger.

(1) Trace rules v4: the mill's dispatch clerk packs flour lot no. 2 onto the previous
lot's pallet, notices, takes it off in the books, packs it onto its own pallet and
declares the wrong packing in error: trace marks the packing declared wrong and lists the
withdrawn link, and the recall reaches only the right pallet and its shipment.
(2) Key rotation: the courier, who reads Alice's address, rotates its key through the
account page's code path; its printed login still works and reads the address with the
new key. (3) Payments v3: Highland Noodle Co.'s key is stolen with a withdrawal instruction
of its open; the bank's pay-out of it is refused as lapsed, an admin cancels it and hands
the balance to the company's new key.

One demo ledger (a week of activity, a fixed "now") for the module, with a node and the
web app on it in-process. Before, the demo had no pallet, no error declaration and no
rotation nor lapsed instruction (``notes`` had no ``mispacked``, ``rotated`` nor
``stolen_key``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.contracts.builtin.payments import read_balance
from supplyledger.demo import DemoInfo, load_demo
from supplyledger.demo.flour import pallet
from supplyledger.ledger.crypto import PublicKey
from supplyledger.ledger.encoding import decode
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.private_data import pending_key_path
from supplyledger.node.queries import TraceQueries
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000)
NOW = 1_795_176_000_000  # 20 Nov 2026, as the other demo tests
ADDRESS = b"18 Jinli Road, Wuhou District, Chengdu 610041"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LedgerService, DemoInfo]]:
    d = tmp_path_factory.mktemp("review12-demo") / "ledger"
    info = load_demo(Path(d), weeks=1, api=CHEAP, now_ms=NOW)
    node = Node(Settings(d, verify_workers=0), load_node_key(d, info.node_password)).start()
    svc = LedgerService(node, CHEAP)
    yield svc, info
    node.stop()
    svc.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _password(info: DemoInfo, login: str) -> str:
    return next(pw for who, pw, _, _ in info.logins if who == login)


@pytest.fixture
async def web(demo: tuple[LedgerService, DemoInfo]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(demo[0])),
                                 base_url="http://test") as c:
        yield c


async def _login(c: httpx.AsyncClient, info: DemoInfo, login: str) -> str:
    r = await c.post("/api/auth/login", json={"login": login,
                                              "password": _password(info, login)})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf"])


def _ids(answer: dict[str, Any]) -> set[str]:
    return {e["id"] for e in answer["affected"]}


def test_the_lot_packed_onto_the_wrong_pallet_is_recalled_with_the_right_one(
        demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, info = demo
    m = info.notes["mispacked"]
    lot, wrong, right = m["lot"], m["wrong_pallet"], m["pallet"]
    assert (wrong, right) == (pallet(1), pallet(2)) and lot.endswith("002")
    q = TraceQueries(svc.node.store)
    recall = q.recall(lot)
    assert {right, "urn:supplyledger:bol:GWM00002"} <= _ids(recall)
    assert not {wrong, "urn:supplyledger:bol:GWM00001"} & _ids(recall)
    assert [(w["what"], w["src"], w["dst"]) for w in recall["withdrawn"]] == [
        ("link", lot, wrong)]
    trace = q.trace(lot)
    assert trace["downstream"] == [right] and trace["withdrawn"] == recall["withdrawn"]
    mine = [e for e in trace["events"] if e["batch"] == lot]
    packings = [(e["biz_step"], e["declared_wrong"], e["error_declaration"]) for e in mine
                if e["biz_step"] in ("packing", "unpacking")]
    # packed onto the wrong pallet (declared wrong), off it in the books, onto its own,
    # and the declaration
    assert packings == [("packing", True, False), ("unpacking", False, False),
                        ("packing", False, False), ("packing", False, True)]
    assert not trace["faults"]
    # the earlier lot, on the wrong pallet for real, keeps it; that pallet never held lot 2
    first = q.trace(wrong)
    assert lot not in first["upstream"] and len(first["upstream"]) >= 1
    assert "urn:supplyledger:bol:GWM00001" in _ids(q.recall(first["upstream"][0]))


async def test_the_trace_page_shows_the_declaration_and_the_withdrawn_link(
        web: httpx.AsyncClient, demo: tuple[LedgerService, DemoInfo]) -> None:
    _, info = demo
    m = info.notes["mispacked"]
    await _login(web, info, "mill")
    r = await web.get("/trace", params={"batch": m["lot"].rsplit("/", 1)[-1]})
    assert r.status_code == 200, r.text[-2000:]
    assert "declared wrong</span>" in r.text and "error declaration</span>" in r.text
    assert "incorrect_data" in r.text
    section = re.search(r'<section[^>]*id="withdrawn".*?</section>', r.text, re.S)
    assert section and m["wrong_pallet"].rsplit("/", 1)[-1] in section.group(0)


async def test_the_courier_reads_alices_address_with_its_rotated_key(
        web: httpx.AsyncClient, demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, info = demo
    rot = info.notes["rotated"]
    assert rot["login"] == "courier" and rot["old_key"] != rot["new_key"]
    # the ledger names the new key and keeps the old one as the courier's former key
    p = svc.participant(rot["did"])
    assert p is not None and PublicKey.from_b64(str(p["key"])).fingerprint == rot["new_key"]
    old = svc.node.store.get_state(f"identity/k/{rot['old_key']}")
    assert old is not None and decode(old) == rot["did"]
    assert not pending_key_path(svc.node.settings.data_dir, rot["did"]).exists()
    # the printed login still works, holds the new key, and reads the record with it
    sess = svc.login("courier", _password(info, "courier"), "test")
    key = svc.accounts.signing_key(sess)
    assert key.public.fingerprint == rot["new_key"]
    assert ADDRESS in svc.features.private.read(rot["record"], key)
    # and so does the web page a visitor opens
    csrf = await _login(web, info, "courier")
    r = await web.post("/privacy", data={"csrf": csrf, "action": "read",
                                         "record": rot["record"]})
    assert r.status_code == 200 and ADDRESS.decode() in r.text, r.text[-2000:]


def test_a_stolen_keys_instruction_lapses_and_its_money_passes_to_the_new_key(
        demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, info = demo
    st = info.notes["stolen_key"]
    old, new, iid = st["revoked"], st["successor"], st["instruction"]
    assert (svc.participant(old) or {}).get("status") == "revoked"
    [refused] = svc.reads.txs(10, None, contract="payments", method="withdraw",
                              ok=False).items
    err = svc.reads.receipt(refused["id"])["error"]
    assert err["code"] == "invalid_state" and err["details"]["current"] == "lapsed"
    [row] = svc.reads.rows("withdrawals", 10, None, {"id": iid}).items
    assert (row["account"], row["state"], row["paid"]) == (old, "cancelled", 0)
    read = svc.node.store.get_state
    assert read_balance(read, old, "CNY") == 0
    assert read_balance(read, new, "CNY") == st["handed_over"]["CNY"] > 0
