"""The web pages, in-process: login flow, every page renders, forms need their CSRF token,
and the forms that sign (events, contract methods, data sharing) work end to end."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import httpx
import pytest

from supplyledger.api.web.render import NAV

from .conftest import PASSWORDS, World

pytestmark = pytest.mark.anyio
PAGES = [p for p, _, _ in NAV] + ["/account", "/explorer/blocks/1", "/trace?batch=L20260101",
                                  "/recall?batch=L20260101", "/contracts/identity/revoke",
                                  "/events/new?link=inspection"]


def _token(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no csrf field"
    return m.group(1)


async def _web_login(c: httpx.AsyncClient, who: str) -> str:
    form = await c.get("/login")
    r = await c.post("/login", data={"login": who, "password": PASSWORDS[who],
                                     "csrf": _token(form.text), "next": "/"})
    assert r.status_code == 303, r.text
    return _token((await c.get("/account")).text)


async def test_pages_need_a_login(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    assert (await client.get("/login")).status_code == 200


async def test_login_form_rejects_bad_passwords_and_foreign_forms(
        client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    r = await client.post("/login", data={"login": "mill", "password": "bad",
                                          "csrf": _token(form.text)})
    assert r.status_code == 401 and "wrong password" in r.text
    # A form posted from another site has no login token.
    client.cookies.clear()
    r = await client.post("/login", data={"login": "mill", "password": PASSWORDS["mill"]})
    assert r.status_code == 401 and "expired" in r.text


async def test_every_page_renders_with_landmarks(client: httpx.AsyncClient,
                                                 world: World) -> None:
    await _web_login(client, "admin")
    for path in PAGES:
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        html = r.text
        assert '<main id="main"' in html and 'aria-label="Main"' in html, path
        assert "https://" not in re.sub(r'https://id\.gs1\.org[^"\s<]*', "", html.split(
            "<main")[0]), "no external assets"
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
    explorer = (await client.get("/explorer")).text
    tx = re.search(r'href="/explorer/tx/([0-9a-f]{64})"', explorer)
    assert tx
    page = await client.get(f"/explorer/tx/{tx.group(1)}")
    assert "Proof valid" in page.text or "✔ Proof valid" in page.text


async def test_explorer_pages_keep_the_filter(client: httpx.AsyncClient) -> None:
    await _web_login(client, "driver")
    html = (await client.get("/explorer?contract=identity&ok=true")).text
    older = re.search(r'href="(/explorer\?[^"]*cursor=[^"]*)">Older blocks', html)
    assert older, "the world has more than one page of blocks"
    link = older.group(1).replace("&amp;", "&")
    assert "contract=identity" in link and "ok=true" in link
    html = (await client.get(link)).text
    assert "<option selected>identity</option>" in html  # the next page is still filtered


async def test_admin_page_is_for_admins(client: httpx.AsyncClient) -> None:
    await _web_login(client, "driver")
    r = await client.get("/admin")
    assert r.status_code == 403 and "role_denied" in r.text
    assert "/admin" not in (await client.get("/")).text.split("<main")[0]


async def test_admin_page_shows_the_rules_in_force(client: httpx.AsyncClient) -> None:
    from supplyledger.contracts.registry import load_builtin

    await _web_login(client, "admin")
    r = await client.get("/admin")
    assert r.status_code == 200 and "Contract rules" in r.text
    rules = r.text.split('id="r-h"')[1].split("</table>")[0]
    for name, c in load_builtin().items():  # a new ledger runs each contract's newest rules
        assert f"<td>{name}</td><td>v{c.versions[-1]}</td>" in rules


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, world: World) -> None:
    await _web_login(client, "mill")
    before = world.snapshot()
    for path in ("/events/new", "/contracts/products/create_product", "/audit", "/privacy",
                 "/logout"):
        r = await client.post(path, data={"csrf": "forged", "link": "production"})
        assert r.status_code == 403, path
    assert world.snapshot() == before


async def test_record_an_event_and_trace_it(client: httpx.AsyncClient, world: World) -> None:
    csrf = await _web_login(client, "inspector")
    r = await client.post("/events/new", data={
        "csrf": csrf, "link": "inspection", "batch": world.batch, "disposition":
        "non_conformant", "r1_type": "RelativeHumidity", "r1_value": "17",
        "note": "too moist"})
    assert r.status_code == 200, r.text
    assert 'id="event-ok"' in r.text
    page = (await client.get(f"/trace?batch={quote(world.batch)}")).text
    assert 'id="faulty-summary"' in page and "inspection" in page and "too moist" in page
    bad = await client.post("/events/new", data={"csrf": csrf, "link": "nowhere",
                                                  "batch": world.batch})
    assert bad.status_code == 422 and "choose a supply-chain link" in bad.text


async def test_generic_method_form(client: httpx.AsyncClient, world: World) -> None:
    csrf = await _web_login(client, "mill")
    r = await client.post("/contracts/products/create_product", data={
        "csrf": csrf, "gtin": "06901234000030", "name": "Bran"},
        headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Committed" in r.text
    r = await client.post("/contracts/products/create_product", data={
        "csrf": csrf, "gtin": "06901234000030", "name": "Bran"})
    assert r.status_code == 422 and "already_exists" in r.text
    r = await client.post("/contracts/products/create_product", data={"csrf": csrf,
                                                                       "gtin": ""})
    assert r.status_code == 422 and "required" in r.text


async def test_share_customer_data_with_a_recipient(client: httpx.AsyncClient,
                                                    world: World) -> None:
    csrf = await _web_login(client, "customer")
    r = await client.post("/privacy", data={"csrf": csrf, "action": "share",
                                            "data": "Alice, 18 Jinli Road",
                                            "recipients": [world.did("inspector")]})
    assert r.status_code == 200 and 'id="privacy-ok"' in r.text, r.text
    rid = re.search(r"Shared as record ([0-9a-f]{32})", r.text)
    assert rid
    client.cookies.clear()
    csrf = await _web_login(client, "inspector")
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read",
                                            "record": rid.group(1)})
    assert "Alice, 18 Jinli Road" in r.text
    client.cookies.clear()
    csrf = await _web_login(client, "mill")
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read",
                                            "record": rid.group(1)})
    assert r.status_code == 403 and "Alice" not in r.text
    r = await client.post("/privacy", data={"csrf": csrf, "action": "read",
                                            "record": "0" * 32})
    assert r.status_code == 404 and "not_found" in r.text


async def test_audit_page_runs_the_audit(client: httpx.AsyncClient) -> None:
    csrf = await _web_login(client, "admin")
    r = await client.post("/audit", data={"csrf": csrf}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "CLEAN" in r.text
    assert "CLEAN" in (await client.get("/")).text or "clean" in (await client.get("/")).text


async def test_only_admins_and_auditors_run_the_audit(client: httpx.AsyncClient) -> None:
    csrf = await _web_login(client, "inspector")
    assert "Run the audit" not in (await client.get("/audit")).text
    r = await client.post("/audit", data={"csrf": csrf})
    assert r.status_code == 403 and "admin or auditor" in r.text and "CLEAN" not in r.text


async def test_logout(client: httpx.AsyncClient) -> None:
    csrf = await _web_login(client, "mill")
    r = await client.post("/logout", data={"csrf": csrf})
    assert r.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_htmx_form_after_the_session_ended_goes_to_the_login_page(
        client: httpx.AsyncClient) -> None:
    """htmx follows a redirect inside its own request and would put the whole login page
    into the form's result box; it is told to load the login page instead."""
    csrf = await _web_login(client, "mill")
    client.cookies.clear()
    r = await client.post("/contracts/products/create_product", data={
        "csrf": csrf, "gtin": "06901234000030", "name": "Bran"}, headers={
        "HX-Request": "true", "HX-Current-URL": "http://test/area/products"})
    assert r.status_code == 200 and r.text == ""
    assert r.headers["hx-redirect"] == "/login?next=/area/products"


