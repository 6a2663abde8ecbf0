"""Review 11: the web UI walked through as each kind of participant, in-process. Each test
pins what the walk-through ran into: actions offered to roles the contract refuses, a
link to a block that does not exist yet, ids shown where a name exists, numbers without
their unit, times without their zone, a form that forgot what the admin typed, a recall
list cut at its first page, and the admin page reading every web account at once."""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest

from supplyledger.api.links import LINKS, build_event
from supplyledger.api.web import pages_trace
from supplyledger.api.web.render import env
from supplyledger.node.service import wall_clock_ms

from .conftest import WHEAT, World

pytestmark = pytest.mark.anyio
GLN = "6901234100013"


async def _web_login(c: httpx.AsyncClient, who: str) -> str:
    from .test_pages import _web_login as login

    c.cookies.clear()  # a logged-in browser is sent on from /login
    return await login(c, who)


def _nav(html: str) -> list[str]:
    nav = html.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'href="([^"]+)"', nav)


async def test_record_event_is_offered_only_to_roles_that_may_record(
        client: httpx.AsyncClient) -> None:
    """A customer had "Record event" in the menu and a live form that always ended in
    role_denied; the menu now leaves it out and the page says why, with the button off."""
    await _web_login(client, "customer")
    assert "/events/new" not in _nav((await client.get("/")).text)
    html = (await client.get("/events/new")).text
    assert 'id="not-allowed"' in html and "yours: customer" in html
    assert re.search(r'<button type="submit" id="record" disabled', html)
    await _web_login(client, "mill")
    assert "/events/new" in _nav((await client.get("/")).text)
    html = (await client.get("/events/new")).text
    assert 'id="not-allowed"' not in html
    assert not re.search(r'<button type="submit" id="record" disabled', html)


async def test_only_customers_get_the_share_form(client: httpx.AsyncClient) -> None:
    """Sharing personal data signs privacy.publish, a customer's call: a mill operator got
    the form and then role_denied."""
    await _web_login(client, "mill")
    html = (await client.get("/privacy")).text
    assert 'id="cannot-share"' in html and 'value="share"' not in html
    await _web_login(client, "customer")
    html = (await client.get("/privacy")).text
    assert 'id="cannot-share"' not in html and 'value="share"' in html


async def test_block_pages_link_only_to_blocks_that_exist(client: httpx.AsyncClient,
                                                          world: World) -> None:
    """The newest block linked to "block N+1", a 404."""
    await _web_login(client, "admin")
    tip = world.node.height
    html = (await client.get(f"/explorer/blocks/{tip}")).text
    assert f"/explorer/blocks/{tip + 1}" not in html and "the newest block" in html
    for href in set(re.findall(r'href="(/explorer/[^"#]+)"', html)):
        assert (await client.get(href)).status_code == 200, href
    assert f"/explorer/blocks/{tip}" in (await client.get(f"/explorer/blocks/{tip - 1}")).text


async def test_explorer_names_signers_and_says_times_are_utc(client: httpx.AsyncClient,
                                                             world: World) -> None:
    """The transaction and block pages showed the signer's raw id where the participant
    has a name."""
    await _web_login(client, "admin")
    tx = world.service.reads.txs(1, None, signer=world.did("mill")).items[0]
    html = (await client.get(f"/explorer/tx/{tx['id']}")).text
    assert re.search(r"<dt>Signer</dt><dd>Mill<br>", html)
    assert re.search(r'<dt>Time</dt><dd><time datetime="[^"]+Z" title="[^"]+ UTC">'
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</time></dd>", html)
    html = (await client.get(f"/explorer/blocks/{tx['height']}")).text
    assert f'<span title="{world.did("mill")}">Mill</span>' in html


async def test_table_times_say_utc_and_ids_become_names(client: httpx.AsyncClient,
                                                        world: World) -> None:
    """Table times had no zone; organisation ids stood where the organisation has a
    name."""
    await _web_login(client, "mill")
    assert "(UTC days)" in (await client.get("/")).text
    html = (await client.get("/tables/custody_holdings")).text
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC">'
                     r'\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', html)
    assert '<span title="mill">Mill</span>' in html  # owner_org and custodian_org
    # The organisation column of the admin's participant list, too.
    await _web_login(client, "admin")
    assert '<td title="qa">Qa</td>' in (await client.get("/admin")).text


