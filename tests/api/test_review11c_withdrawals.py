"""Review 11c: withdrawals in the web UI (payments rules v2), in-process over httpx. The UI
had no way to instruct, pay out or cancel one: the account page showed no balances, a
bank's inbox did not list the instructions addressed to it (``bank`` was no addressee
column, and a bank named as an organisation matched nobody), and no row offered to pay
one out or cancel it."""

from __future__ import annotations

import re

import httpx
import pytest

from supplyledger.ledger.crypto import generate

from .conftest import PASSWORDS, World

pytestmark = pytest.mark.anyio
PAY = re.compile(r'href="(/contracts/payments/withdraw\?instruction=([^&"]+)&amp;amount=(\d+))"'
                 r'>Pay out</a>')
CANCEL = re.compile(r'href="(/contracts/payments/cancel_withdrawal\?instruction=([^"]+))"'
                    r'>Cancel</a>')


@pytest.fixture
def bank_login(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PASSWORDS, "bank", "bank-pass-12")
    world.service.accounts.create(world.did("bank"), "bank", "bank-pass-12",
                                  world.keys["bank"])


async def _web_login(c: httpx.AsyncClient, who: str) -> str:
    from .test_pages import _web_login as login

    c.cookies.clear()
    return await login(c, who)


def _once(html: str) -> str:
    m = re.search(r'name="once" value="([^"]+)"', html)
    assert m, "no send-once token"
    return m.group(1)


def _about_you(html: str, table: str) -> str:
    """The "About you" rows of ``table`` on an area page (the user's inbox)."""
    section = html.split(f"<summary><code>{table}</code>", 1)[1].split("</details>", 1)[0]
    assert "<caption>About you" in section, section[:500]
    return section.split("<caption>About you", 1)[1].split("</table>", 1)[0]


def _withdrawal(world: World, iid: str) -> dict[str, object]:
    return dict(world.service.reads.rows("withdrawals", 1, None, {"id": iid}).items[0])


async def test_a_holder_instructs_and_the_bank_pays_out_on_the_web(
        client: httpx.AsyncClient, world: World, bank_login: None) -> None:
    customer = world.did("customer")
    world.ok("bank", "payments", "deposit", {"account": customer, "currency": "EUR",
                                             "amount": 10_000})
    csrf = await _web_login(client, "customer")
    html = (await client.get("/account")).text
    assert 'title="10000 minor units">EUR 100.00<' in html  # the balance, for people
    form = html.split('action="/contracts/payments/instruct_withdrawal"', 1)[1]
    form = form.split("</form>", 1)[0]
    assert f'name="csrf" value="{csrf}"' in form and 'name="once"' in form
    assert f'<option value="{customer}">your own</option>' in form
    assert '<option value="org:customers">' in form  # a member instructs for its org too
    banks = html.split('<datalist id="dl-banks">', 1)[1].split("</datalist>", 1)[0]
    assert f'<option value="{world.did("bank")}">' in banks and '<option value="bank">' in banks
    assert "mill" not in banks  # no settlement role: cannot pay anything out

    r = await client.post("/contracts/payments/instruct_withdrawal",
                          headers={"hx-request": "true"},
                          data={"csrf": csrf, "id": "W-1", "account": customer,
                                "currency": "EUR", "amount": "6000",
                                "bank": world.did("bank"), "reference": "rent"})
    assert "Committed" in r.text, r.text
    html = (await client.get("/account")).text
    assert [m[1] for m in CANCEL.findall(html)] == ["W-1"]
    assert not PAY.search(html)  # the holder is no bank

    await _web_login(client, "bank")
    inbox = _about_you((await client.get("/area/orders")).text, "withdrawals")
    assert [(iid, amount) for _, iid, amount in PAY.findall(inbox)] == [("W-1", "6000")]
    found = PAY.findall((await client.get("/account")).text)  # the bank's own list
    assert [(iid, amount) for _, iid, amount in found] == [("W-1", "6000")]
    link = found[0][0].replace("&amp;", "&")
    html = (await client.get(link)).text
    assert re.search(r'name="amount" type="number" value="6000"', html)
    assert re.search(r'name="instruction" type="text" value="W-1"', html)
    assert 'name="reference"' in html and "W-1" in html.split('id="dl-withdrawals"', 1)[1]
    r = await client.post("/contracts/payments/withdraw", data={
        "csrf": re.search(r'name="csrf" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
        "once": _once(html), "instruction": "W-1", "amount": "6000",
        "reference": "BANK-REF-9"})
    assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    w = _withdrawal(world, "W-1")
    assert (w["state"], w["paid"]) == ("paid", 6000)
    assert not PAY.search((await client.get("/area/orders")).text)  # paid once
    await _web_login(client, "customer")
    assert not CANCEL.search((await client.get("/account")).text)


async def test_a_bank_named_as_its_organisation_sees_the_instruction_and_the_holder_cancels(
        client: httpx.AsyncClient, world: World, bank_login: None) -> None:
    customer = world.did("customer")
    world.ok("bank", "payments", "deposit", {"account": customer, "currency": "EUR",
                                             "amount": 5_000})
    world.ok("customer", "payments", "instruct_withdrawal", {
        "id": "W-2", "currency": "EUR", "amount": 2_000, "bank": "bank"})
    await _web_login(client, "bank")
    inbox = _about_you((await client.get("/area/orders")).text, "withdrawals")
    assert [iid for _, iid, _ in PAY.findall(inbox)] == ["W-2"]
    assert [iid for _, iid, _ in PAY.findall((await client.get("/account")).text)] == ["W-2"]
    # Someone of another organisation sees it in no inbox of theirs, and may not pay it.
    await _web_login(client, "mill")
    assert not PAY.search((await client.get("/area/orders")).text)

    await _web_login(client, "customer")
    html = (await client.get("/account")).text
    link = dict((iid, href) for href, iid in CANCEL.findall(html))["W-2"]
    html = (await client.get(link)).text
    assert re.search(r'name="instruction" type="text" value="W-2"', html)
    r = await client.post("/contracts/payments/cancel_withdrawal", data={
        "csrf": re.search(r'name="csrf" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
        "once": _once(html), "instruction": "W-2"})
    assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    assert _withdrawal(world, "W-2")["state"] == "cancelled"
    balance = world.service.reads.rows("balances", 1, None, {"account": customer}).items[0]
    assert balance["balance"] == 5_000
    await _web_login(client, "bank")
    assert not PAY.search((await client.get("/area/orders")).text)


async def test_a_device_is_offered_no_organisation_account(
        client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only members that act for their organisation instruct from ``org:<org>``; a device
    only signs readings (the contract refuses it)."""
    key = generate("ed25519")
    world.ok("admin", "identity", "register_org", {"id": "fleet", "name": "Fleet",
                                                   "roles": ["device", "transporter"]})
    did = world.ok("admin", "identity", "register_member", {
        "org": "fleet", "public_key": key.public.b64, "name": "Probe 7",
        "roles": ["device"]})["did"]
    world.service.accounts.create(did, "probe", "probe-pass-1", key)
    monkeypatch.setitem(PASSWORDS, "probe", "probe-pass-1")
    await _web_login(client, "probe")
    html = (await client.get("/account")).text
    assert "org:fleet" not in html and f'<option value="{did}">your own</option>' in html