async def test_area_tables_show_epoch_columns_as_utc_times(client: httpx.AsyncClient,
                                                           world: World) -> None:
    await _web_login(client, "admin")
    html = (await client.get("/area/custody")).text
    cells = re.findall(r'<time datetime="([^"]+)Z" title="([^"]+)">([^<]+)</time>', html)
    assert cells, "the custody holdings' `since` column is shown as a time"
    for iso, title, text in cells:
        at = dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC)
        assert text == at.strftime("%Y-%m-%d %H:%M UTC")
        assert title == at.strftime("%Y-%m-%d %H:%M:%S UTC")


async def test_customs_area_offers_its_methods_and_tables(client: httpx.AsyncClient) -> None:
    await _web_login(client, "admin")
    html = (await client.get("/area/customs")).text
    for name in ("set_tariff", "set_rate", "declare", "clear", "customs_declarations",
                 "customs_history"):
        assert name in html, name


async def test_money_cells_show_major_units_of_their_currency(client: httpx.AsyncClient,
                                                               world: World) -> None:
    for ccy, minor in (("CNY", 8_981_500), ("JPY", 1_234_567), ("KWD", 1_000_005)):
        world.ok("bank", "payments", "deposit", {"account": world.keys["shop"].did,
                                                 "currency": ccy, "amount": minor})
    await _web_login(client, "admin")
    html = (await client.get("/area/orders")).text
    cells = dict(re.findall(r'<span title="(\d+) minor units">([^<]+)</span>', html))
    assert cells == {"8981500": "CNY 89,815.00", "1234567": "JPY 1,234,567",
                     "1000005": "KWD 1,000.005"}, cells
