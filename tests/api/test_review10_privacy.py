"""Review 10: a refused grant or revocation must not touch the files other readers rely on.

``PrivateData.grant`` wrote the new reader's wrapped key before the ledger ruled on the
grant and deleted that file when the grant was refused. When the "new" reader already
held a grant (the author, or anyone on the list), the file deleted was their real key:
any recipient could lock the author and the other readers out of a record by asking to
grant it to them, a call the contract refuses.

Review 15, through the web: an erasure sent from the contract catalogue's form shreds the
files too (the service follows the ledger; tests/trace/test_review15_privacy.py), and the
share message counts each reader once."""

from __future__ import annotations

import re
import time

import anyio
import httpx
import pytest

from supplyledger.ledger.crypto import PrivateKey

from .conftest import World
from .test_pages import _web_login

pytestmark = pytest.mark.anyio
SECRET = "Alice, 18 Jinli Road"


async def _share(client: httpx.AsyncClient, world: World) -> str:
    csrf = await _web_login(client, "customer")
    r = await client.post("/privacy", data={"csrf": csrf, "action": "share", "data": SECRET,
                                            "recipients": [world.did("inspector")]})
    found = re.search(r"Shared as record ([0-9a-f]{32})", r.text)
    assert r.status_code == 200 and found, r.text
    client.cookies.clear()
    return found.group(1)


async def _reads(client: httpx.AsyncClient, who: str, rid: str) -> bool:
    client.cookies.clear()
    csrf = await _web_login(client, who)
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read", "record": rid})
    return r.status_code == 200 and SECRET in r.text


async def _post(client: httpx.AsyncClient, who: str, **form: str) -> httpx.Response:
    client.cookies.clear()
    csrf = await _web_login(client, who)
    return await client.post("/privacy", data={"csrf": csrf, **form})


async def test_a_recipient_cannot_lock_the_author_out(client: httpx.AsyncClient,
                                                      world: World) -> None:
    rid = await _share(client, world)
    r = await _post(client, "inspector", action="grant", record=rid,
                    recipient=world.did("customer"))
    assert r.status_code == 403 and "forbidden" in r.text
    assert await _reads(client, "customer", rid)
    assert await _reads(client, "inspector", rid)


async def test_granting_a_reader_again_keeps_their_access(client: httpx.AsyncClient,
                                                          world: World) -> None:
    rid = await _share(client, world)
    r = await _post(client, "customer", action="grant", record=rid,
                    recipient=world.did("inspector"))
    assert r.status_code == 409 and "already_exists" in r.text
    assert await _reads(client, "inspector", rid)


async def test_a_refused_revocation_leaves_no_files_behind(client: httpx.AsyncClient,
                                                           world: World) -> None:
    rid = await _share(client, world)
    folder = world.dir / "private" / "records" / rid
    before = sorted(p.name for p in folder.iterdir())
    r = await _post(client, "customer", action="revoke", record=rid,
                    recipient=world.did("mill"))  # not a reader: the contract refuses
    assert r.status_code == 404 and "not_found" in r.text
    assert sorted(p.name for p in folder.iterdir()) == before
    assert await _reads(client, "inspector", rid)


async def test_an_erasure_from_the_contract_catalogue_shreds_the_files(
        client: httpx.AsyncClient, world: World) -> None:
    # The catalogue's generic privacy.erase form marked the record erased on the ledger
    # and left its ciphertext and wrapped keys on the node.
    rid = await _share(client, world)
    folder = world.dir / "private" / "records" / rid
    assert folder.is_dir()
    client.cookies.clear()
    csrf = await _web_login(client, "customer")
    r = await client.post("/contracts/privacy/erase", data={"csrf": csrf, "record": rid},
                          headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Committed" in r.text
    deadline = time.monotonic() + 5  # shredded on the node's committer thread
    while folder.exists() and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    assert not folder.exists()
    assert not await _reads(client, "inspector", rid)


async def test_the_share_message_counts_each_reader_once(client: httpx.AsyncClient,
                                                         world: World) -> None:
    # An id both chosen and typed in, and the author's own, counted as more readers.
    csrf = await _web_login(client, "customer")
    inspector = world.did("inspector")
    r = await client.post("/privacy", data={
        "csrf": csrf, "action": "share", "data": SECRET, "recipients": [inspector],
        "others": f"{inspector}\n{world.did('customer')}"})
    assert r.status_code == 200 and "encrypted for 1 recipient(s)" in r.text, r.text


async def test_the_form_offers_no_machine_key(client: httpx.AsyncClient, world: World,
                                              rsa_keys: list[PrivateKey]) -> None:
    # A logger enrolled with an RSA key was offered as a recipient (only nodes were left
    # out), and sharing with it succeeded.
    world.ok("admin", "identity", "register_org", {"id": "iot", "name": "Iot",
                                                   "roles": ["device"]})
    logger = rsa_keys[5]
    world.ok("admin", "identity", "register_member", {
        "org": "iot", "public_key": logger.public.b64, "name": "Van logger",
        "roles": ["device"]})
    csrf = await _web_login(client, "customer")
    page = await client.get("/privacy")
    assert world.did("inspector") in page.text and logger.did not in page.text
    r = await client.post("/privacy", data={"csrf": csrf, "action": "share", "data": SECRET,
                                            "others": logger.did})
    assert r.status_code == 422 and "is a machine key" in r.text
    assert not (world.dir / "private" / "records").exists()
