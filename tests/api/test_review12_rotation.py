"""The account page's "Rotate my key": a web user's key, held by the node sealed under
their password, is rotated on the ledger, stored sealed under the same password, and every
data key wrapped for the user is re-wrapped, so their private records stay readable (as
reader and as author). Refusals change nothing; a resent form does not rotate twice; a
rotation whose answer was lost is finished by rotating again, without a second rotation.

Before there was no way to rotate a web user's key at all (the key exists only sealed in
the node), and a raw ``identity.rotate_key`` left every private record unreadable."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest

from supplyledger.errors import AccessDenied
from supplyledger.ledger.crypto import PrivateKey, PublicKey, generate
from supplyledger.ledger.keyfile import unseal
from supplyledger.node.private_data import pending_key_path

from .conftest import PASSWORDS, World, bearer
from .test_pages import _web_login

pytestmark = pytest.mark.anyio
SECRET = "Ms Li Wei, 12 Chunxi Road, Chengdu"
PW = PASSWORDS["customer"]


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert m, f"no {name} field"
    return m.group(1)


def _rotate_form(html: str) -> dict[str, str]:
    assert 'id="rotate"' in html and "Rotate my key" in html
    form = html.split('id="rotate"', 1)[1].split("</form>", 1)[0]
    assert 'name="action" value="rotate"' in form and 'name="confirm"' in form
    return {"csrf": _field(form, "csrf"), "once": _field(form, "once"), "action": "rotate",
            "password": PW, "confirm": "yes"}


def _records(world: World) -> tuple[str, str]:
    """(a record the shop shares with the customer, one the customer shares with the shop)."""
    pd = world.service.features.private
    to_customer = pd.share(world.keys["shop"], b"shop note", [world.did("customer")])
    by_customer = pd.share(world.keys["customer"], SECRET.encode(), [world.did("shop")])
    return to_customer, by_customer


def _ledger_key(world: World) -> PublicKey:
    p = world.service.participant(world.did("customer"))
    assert p is not None
    return PublicKey.from_b64(str(p["key"]))


def _account_key(world: World) -> PrivateKey:
    return unseal(world.service.accounts.sealed_key(world.did("customer")), PW)


def _state(world: World) -> tuple[Any, ...]:
    """Ledger, the account's sealed key and every private file, as they are."""
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((world.dir / "private").rglob("*")) if p.is_file()}
    return world.snapshot(), world.service.accounts.sealed_key(world.did("customer")), files


async def _read_on_the_web(client: httpx.AsyncClient, csrf: str, rid: str) -> str:
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read", "record": rid})
    assert r.status_code == 200, r.text[-2000:]
    return r.text


async def test_rotate_my_key_keeps_my_private_records(client: httpx.AsyncClient,
                                                      world: World) -> None:
    to_customer, by_customer = _records(world)
    old = world.keys["customer"]
    other = await bearer(client, "customer")  # another session of the same user
    csrf = await _web_login(client, "customer")
    form = _rotate_form((await client.get("/account")).text)
    r = await client.post("/account", data=form)
    assert r.status_code == 200, r.text[-2000:]
    assert "Key rotated" in r.text and "2 private record(s) re-wrapped" in r.text
    new = _account_key(world)
    assert _ledger_key(world).spki == new.public.spki != old.public.spki
    assert not pending_key_path(world.dir, world.did("customer")).exists()
    # This session reads with the new key, as reader and as author.
    assert "shop note" in await _read_on_the_web(client, csrf, to_customer)
    assert SECRET in await _read_on_the_web(client, csrf, by_customer)
    pd = world.service.features.private
    assert pd.read(by_customer, world.keys["shop"]) == SECRET.encode()  # others untouched
    with pytest.raises(AccessDenied, match="no longer"):
        pd.read(to_customer, old)
    # The other session held the old key: it ended.
    assert (await client.get("/api/auth/me", headers=other)).status_code == 401
    # The same form sent again (a reload) rotates nothing.
    before = _state(world)
    r = await client.post("/account", data=form)
    assert "Key rotated" in r.text and _state(world) == before


