"""Review 11c: what the web API signed without asking first. Identity rules v2 refuse names
with control or bidi characters, or only whitespace, but the API signed such an enrolment
or organisation and the ledger kept it for good as a failed transaction; and importing a
key file looked up the key's participant on its own, giving a web login to a revoked
participant."""

from __future__ import annotations

import re

import httpx
import pytest

from supplyledger.ledger.crypto import generate
from supplyledger.ledger.keyfile import KdfParams, seal

from .conftest import World, bearer, login

pytestmark = pytest.mark.anyio
BIDI = "Acme\u202egnippihs"  # shows as "Acmeshipping"
ENROL = {"org": "qa", "name": BIDI, "roles": ["inspector"], "login": "ada",
         "password": "long-enough-1"}


async def test_a_misleading_name_is_refused_before_signing(client: httpx.AsyncClient,
                                                           world: World) -> None:
    before = world.snapshot()
    b = await bearer(client, "admin")
    r = await client.post("/api/accounts", json=ENROL, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text
    assert "bidi control U+202E" in r.json()["error"]["message"] and "receipt" not in r.json()
    for method, args in (
            ("register_org", {"id": "acme", "name": "Acme\x07", "roles": ["supplier"]}),
            ("register_member", {"org": "qa", "public_key": generate("ed25519").public.b64,
                                 "name": "Ada\u2066", "roles": ["inspector"]}),
            ("revoke", {"did": world.did("driver"), "reason": "stolen\nkey"})):
        r = await client.post(f"/api/contracts/identity/{method}", json=args, headers=b)
        assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text
        assert "receipt" not in r.json()
    csrf = await login(client, "admin")
    r = await client.post("/admin/enrol", headers=csrf, data=ENROL)
    assert r.status_code == 422 and "Refused: validation_error" in r.text, r.text[-2000:]
    assert "Nothing was signed" in r.text
    # The form comes back with what the admin typed (not the password).
    assert f'id="en-name" name="name" required maxlength="200" value="{BIDI}"' in r.text
    assert 'value="ada"' in r.text and "long-enough-1" not in r.text
    r = await client.post("/contracts/identity/register_org", headers=csrf, data={
        "id": "acme", "name": "Acme\x07", "roles": ["supplier"]})
    assert r.status_code == 422 and "Nothing was signed" in r.text
    assert 'value="acme"' in r.text
    assert world.snapshot() == before
    assert world.service.localdb.account_by_login("ada") is None
    # The same enrolment with a plain name goes through.
    r = await client.post("/api/accounts", json={**ENROL, "name": "Acme shipping"}, headers=b)
    assert r.status_code == 200, r.text


async def test_a_key_file_of_a_revoked_or_rotated_away_key_gives_no_web_login(
        client: httpx.AsyncClient, world: World) -> None:
    params = KdfParams(n=2**10)
    world.ok("admin", "identity", "revoke", {"did": world.did("shop"),
                                             "reason": "left the consortium"})
    body = {"login": "shop", "password": "shop-pass-12",
            "key_file": seal(world.keys["shop"], "shop-pass-12", params).decode()}
    r = await client.post("/api/accounts/import", json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "revoked_key"), r.text
    assert world.service.localdb.account_by_login("shop") is None

    new = generate("ed25519")
    world.ok("admin", "identity", "rotate_key", {"did": world.did("bank"),
                                                 "public_key": new.public.b64})
    old = {"login": "bank", "password": "bank-pass-12",
           "key_file": seal(world.keys["bank"], "bank-pass-12", params).decode()}
    r = await client.post("/api/accounts/import", json=old)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "revoked_key"), r.text
    assert "rotated" in r.json()["error"]["message"]
    # The participant's current key (its id is the old key's) still gets its login.
    r = await client.post("/api/accounts/import", json={
        **old, "key_file": seal(new, "bank-pass-12", params).decode()})
    assert r.status_code == 200 and r.json()["did"] == world.did("bank"), r.text
    unknown = {"login": "nobody", "password": "nobody-pass",
               "key_file": seal(generate("ed25519"), "nobody-pass", params).decode()}
    r = await client.post("/api/accounts/import", json=unknown)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unknown_signer"), r.text
    assert re.search(r"not registered", r.json()["error"]["message"])


async def test_a_key_file_asking_for_more_scrypt_than_supplyledger_writes_is_refused_at_once(
        client: httpx.AsyncClient, world: World) -> None:
    """The scrypt cost is the key file's, so anyone could post one that takes the server a
    GiB and seconds per request: import accepts no more than ``keys new`` writes."""
    costly = {"login": "shop", "password": "shop-pass-12",
              "key_file": seal(world.keys["shop"], "shop-pass-12",
                               KdfParams(n=2**16)).decode()}
    r = await client.post("/api/accounts/import", json=costly)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "key_file_error"), r.text
    assert "more than the 32 MiB" in r.json()["error"]["message"]
    assert world.service.localdb.account_by_login("shop") is None
    # What `supplyledger keys new` writes (the default cost) still imports.
    r = await client.post("/api/accounts/import", json={
        **costly, "key_file": seal(world.keys["shop"], "shop-pass-12").decode()})
    assert r.status_code == 200 and r.json()["did"] == world.did("shop"), r.text