async def test_table_numbers_carry_their_units(client: httpx.AsyncClient,
                                               world: World) -> None:
    """0/1 flags and scaled integers (milli-degrees, basis points, metres ...) were shown
    as bare numbers: a product "for_sale 0", a cold-chain rule "temp_max 8000"."""
    await _web_login(client, "mill")
    html = (await client.get("/tables/products")).text
    assert '<span title="0">no</span>' in html
    world.ok("mill", "products", "declare_for_sale", {"id": WHEAT})
    assert '<span title="1">yes</span>' in (await client.get("/tables/products")).text
    from supplyledger.api.web.units import in_unit, uom

    assert in_unit(8000, "temp_max") == "8.0 °C" and in_unit(-500, "temp_min") == "-0.5 °C"
    assert in_unit(650, "hum_max") == "65.0 % RH" and in_unit(1000, "duty_bp") == "10.00 %"
    assert in_unit(19355, "distance_m") == "19.4 km" and in_unit(500, "distance_m") == "500 m"
    assert in_unit(1_800_000, "temp_excursion_ms") == "30 min"
    assert in_unit(30_660_000, "lat") == "30.660000°"
    assert in_unit(12_345, "co2e_g") == "12.35 kg CO2e"
    assert (uom("KGM"), uom("CEL"), uom("P1"), uom("XYZ")) == ("kg", "°C", "%", "XYZ")


async def test_orders_name_their_product(client: httpx.AsyncClient, world: World) -> None:
    """An order's product column showed the GTIN although the product type has a name."""
    world.ok("bank", "payments", "deposit", {"account": world.did("customer"),
                                             "currency": "CNY", "amount": 100_000})
    world.ok("mill", "products", "declare_for_sale", {"id": WHEAT})
    now = wall_clock_ms()
    world.ok("customer", "orders", "place", {
        "id": "R11-1", "seller": world.did("mill"), "product": WHEAT, "quantity": 1,
        "unit_price": 1850, "freight": 800, "currency": "CNY", "earliest": now,
        "latest": now + 86_400_000})
    await _web_login(client, "customer")
    html = (await client.get("/tables/orders?id=R11-1")).text
    gtin = world.service.reads.rows("orders", 1, None, {"id": "R11-1"}).items[0]["product"]
    assert f'<span title="GTIN {gtin}">Wheat</span>' in html


async def test_no_order_button_on_ones_own_products(client: httpx.AsyncClient,
                                                    world: World) -> None:
    """The product list offered its owner an "Order" button, and the contract refuses a
    purchase from oneself (recorded as a failed call)."""
    world.ok("mill", "products", "declare_for_sale", {"id": WHEAT})
    order = re.compile(r'href="/contracts/orders/place\?seller=[^"]+">Order</a>')
    await _web_login(client, "mill")
    assert not order.search((await client.get("/area/products")).text)
    assert not order.search((await client.get("/tables/products")).text)
    await _web_login(client, "customer")
    assert order.search((await client.get("/area/products")).text)


async def test_trace_names_the_location_and_shows_unit_symbols(client: httpx.AsyncClient,
                                                               world: World) -> None:
    """The trace showed a GLN where the location has a registered name, readings as
    "21 CEL" and "13 P1", and the signer's organisation id."""
    world.ok("mill", "products", "register_location", {"gln": GLN, "name": "Mill no. 1"})
    world.ok("mill", "trace", "record_event", {"batch": world.batch, "event": build_event(
        LINKS["storage"], batch=world.batch, time_ms=wall_clock_ms(), location=GLN,
        readings=[("Temperature", 21), ("RelativeHumidity", 13)])})
    await _web_login(client, "inspector")
    html = (await client.get("/trace", params={"batch": "L20260101"})).text
    assert f"at Mill no. 1 <small class=\"muted\">GLN <code>{GLN}</code>" in html
    assert "Temperature 21 °C" in html and "RelativeHumidity 13 %" in html
    assert "CEL</span>" not in html and "(Mill)" in html


