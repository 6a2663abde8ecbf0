"""Review 12: lapsed withdrawal instructions (payments rules v3) in the web UI, in-process
over httpx on a real SQLite ledger and node. Rules v3 made an open instruction lapse once
whoever gave it is revoked (or, for an organisation's account, left with only machine
roles), yet the pages still showed it as any other: no list said who had instructed it or
that it had lapsed, the bank's inbox still offered "Pay out" (which the ledger refuses),
and a consortium admin, who may now cancel it, had no button for it."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _rules import up_to
from supplyledger.api import create_app
from supplyledger.contracts.builtin.payments import read_supply
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.node.service import wall_clock_ms

from . import conftest
from .conftest import PASSWORDS, World
from .test_review11c_withdrawals import _web_login
from .test_review11c_withdrawals import bank_login as bank_login

pytestmark = pytest.mark.anyio
PAY = re.compile(r'href="/contracts/payments/withdraw\?instruction=([^&"]+)&amp;[^"]*">Pay out</a>')
CANCEL = re.compile(r'href="/contracts/payments/cancel_withdrawal\?instruction=([^"]+)">'
                    r'Cancel</a>')
FORM = re.compile(r'<form method="post" action="/contracts/payments/cancel_withdrawal"'
                  r'([^>]*)>(.*?)</form>', re.S)


def _hidden(form: str) -> dict[str, str]:
    return {k: htmllib.unescape(v) for k, v in
            re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)"', form)}


def _row(page: str, iid: str) -> str:
    """The table row of withdrawal instruction ``iid`` (its id is the first cell)."""
    rows = [r for r in re.findall(r"<tr[ >].*?</tr>", page, re.S)
            if f"<td>{iid}</td>" in r or f"<td><code>{iid}</code></td>" in r]
    assert len(rows) == 1, (iid, rows)
    return rows[0]


def _inbox(page: str) -> str:
    """The "About you" rows of withdrawals on the Orders area page (the bank's inbox)."""
    section = page.split("<summary><code>withdrawals</code>", 1)[1].split("</details>", 1)[0]
    return section.split("<caption>About you", 1)[1].split("</table>", 1)[0]


def _state(world: World, iid: str) -> str:
    return str(world.service.reads.rows("withdrawals", 1, None, {"id": iid}).items[0]["state"])


def _balance(world: World, account: str) -> int:
    row = world.service.reads.rows("balances", 1, None, {"account": account}).items[0]
    return int(row["balance"])


def _escrow(world: World, iid: str) -> int:
    return _balance(world, f"escrow:withdrawal:{iid}")


def _revoked_and_live(world: World) -> None:
    """W-1 from the customer's own account, whose key the admin then revokes (lapsed);
    W-2 from the shop's, which stands (live). Both name the bank's participant."""
    bank = world.did("bank")
    for who, amount in (("customer", 10_000), ("shop", 5_000)):
        world.ok("bank", "payments", "deposit", {"account": world.did(who), "currency": "EUR",
                                                 "amount": amount})
    world.ok("customer", "payments", "instruct_withdrawal", {
        "id": "W-1", "currency": "EUR", "amount": 4_000, "bank": bank})
    world.ok("shop", "payments", "instruct_withdrawal", {
        "id": "W-2", "currency": "EUR", "amount": 1_000, "bank": bank})
    world.ok("admin", "identity", "revoke", {"did": world.did("customer"),
                                             "reason": "key stolen"})


def _shows_lapsed(row: str, world: World) -> None:
    customer = world.did("customer")
    assert f'<span title="{customer}">Customer</span>' in row  # instructed by, by name
    assert '<span class="badge warn">lapsed</span>' in row
    assert "<small>Customer, who instructed it, is revoked</small>" in row
    assert customer not in row.split("lapsed</span>", 1)[1]  # the reason names, not ids


async def test_the_bank_sees_who_instructed_and_that_it_lapsed_and_no_pay_out(
        client: httpx.AsyncClient, world: World, bank_login: None) -> None:
    _revoked_and_live(world)
    await _web_login(client, "bank")
    pages = {"account": (await client.get("/account")).text,
             "inbox": (await client.get("/area/orders")).text,
             "table": (await client.get("/tables/withdrawals")).text}
    pages["inbox"] = _inbox(pages["inbox"])
    for where, page in pages.items():
        # (every page heads its columns for people, the column's name in the tooltip)
        for column, shown in (("instructed_by", "Instructed by"), ("lapsed", "Lapsed")):
            assert f'<th scope="col" title="{column}">{shown}</th>' in page, where
        assert PAY.findall(page) == ["W-2"], where  # none for the lapsed W-1
        _shows_lapsed(_row(page, "W-1"), world)
        live = _row(page, "W-2")
        assert '<span title="{}">Shop</span>'.format(world.did("shop")) in live
        assert "badge warn" not in live and 'title="no value">—</span>' in live, where
    assert 'id="lapsed-to-pay"' in pages["account"]
    # The clerk could not have paid it anyway: the ledger refuses, and nothing moves.
    r = world.node.submit(world.tx("bank", "payments", "withdraw",
                                   {"instruction": "W-1"})).result(30)
    assert not r.ok and r.error["details"]["current"] == "lapsed"
    assert _state(world, "W-1") == "open" and _escrow(world, "W-1") == 4_000


async def test_an_admin_cancels_a_lapsed_instruction_from_the_admin_page(
        client: httpx.AsyncClient, world: World, bank_login: None) -> None:
    _revoked_and_live(world)
    customer = world.did("customer")
    await _web_login(client, "admin")
    admin = (await client.get("/admin")).text
    card = admin.split('id="lapsed-card"', 1)[1].split("</section>", 1)[0]
    forms = FORM.findall(card)
    assert len(forms) == 1  # W-1 only: W-2 is its holder's business
    attrs, body = forms[0]
    fields = _hidden(body)
    assert fields["instruction"] == "W-1"
    assert fields["reason"] == "lapsed: Customer, who instructed it, is revoked"
    assert fields["csrf"] and fields["once"]  # CSRF and sent-once, as every signing form
    assert 'hx-confirm="Cancel withdrawal instruction W-1? The reserved EUR 40.00 returns ' \
           'to Customer; the bank will not pay it out."' in attrs
    row = _row(card, "W-1")
    assert f'<td title="{customer}">Customer</td>' in row  # the account, by name
    assert row.count(f'<td title="{customer}">Customer</td>') == 2  # and who instructed
    assert "<td>Customer, who instructed it, is revoked</td>" in row
    # Every table of withdrawals offers the admin "Cancel" on the lapsed one alone.
    assert CANCEL.findall((await client.get("/tables/withdrawals")).text) == ["W-1"]

    r = await client.post("/contracts/payments/cancel_withdrawal", data=fields)
    assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    assert _state(world, "W-1") == "cancelled" and _escrow(world, "W-1") == 0
    assert _balance(world, customer) == 10_000  # the reservation is back
    assert read_supply(world.node.store.get_state, "EUR") == 15_000
    again = await client.post("/contracts/payments/cancel_withdrawal", data=fields)
    assert 'id="repeated"' in again.text  # a resent form signs nothing
    admin = (await client.get("/admin")).text
    assert 'id="no-lapsed"' in admin and not FORM.search(admin)
    assert not CANCEL.search((await client.get("/tables/withdrawals")).text)


async def test_an_admin_cancelling_a_live_instruction_gets_the_contracts_refusal(
        client: httpx.AsyncClient, world: World, bank_login: None) -> None:
    _revoked_and_live(world)
    shop = world.did("shop")
    await _web_login(client, "admin")
    assert "W-2" not in (await client.get("/admin")).text.split('id="lapsed-card"', 1)[1]
    form = (await client.get("/contracts/payments/cancel_withdrawal?instruction=W-2")).text
    fields = {k: htmllib.unescape(v) for k, v in
              re.findall(r'name="(csrf|once)" value="([^"]+)"', form)}
    r = await client.post("/contracts/payments/cancel_withdrawal",
                          data={**fields, "instruction": "W-2"})
    assert r.status_code == 422
    assert ("withdrawal instruction W-2 has not lapsed: " + shop) in r.text
    assert "a consortium admin cancels only lapsed ones" in r.text
    assert _state(world, "W-2") == "open" and _escrow(world, "W-2") == 1_000
    assert _balance(world, shop) == 4_000
    await _web_login(client, "bank")  # and the bank still pays it out
    assert "W-2" in PAY.findall((await client.get("/account")).text)


def _authority(world: World, monkeypatch: pytest.MonkeyPatch) -> int:
    """Customs authority ``zoll`` (customs; device for its scanners) with two officers who
    have web logins, and the duties of one cleared declaration in ``org:zoll``."""
    world.ok("admin", "identity", "register_org", {"id": "zoll", "name": "Zoll",
                                                   "roles": ["customs", "device"]})
    for n in (1, 2):
        key = generate("ed25519")
        world.keys[f"officer{n}"] = key
        world.ok("admin", "identity", "register_member", {
            "org": "zoll", "public_key": key.public.b64, "name": f"Officer {n}",
            "roles": ["customs"]})
        monkeypatch.setitem(PASSWORDS, f"officer{n}", f"officer-pass-{n}")
        world.service.accounts.create(key.did, f"officer{n}", f"officer-pass-{n}", key)
    world.ok("admin", "customs", "appoint", {"country": "DE", "org": "zoll",
                                             "currency": "EUR"})
    world.ok("officer1", "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "61", "currency": "EUR", "duty_bp": 800,
        "vat_bp": 1900, "de_minimis": 15_000, "effective_from": wall_clock_ms() - 60_000})
    due: int = world.ok("mill", "customs", "declare", {
        "id": "d1", "origin": "CN", "destination": "DE", "incoterm": "DDP",
        "lines": [{"hs": "611020", "description": "shirts", "quantity": 1, "value": 50_000,
                   "currency": "EUR"}]})["due"]
    world.ok("bank", "payments", "deposit", {"account": world.did("mill"), "currency": "EUR",
                                             "amount": due})
    world.ok("mill", "customs", "pay", {"declaration": "d1"})
    world.ok("officer2", "customs", "clear", {"declaration": "d1"})
    assert _balance(world, "org:zoll") == due
    return due


