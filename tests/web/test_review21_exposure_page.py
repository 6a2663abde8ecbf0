"""Review 21: a financier's open exposure where it works. ``GET /api/credit/exposure`` summed
a financier's open financings per seller and currency, but the web showed them only inside
the "Approve or decline" form, one seller at a time. A financier's Orders area now has them
above the financing table: seller by name, currency, orders, advanced and owed in their
currency (minor units in the tooltip) and the requests waiting for its decision. Walked on
a week of the demo served on loopback; nobody else's Orders area changes.
"""

from __future__ import annotations

import html
import re

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP
from supplyledger.logistics.kpi_format import money
from web.test_review13_order_buttons import _follow
from web.test_review20_commerce_walk import _financing
from web.test_review21_demo_financing import _open_order

served = demo_fixture("exposure21", weeks=1, api=CHEAP)


def _exposure(served: Served, login: str) -> str | None:
    """The exposure part of ``login``'s Orders area (None when it has none)."""
    with served.web(login) as web:
        r = web.get("/area/orders")
    assert r.status_code == 200, r.text[-2000:]
    found = re.search(r'<(div|p) [^>]*id="exposure".*?</\1>', r.text, re.S)
    if found is None:
        return None
    # Above the financing table, not somewhere else on the page.
    assert r.text.index('id="exposure"') < r.text.index('id="t-financing"')
    return found[0]


def _row(part: str, seller: str) -> list[str] | None:
    """The cells (text, with each amount's tooltip) of ``seller``'s row, if any."""
    for tr in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        cells = [html.unescape(re.sub(r"<span title=\"([^\"]*)\">([^<]*)</span>", r"\2 [\1]",
                                      c)) for c in re.findall(r"<td>(.*?)</td>", tr, re.S)]
        if cells and cells[0].endswith(f"[{seller}]"):
            return cells
    return None


def test_the_financier_sees_its_open_exposure_above_the_financing_table(
        served: Served) -> None:
    order, _ = _open_order(served)
    oid, goods = str(order["id"]), int(order["unit_price"]) * int(order["quantity"])
    ccy, seller = str(order["currency"]), served.did("supplier-a")
    [who] = served.service.reads.rows("participants", 1, None, {"did": seller}).items
    amount, repay = goods * 90 // 100, goods * 96 // 100
    before = _exposure(served, "financier")
    assert before is not None  # the old page had no exposure for the financier at all
    assert _row(before, seller) is None  # the demo leaves supplier-a nothing financed

    _follow(served, "supplier-a", oid, "Request financing",
            financier=served.did("financier"), amount=str(amount), repay=str(repay))
    asked = _row(_exposure(served, "financier") or "", seller)
    assert asked == [f"{who['name']} [{seller}]", ccy, "0",
                     f"{money(0, ccy)} [0 minor units]", f"{money(0, ccy)} [0 minor units]",
                     f"1 ({money(amount, ccy)} [{amount} minor units] asked)"]

    with served.web("financier") as web:
        href = _financing(web, oid)[0]["Approve or decline"]
        r = web.post("/contracts/credit/decide", data={
            **form_fields(web.get(href).text, "/contracts/credit/decide"),
            "approve": "true", "reason": "grade and escrow suffice"})
        assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    assert _row(_exposure(served, "financier") or "", seller) == [
        f"{who['name']} [{seller}]", ccy, "1",
        f"{money(amount, ccy)} [{amount} minor units]",
        f"{money(repay, ccy)} [{repay} minor units]", "0"]

    # Only a financier's page has it: the seller and the buyer see nothing new.
    assert _exposure(served, "supplier-a") is None
    assert _exposure(served, "customer") is None
