"""Review 11b: what the second walk through the web UI left, in-process over httpx. The
bench looked for an admin on the first page of logins only; the enrol form let the ledger
refuse org/role mismatches; the account page offered to unlock an unlocked key; the
data-sharing page offered to revoke people who were no readers and named the user by id in
its errors; /favicon.ico was a 404; and lists stopped silently at 500 participants,
200 organisations or 100 records."""

from __future__ import annotations

import re

import httpx
import pytest

from supplyledger.api import LedgerService, create_app
from supplyledger.bench.pages import bench_login
from supplyledger.ledger.crypto import generate
from supplyledger.store.localdb import AccountRow

from .conftest import CHEAP, World, bearer, login
from .test_pages import _web_login

pytestmark = pytest.mark.anyio
SECRET = "Alice, 18 Jinli Road"


def _options(html: str, select_id_prefix: str) -> list[list[str]]:
    """The option values of each <select> whose id starts with the prefix."""
    found = re.findall(rf'<select id="{select_id_prefix}[^"]*"[^>]*>(.*?)</select>', html, re.S)
    return [re.findall(r'<option value="([^"]+)"', body) for body in found]


async def test_the_bench_finds_an_admin_past_the_first_page_of_logins(world: World) -> None:
    """``LocalDB.accounts()`` returns one page (50) of logins by name; with 60 logins
    sorting before "admin" the bench browsed as someone who may not open /admin."""
    db = world.service.localdb
    for i in range(60):
        key = generate("ed25519")
        assert db.insert_account(AccountRow(key.did, f"a{i:02d}", "x", b"x", 0, 0, 0))
    assert "admin" not in [lg for _, lg in db.accounts()]
    assert bench_login(world.service) == world.did("admin")


async def test_enrolment_checks_the_organisation_and_its_roles_before_signing(
        client: httpx.AsyncClient, world: World) -> None:
    before = world.snapshot()
    b = await bearer(client, "admin")
    body = {"org": "qa", "name": "Ada", "roles": ["inspector"], "login": "ada",
            "password": "long-enough-1"}
    r = await client.post("/api/accounts", json={**body, "org": "nowhere"}, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found"), r.text
    assert "no organisation nowhere" in r.json()["error"]["message"]
    r = await client.post("/api/accounts", json={**body, "roles": ["customer"]}, headers=b)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), r.text
    assert "may hold inspector" in r.json()["error"]["message"] and "receipt" not in r.json()
    csrf = await login(client, "admin")
    r = await client.post("/admin/enrol", headers=csrf, data={**body, "roles": ["transporter"]})
    assert "Refused: forbidden" in r.text and "Nothing was signed" in r.text, r.text[-2000:]
    assert world.snapshot() == before
    r = await client.post("/admin/enrol", headers=csrf, data=body)
    assert "Committed" in r.text, r.text[-2000:]


async def test_the_enrol_form_ties_each_role_to_the_organisations_that_may_hold_it(
        client: httpx.AsyncClient) -> None:
    await _web_login(client, "admin")
    html = (await client.get("/admin")).text
    form = html.split('id="en-roles"', 1)[1].split("</fieldset>", 1)[0]
    orgs = dict(re.findall(r'value="([a-z]+)"[^>]*data-orgs="([^"]*)"', form))
    assert "qa" in orgs["inspector"].split() and "mill" not in orgs["inspector"].split()
    assert {"customers", "shop"} <= set(orgs["customer"].split())
    assert "qa" not in orgs["customer"].split()
    assert "node" not in orgs  # a node's key is never a web login's
    assert re.search(r'<option value="qa"[^>]*>Qa — inspector</option>', html)


async def test_the_account_page_offers_to_unlock_only_a_locked_key(
        client: httpx.AsyncClient, world: World) -> None:
    await _web_login(client, "mill")
    html = (await client.get("/account")).text
    assert "unlocked for this session" in html and 'id="unlock"' not in html
    # After a restart the session stays and the key is locked: now the form is there.
    again = create_app(LedgerService(world.node, CHEAP))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=again),
                                 base_url="http://test", cookies=client.cookies) as c2:
        html = (await c2.get("/account")).text
        assert 'id="unlock"' in html and 'name="action" value="unlock"' in html
        csrf = re.search(r'name="csrf" value="([^"]+)"', html)
        assert csrf is not None
        r = await c2.post("/account", data={"csrf": csrf.group(1), "action": "unlock",
                                            "password": "mill-pass-12"})
        assert "Signing key unlocked" in r.text and 'id="unlock"' not in r.text


async def _share(client: httpx.AsyncClient, csrf: str, *readers: str) -> str:
    r = await client.post("/privacy", data={"csrf": csrf, "action": "share", "data": SECRET,
                                            "recipients": list(readers)})
    found = re.search(r"Shared as record ([0-9a-f]{32})", r.text)
    assert r.status_code == 200 and found, r.text[-2000:]
    return found.group(1)


async def test_revoke_offers_the_readers_and_grant_the_others(client: httpx.AsyncClient,
                                                              world: World) -> None:
    csrf = await _web_login(client, "customer")
    await _share(client, csrf, world.did("inspector"))
    html = (await client.get("/privacy")).text
    [revocable] = _options(html, "rv-")
    [grantable] = _options(html, "gr-")
    assert revocable == [world.did("inspector")]  # not the author, not everyone
    assert world.did("inspector") not in grantable and world.did("customer") not in grantable
    assert world.did("mill") in grantable and world.did("shop") in grantable