async def test_an_organisations_other_member_sees_the_lapsed_instruction_and_cancels_it(
        client: httpx.AsyncClient, world: World, bank_login: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    due = _authority(world, monkeypatch)
    world.ok("officer1", "payments", "instruct_withdrawal", {
        "id": "M-1", "account": "org:zoll", "currency": "EUR", "amount": due, "bank": "bank"})
    # Officer 1 now only runs the scanners: a machine key instructs for nobody.
    world.ok("admin", "identity", "set_roles", {"did": world.did("officer1"),
                                                "roles": ["device"]})
    why = ("Officer 1, who instructed it, now holds only the roles device and no longer "
           "instructs for org:zoll")
    await _web_login(client, "bank")
    inbox = _inbox((await client.get("/area/orders")).text)
    assert f"<small>{why}</small>" in _row(inbox, "M-1") and not PAY.search(inbox)

    await _web_login(client, "officer2")
    page = (await client.get("/account")).text
    row = _row(page, "M-1")
    assert '<span title="{}">Officer 1</span>'.format(world.did("officer1")) in row
    assert f"<small>{why}</small>" in row and 'id="lapsed-mine"' in page
    assert CANCEL.findall(row) == ["M-1"]
    form = (await client.get("/contracts/payments/cancel_withdrawal?instruction=M-1")).text
    fields = dict(re.findall(r'name="(csrf|once)" value="([^"]+)"', form))
    r = await client.post("/contracts/payments/cancel_withdrawal",
                          data={**fields, "instruction": "M-1"})
    assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    assert _state(world, "M-1") == "cancelled" and _balance(world, "org:zoll") == due
    page = (await client.get("/account")).text
    assert 'id="lapsed-mine"' not in page and not CANCEL.search(page)


@pytest.fixture
def v2_world(tmp_path: Path, rsa_keys: list[PrivateKey]) -> Iterator[World]:
    """The usual consortium, its genesis written by a release whose payments rules stop at
    v2 (the node runs this release: v3 is implemented, not in force)."""
    w = conftest.build_world(tmp_path / "ledger", rsa_keys, up_to("payments", 2))
    yield w
    w.node.stop()
    w.service.close()


async def test_a_v2_ledger_shows_no_lapsed_state_until_v3_is_adopted(
        v2_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world: Any = v2_world
    assert world.service.rules_version("payments") == 2
    monkeypatch.setitem(PASSWORDS, "bank", "bank-pass-12")
    world.service.accounts.create(world.did("bank"), "bank", "bank-pass-12",
                                  world.keys["bank"])
    _revoked_and_live(world)
    app = create_app(world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        await _web_login(client, "bank")
        page = (await client.get("/account")).text
        assert '<th scope="col" title="instructed_by">' in page  # who instructed: any rules
        assert '<th scope="col" title="lapsed">' not in page and "badge warn" not in page
        assert sorted(PAY.findall(page)) == ["W-1", "W-2"]  # v2 still pays both
        assert 'id="lapsed-to-pay"' not in page
        await _web_login(client, "admin")
        assert 'id="lapsed-card"' not in (await client.get("/admin")).text
        assert not CANCEL.search((await client.get("/tables/withdrawals")).text)

        world.ok("admin", "rules", "adopt", {"contract": "payments", "version": 3})
        assert 'id="lapsed-card"' in (await client.get("/admin")).text
        assert CANCEL.findall((await client.get("/tables/withdrawals")).text) == ["W-1"]
        await _web_login(client, "bank")
        page = (await client.get("/account")).text
        assert PAY.findall(page) == ["W-2"]
        _shows_lapsed(_row(page, "W-1"), world)
