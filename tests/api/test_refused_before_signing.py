"""Bad input from a form or the JSON API is refused before anything is signed: no failed
transaction on the ledger, no half-done enrolment. Checked on the ledger file itself (the
height and every state row stay as they were)."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import World, bearer, login

pytestmark = pytest.mark.anyio
TAKEN = {"org": "customers", "name": "Second Mill", "roles": ["customer"], "login": "mill",
         "password": "long-enough-1"}


async def test_enrolment_with_a_bad_login_registers_nobody(client: httpx.AsyncClient,
                                                           world: World) -> None:
    before = world.snapshot()
    b = await bearer(client, "admin")
    r = await client.post("/api/accounts", json=TAKEN, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "already_exists"), r.text
    assert "receipt" not in r.json()
    csrf = await login(client, "admin")
    for bad in ({"password": "short"}, {"login": "Bad Login"}, {}):
        r = await client.post("/admin/enrol", headers=csrf,
                              data={**TAKEN, "login": "newbie", **bad} if bad else TAKEN)
        assert "Refused: validation_error" in r.text or "already_exists" in r.text, r.text
    assert world.snapshot() == before
    r = await client.post("/admin/enrol", headers=csrf, data={**TAKEN, "login": "newbie"})
    assert "Committed" in r.text, r.text
    assert world.snapshot()[0] == before[0] + 1
    # Without JavaScript the form's answer is the whole page, with htmx the result alone.
    assert r.status_code == 200 and '<main id="main"' in r.text
    r = await client.post("/admin/enrol", headers={**csrf, "hx-request": "true"},
                          data={**TAKEN, "login": "newbie"})
    assert "already_exists" in r.text and '<main id="main"' not in r.text
    r = await client.post("/admin/enrol", headers=csrf, data={**TAKEN, "login": "newbie"})
    assert r.status_code == 422 and '<main id="main"' in r.text and "already_exists" in r.text


async def test_stateless_contract_checks_come_before_signing(client: httpx.AsyncClient,
                                                             world: World) -> None:
    before = world.snapshot()
    b = await bearer(client, "mill")
    bad_digit = {"gtin": "06901234000099", "name": "Bran"}  # check digit should be 2
    r = await client.post("/api/contracts/products/create_product", json=bad_digit,
                          headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text
    assert "check digit" in r.json()["error"]["message"] and "receipt" not in r.json()
    r = await client.post("/api/contracts/trace/record_event", headers=b,
                          json={"batch": world.batch, "event": {}})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "epcis_invalid"), r.text
    csrf = await login(client, "mill")
    r = await client.post("/contracts/products/create_product", data=bad_digit, headers=csrf)
    assert r.status_code == 422 and "check digit" in r.text
    assert world.snapshot() == before


async def test_event_form_takes_lot_numbers_and_refuses_bad_fields(
        client: httpx.AsyncClient, world: World) -> None:
    csrf = await login(client, "mill")
    before = world.snapshot()
    good = {"link": "storage", "batch": world.batch, "quantity": "10", "uom": "KGM"}
    for bad, says in (({"batch": "L2099"}, "no batch with lot number"),
                      ({"quantity": "-5"}, "quantity must be 0 or more"),
                      ({"uom": "<x>"}, "unit must be one of"),
                      ({"location": "abc"}, "GLN must be 13 digits"),
                      ({"location": "6901234100012"}, "check digit")):
        r = await client.post("/events/new", data={**good, **bad}, headers=csrf)
        assert r.status_code == 422 and says in r.text, (bad, r.text[-800:])
    assert world.snapshot() == before
    # The lot number printed on the bag, as the trace page takes it.
    r = await client.post("/events/new", data={**good, "batch": "L20260101",
                                               "location": "6901234100013"}, headers=csrf)
    assert r.status_code == 200 and 'id="event-ok"' in r.text, r.text[-800:]
    assert re.search(r"Recorded as event 2 of batch", r.text)
    events = (await client.get(f"/api/trace/events?batch={world.batch}",
                               headers=csrf)).json()["items"]
    assert [e["biz_step"] for e in events] == ["commissioning", "storing"]


async def test_data_sharing_offers_only_recipients_that_can_receive(
        client: httpx.AsyncClient, world: World) -> None:
    """Data keys are wrapped with RSA-OAEP: the bank's Ed25519 key can never receive one."""
    await login(client, "customer")
    html = (await client.get("/privacy")).text
    offered = set(re.findall(r'<option value="(did:[^"]+)"', html))
    assert world.did("inspector") in offered and world.did("shop") in offered
    assert world.did("bank") not in offered and world.did("admin") not in offered


async def test_two_enrolments_of_one_login_register_one_participant(
        client: httpx.AsyncClient, world: World) -> None:
    """Both requests pass the login check before either stores its account; without the
    reservation both register a participant and one of them is left with a key nobody
    holds."""
    import anyio

    before = world.snapshot()
    b = await bearer(client, "admin")
    body = {**TAKEN, "login": "twice"}
    codes: list[int] = []

    async def enrol() -> None:
        codes.append((await client.post("/api/accounts", json=body, headers=b)).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(enrol)
    assert sorted(codes) == [200, 409, 409], codes
    assert world.snapshot()[0] == before[0] + 1