async def test_refusals_change_nothing(client: httpx.AsyncClient, world: World) -> None:
    _records(world)
    await _web_login(client, "customer")
    form = _rotate_form((await client.get("/account")).text)
    before = _state(world)
    r = await client.post("/account", data={**form, "password": "not-my-password"})
    assert r.status_code == 400 and "Wrong password: your key was not rotated." in r.text
    r = await client.post("/account", data={**form, "confirm": ""})
    assert r.status_code == 400 and "tick the box" in r.text
    r = await client.post("/account", data={**form, "csrf": "forged"})
    assert r.status_code == 403
    assert _state(world) == before
    # The refused attempts released the form: it still rotates once.
    r = await client.post("/account", data=form)
    assert "Key rotated" in r.text


async def test_a_key_an_admin_rotated_is_not_rotated_here(client: httpx.AsyncClient,
                                                         world: World) -> None:
    world.ok("admin", "identity", "rotate_key", {"did": world.did("customer"),
                                                 "public_key": generate("rsa").public.b64})
    await _web_login(client, "customer")
    form = _rotate_form((await client.get("/account")).text)
    before = _state(world)
    r = await client.post("/account", data=form)
    assert r.status_code == 400 and "no longer your key on the ledger" in r.text
    assert _state(world) == before


async def test_a_lost_answer_is_finished_by_rotating_again(
        client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    to_customer, _ = _records(world)
    svc = world.service
    commit = svc.submit_raw

    def answer_lost(raw: bytes) -> Any:
        commit(raw)  # committed on the ledger ...
        raise TimeoutError("transaction not committed within the timeout")  # ... unheard

    monkeypatch.setattr(svc, "submit_raw", answer_lost)
    csrf = await _web_login(client, "customer")
    old = _account_key(world)
    r = await client.post("/account", data=_rotate_form((await client.get("/account")).text))
    assert r.status_code == 400 and "sent but not confirmed" in r.text
    kept = pending_key_path(world.dir, world.did("customer"))
    assert kept.exists() and _account_key(world).public.spki == old.public.spki
    assert _ledger_key(world).spki != old.public.spki  # the ledger rotated
    monkeypatch.setattr(svc, "submit_raw", commit)
    height = world.snapshot()[0]
    r = await client.post("/account", data=_rotate_form((await client.get("/account")).text))
    assert "Key rotated" in r.text, r.text[-2000:]
    assert world.snapshot()[0] == height  # finished, not rotated a second time
    assert _account_key(world).public.spki == _ledger_key(world).spki and not kept.exists()
    assert "shop note" in await _read_on_the_web(client, csrf, to_customer)


async def test_a_rewrap_cut_short_is_finished_by_rotating_again(client: httpx.AsyncClient,
                                                                world: World) -> None:
    to_customer, by_customer = _records(world)
    # A real fault half-way: one wrapped key cannot be replaced (a directory sits where
    # its temporary file goes).
    last = max(to_customer, by_customer)
    wrapped = [f for f in (world.dir / "private" / "records" / last).glob("*.key")]
    blockers = [f.with_suffix(".key.tmp") for f in wrapped]
    for b in blockers:
        b.mkdir()
    csrf = await _web_login(client, "customer")
    old = _account_key(world)
    r = await client.post("/account", data=_rotate_form((await client.get("/account")).text))
    assert r.status_code == 400 and "re-wrapping your private records stopped" in r.text
    # The account keeps the old key (needed to finish); the ledger names the new one.
    assert _account_key(world).public.spki == old.public.spki != _ledger_key(world).spki
    for b in blockers:
        b.rmdir()
    height = world.snapshot()[0]
    r = await client.post("/account", data=_rotate_form((await client.get("/account")).text))
    assert "Key rotated" in r.text, r.text[-2000:]
    assert world.snapshot()[0] == height  # no second rotation
    assert "shop note" in await _read_on_the_web(client, csrf, to_customer)
    assert SECRET in await _read_on_the_web(client, csrf, by_customer)