async def test_recall_pages_through_what_it_reaches(client: httpx.AsyncClient,
                                                    world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The recall page showed the first page of affected lots and no way to the rest."""
    flour = world.ok("mill", "products", "create_batch", {
        "gtin": WHEAT, "lot": "F20260102", "quantity": "800", "uom": "KGM"})["batch"]
    world.ok("mill", "trace", "record_event", {"batch": flour, "event": build_event(
        LINKS["processing"], batch=flour, time_ms=wall_clock_ms(), quantity=800,
        inputs=[(world.batch, 1000)])})
    monkeypatch.setattr(pages_trace, "RECALL_ROWS", 1, raising=False)
    await _web_login(client, "inspector")
    first = (await client.get("/recall", params={"batch": "L20260101"})).text
    assert "Page 1 of 2" in first
    nxt = re.search(r'href="(/recall\?batch=[^"]+&amp;page_no=2)">next page', first)
    assert nxt, "a link to the second page"
    second = (await client.get(nxt.group(1).replace("&amp;", "&"))).text
    assert "Page 2 of 2" in second and "page_no=1\">← previous page" in second
    assert "kg" in first + second and " KGM" not in first + second


async def test_enrol_form_keeps_what_the_admin_typed(client: httpx.AsyncClient,
                                                     world: World) -> None:
    """A refused enrolment (sent without JavaScript) came back with an empty form."""
    csrf = await _web_login(client, "admin")
    height = world.node.height
    r = await client.post("/admin/enrol", data={
        "csrf": csrf, "org": "qa", "name": "Ada Lab", "roles": ["inspector"],
        "login": "ada", "password": "short"})
    assert r.status_code == 422 and "at least 8 characters" in r.text
    assert 'value="Ada Lab"' in r.text and 'value="ada"' in r.text
    assert '<option value="qa" selected>' in r.text
    assert 'value="inspector" checked' in r.text and 'value="short"' not in r.text
    assert world.node.height == height


async def test_the_admin_page_reads_one_page_of_logins(client: httpx.AsyncClient,
                                                       world: World) -> None:
    """``LocalDB.accounts()`` read every web account for the admin page; it now pages by
    login, and the page asks only for the logins of the participants it shows."""
    db = world.service.localdb
    first = db.accounts(None, 2)
    assert [lg for _, lg in first] == ["admin", "customer"]
    assert [lg for _, lg in db.accounts(first[-1][1], 10)] == ["driver", "inspector", "mill"]
    assert db.logins_of([world.did("mill"), world.did("bank"), "did:sl:nobody"]) == {
        world.did("mill"): "mill"}
    assert db.logins_of([]) == {}
    await _web_login(client, "admin")
    html = (await client.get("/admin")).text
    assert re.search(r"<td>Mill</td><td[^>]*>Mill</td><td>[^<]*</td><td>active</td>"
                     r"<td>mill</td>", html)


async def test_method_page_says_who_may_call_it(client: httpx.AsyncClient) -> None:
    """The page said "Roles: *"."""
    await _web_login(client, "customer")
    html = (await client.get("/contracts/orders/place")).text
    assert "Any registered participant may call it" in html and "Roles: *" not in html
    html = (await client.get("/contracts/identity/register_org")).text
    assert "Roles that may call it: admin." in html and "Yours (customer) do not" in html


def test_audit_summary_counts_findings_in_words() -> None:
    report = SimpleNamespace(ok=False, blocks=3, txs=3, uncovered={},
                             findings=[SimpleNamespace(kind="changed_row", height=None,
                                                       tx=None, table="t", row="r",
                                                       detail="d")])
    html = env.get_template("_audit_report.html").render(report=report)
    assert "1 finding." in html
