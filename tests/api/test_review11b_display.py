"""Review 11b: numbers on the demo ledger as people read them. Order quantities had no
unit; exchange rates showed as a rate and a scale integer; a customs assessment showed its
amounts as raw minor units; the audit counted one transaction more than the dashboard.

One demo ledger (a week of activity) for the module, served in-process."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from supplyledger.api import LedgerService, create_app
from supplyledger.api.web.render import env
from supplyledger.demo import DemoInfo, load_demo
from supplyledger.logistics.kpi_format import money
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

from .conftest import CHEAP

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LedgerService, DemoInfo]]:
    d = tmp_path_factory.mktemp("demo") / "ledger"
    info = load_demo(Path(d), weeks=1, api=CHEAP)
    node = Node(Settings(d, verify_workers=0), load_node_key(d, info.node_password)).start()
    svc = LedgerService(node, CHEAP)
    yield svc, info
    node.stop()
    svc.close()


@pytest.fixture
async def web(demo: tuple[LedgerService, DemoInfo]) -> AsyncIterator[httpx.AsyncClient]:
    svc, info = demo
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)),
                                 base_url="http://test") as c:
        pw = next(p for login, p, _, _ in info.logins if login == "admin")
        r = await c.post("/api/auth/login", json={"login": "admin", "password": pw})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        yield c


def _major(rate: int) -> str:
    """A rate between two currencies of two decimals, as a decimal of major units."""
    return format((Decimal(rate) / 10**9).normalize(), "f")


async def test_exchange_rates_read_as_one_unit_in_another(
        web: httpx.AsyncClient, demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, _ = demo
    [official] = svc.reads.rows("fx_rates", 10, None).items
    html = (await web.get("/tables/fx_rates")).text
    assert f"1 {official['base']} = {_major(official['rate'])} {official['quote']}" in html
    assert '<th scope="col" title="scale">' not in html  # folded into the rate
    [quote] = svc.reads.rows("fx_quotes", 10, None).items
    html = (await web.get("/tables/fx_quotes")).text
    assert f"1 {quote['pay']} = {_major(quote['rate'])} {quote['get']}" in html


async def test_a_customs_assessment_shows_amounts_with_their_currency(
        web: httpx.AsyncClient, demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, _ = demo
    decl = svc.reads.rows("customs_declarations", 1, None).items[0]
    html = (await web.get(f"/tables/customs_declarations?id={decl['id']}")).text
    cell = html.split('<details class="cell">', 1)[1].split("</details>", 1)[0]
    [line] = json.loads(decl["assessment"])
    dest = decl["currency"]
    for text in (money(line["value"], line["currency"]), money(line["customs_value"], dest),
                 money(line["duty"], dest), money(line["vat"], dest),
                 f"1 {line['currency']} = {_major(line['fx']['rate'])} {dest}"):
        assert text in cell, (text, cell)
    for raw in (line["customs_value"], line["duty"], line["vat"], line["fx"]["rate"]):
        assert str(raw) not in cell


def _result(svc: LedgerService, contract: str, method: str) -> dict[str, Any]:
    [tx] = svc.reads.txs(1, None, contract=contract, method=method).items
    return {"tx": tx["id"], "height": tx["height"],
            "result": svc.reads.receipt(tx["id"])["result"]}


async def test_call_results_show_money_and_rates(demo: tuple[LedgerService, DemoInfo]) -> None:
    """What a form shows after signing: customs.declare answers with its assessment,
    fx.quote with a rate and its scale."""
    svc, _ = demo
    declared = _result(svc, "customs", "declare")
    html = env.get_template("_result.html").render(result=declared, error=None, names={})
    res = declared["result"]
    for k in ("value", "duty", "vat", "due"):
        assert money(res[k], res["currency"]) in html and f">{res[k]}<" not in html
    quoted = _result(svc, "fx", "quote")
    html = env.get_template("_result.html").render(result=quoted, error=None, names={})
    pay, get = quoted["result"]["pair"].split("->")
    assert f"1 {pay} = {_major(quoted['result']['rate'])} {get}" in html
    assert "scale" not in html


async def test_order_quantities_say_pieces(web: httpx.AsyncClient,
                                           demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, _ = demo
    order = svc.reads.rows("orders", 1, None).items[0]
    html = (await web.get(f"/tables/orders?id={order['id']}")).text
    assert f'<span title="{order["quantity"]}">{order["quantity"]:,} pcs</span>' in html


async def test_the_audit_and_the_dashboard_count_the_same_transactions(
        web: httpx.AsyncClient, demo: tuple[LedgerService, DemoInfo]) -> None:
    svc, info = demo
    dash = (await web.get("/")).text
    shown = re.search(r'<span class="n">([0-9,]+)</span><span class="l">transactions after '
                      r'genesis</span>', dash)
    assert shown is not None, dash
    r = await web.post("/audit", headers={"hx-request": "true"})
    audited = re.search(r'id="audit-txs">([0-9,]+) transactions after genesis</span>', r.text)
    assert "CLEAN" in r.text and audited is not None, r.text
    assert audited.group(1) == shown.group(1) == f"{info.transactions:,}"
    assert svc.last_audit is not None and svc.last_audit.txs == info.transactions + 1
