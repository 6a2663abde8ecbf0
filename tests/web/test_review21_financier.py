"""Review 21: the demo's financier, a credit analyst, on its first day. It assesses a
supplier, reads the assessment in the web UI and over the API, decides a financing request
and keeps count of what it has at risk. What tripped it: the assessment's factors read in
the stored JSON's order (points before the value and weight they come from) and over the
API only as JSON text inside a table cell, with no word of the period or the data behind
them; the "Approve or decline" form showed nothing of the request (advance, fee, the
assessment recorded with it); and nothing summed its open exposure per seller.
"""

from __future__ import annotations

import re

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP
from web.test_review21_demo_financing import _open_order

served = demo_fixture("financier21", weeks=1, api=CHEAP)


def _assess(served: Served, login: str) -> str:
    with served.api("financier") as api:
        r = api.post("/api/contracts/credit/assess", json={"subject": served.did(login)})
        assert r.status_code == 200, r.text
    return served.did(login)


def test_the_assessment_over_the_api_lists_its_factors_period_and_data(
        served: Served) -> None:
    seller = _assess(served, "supplier-a")
    with served.api("financier") as api:
        r = api.get(f"/api/credit/assessments/{seller}")
        assert r.status_code == 200, r.text
        a = r.json()
        assert [f["factor"] for f in a["factors"]] == [
            "on_time_delivery", "disputes_lost", "payment_delays", "volume"]
        assert a["score"] == sum(f["points"] for f in a["factors"]) and a["max"] == 1000
        assert a["period"]["to"] == a["at"] and a["subject"] == seller
        assert a["data"]["orders as seller"] == f"/api/tables/orders?seller={seller}"
        missing = api.get("/api/credit/assessments/did:sl:nobody")
        assert missing.status_code == 404 and "not been assessed" in missing.text


def test_the_assessment_table_reads_factor_value_weight_then_points(served: Served) -> None:
    _assess(served, "supplier-a")
    with served.web("financier") as web:
        page = web.get("/tables/credit_assessments").text
    heads = re.findall(r"<th scope=\"col\">([^<]+)</th>", page)
    assert heads[heads.index("factor"):heads.index("factor") + 6] == [
        "factor", "measures", "evidence", "value", "weight", "points"]
    assert re.search(r"<td>\d\.\d{3} \(\d+\.\d%\)</td>", page)  # the rate as a percentage


def test_the_decision_form_shows_the_request_and_the_open_exposure(served: Served) -> None:
    order, _ = _open_order(served)
    oid, goods = str(order["id"]), int(order["unit_price"]) * int(order["quantity"])
    fin = served.did("financier")
    with served.api("supplier-a") as seller:
        r = seller.post("/api/contracts/credit/request_financing", json={
            "order": oid, "financier": fin, "amount": goods // 2, "repay": goods // 2 + 100})
        assert r.status_code == 200, r.text
    with served.web("financier") as web:
        text = web.get(f"/contracts/credit/decide?order={oid}").text
        assert "fee CNY 1.00" in text and "Seller&#39;s assessment at the request" in text
        assert "Open with this seller: nothing advanced yet" in text
        r = web.post("/contracts/credit/decide", data={
            **form_fields(text, "/contracts/credit/decide"), "order": oid, "approve": "true"})
        assert r.status_code == 200 and "Committed" in r.text, r.text[-2000:]
    with served.api("financier") as api:
        [row] = [e for e in api.get("/api/credit/exposure").json()["items"]
                 if e["seller"] == served.did("supplier-a")]
        assert (row["orders"], row["advanced"], row["owed"], row["currency"]) == (
            1, goods // 2, goods // 2 + 100, "CNY")
        none = api.get("/api/credit/exposure", params={"seller": served.did("customer")})
        assert none.json()["items"] == []