async def test_sharing_errors_name_people_not_ids(client: httpx.AsyncClient,
                                                  world: World) -> None:
    csrf = await _web_login(client, "customer")
    rid = await _share(client, csrf, world.did("shop"))
    client.cookies.clear()
    csrf = await _web_login(client, "inspector")
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read", "record": rid})
    error = r.text.split('id="privacy-error">', 1)[1].split("</div>", 1)[0]
    assert r.status_code == 403 and "Inspector has no grant for record" in error, error
    assert "did:" not in error


async def test_favicon_is_bundled(client: httpx.AsyncClient) -> None:
    r = await client.get("/favicon.ico")  # no login: browsers ask before anyone logs in
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00" and b"PNG" in r.content[:40]


def _bulk(world: World, n: int, org: str) -> list[str]:
    """``n`` members of a new organisation (Ed25519 keys: they cannot receive data)."""
    world.ok("admin", "identity", "register_org", {"id": org, "name": "Bulk",
                                                   "roles": ["customer"]})
    keys = [generate("ed25519") for _ in range(n)]
    world.keys.update({f"bulk{i}": k for i, k in enumerate(keys)})
    futures = [world.node.submit(world.tx("admin", "identity", "register_member", {
        "org": org, "public_key": k.public.b64, "name": f"Bulk {i:03d}",
        "roles": ["customer"]})) for i, k in enumerate(keys)]
    assert all(f.result(60).ok for f in futures)
    return [k.did for k in keys]


async def test_names_and_suggestions_past_500_participants(client: httpx.AsyncClient,
                                                           world: World) -> None:
    """Names came from the first 500 participants by id, so rows naming anyone else
    showed the id; the suggestion list stopped there without saying so."""
    dids = _bulk(world, 510, "bulk")
    last = max(dids)
    await _web_login(client, "admin")
    cursor, shown = "", ""
    while True:  # the participants table, page by page, to the last
        html = (await client.get(f"/tables/participants?org=bulk&cursor={cursor}")).text
        shown += html
        more = re.search(r'href="/tables/participants\?[^"]*cursor=([^"&]+)', html)
        if more is None:
            break
        cursor = more.group(1)
    assert f'<span title="{last}">Bulk ' in shown
    html = (await client.get("/contracts/identity/revoke")).text
    assert "Suggestions show the first" in html and "/tables/participants" in html


async def test_the_admin_pages_its_organisations(client: httpx.AsyncClient,
                                                 world: World) -> None:
    futures = [world.node.submit(world.tx("admin", "identity", "register_org", {
        "id": f"org-{i:03d}", "name": f"Org {i:03d}", "roles": ["customer"]}))
        for i in range(205)]
    assert all(f.result(60).ok for f in futures)
    csrf = await _web_login(client, "admin")
    html = (await client.get("/admin")).text
    assert 'id="orgs-cut"' in html
    assert '<input id="en-org" name="org" required list="dl-orgs"' in html
    seen: list[str] = []
    while True:
        seen += re.findall(r"<li><strong>[^<]*</strong> <code>([^<]+)</code>",
                           html.split('id="org-list"', 1)[1].split("</ul>", 1)[0])
        more = re.search(r'id="more-orgs" href="([^"]+)"', html)
        if more is None:
            break
        html = (await client.get(more.group(1).replace("&amp;", "&"))).text
    assert len(seen) == len(set(seen)) and {f"org-{i:03d}" for i in range(205)} <= set(seen)
    # An organisation past the drop-down's first 200 is typed, and enrolled into.
    r = await client.post("/admin/enrol", data={
        "csrf": csrf, "org": "org-204", "name": "Late", "roles": ["customer"],
        "login": "late", "password": "long-enough-1"})
    assert "Committed" in r.text, r.text[-2000:]


async def test_data_sharing_pages_its_records(client: httpx.AsyncClient,
                                              world: World) -> None:
    """Both lists stopped at 100 records with nothing to say so."""
    private = world.service.features.private
    key = world.keys["customer"]
    rids = {private.share(key, b"x", [world.did("inspector")]) for _ in range(101)}

    async def walk(who: str, anchor: str) -> set[str]:
        client.cookies.clear()
        await _web_login(client, who)
        html, seen = (await client.get("/privacy")).text, set()
        while True:
            seen |= set(re.findall(r'name="record" value="([0-9a-f]{32})"', html))
            more = re.search(rf'id="{anchor}" href="([^"]+)"', html)
            if more is None:
                return seen
            html = (await client.get(more.group(1).replace("&amp;", "&"))).text

    assert await walk("customer", "more-mine") == rids
    assert await walk("inspector", "more-shared") == rids


async def test_sharing_past_the_listed_participants_takes_typed_ids(
        client: httpx.AsyncClient, world: World) -> None:
    _bulk(world, 501, "bulk")
    csrf = await _web_login(client, "customer")
    html = (await client.get("/privacy")).text
    assert 'id="people-cut"' in html and 'name="others"' in html
    r = await client.post("/privacy", data={"csrf": csrf, "action": "share", "data": SECRET,
                                            "others": world.did("inspector")})
    assert "Shared as record" in r.text and "1 recipient(s)" in r.text, r.text[-2000:]
