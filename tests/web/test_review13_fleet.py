"""Review 13, the fleet planner: routes and emissions were CLI only (``dispatch plan``,
``dispatch show``, ``emissions report``), and ``shipments.record_plan``'s web form wanted
hand-written JSON routes. The web now has a dispatch planning page (open orders -> PyVRP
-> routes and picture -> "Record this plan" signed with the member's key), recorded plans
with their picture, and the monthly emissions report with its CSV.

Against a week of the demo served on loopback (its platform A has a recorded plan and
shipments that departed); the orders to plan are placed here by the demo's customer
through platform A. One journey in Debian's Chromium, the rest over HTTP.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from supplyledger.cli.main import app as cli
from supplyledger.logistics.emissions_report import CSV_COLUMNS, to_csv
from supplyledger.node.kpi_reports import emissions_report
from supplyledger.store.kpi_rows import KpiQueries

YEAST = "06901234200010"  # Riverside Baking Supplies' product, sold through platform A
HOUR, DAY = 3_600_000, 86_400_000
# Drop points around the demo's Chengdu warehouse (private: they stay in the request).
DROPS = [("30.6951", "104.0412"), ("30.6402", "104.1034"), ("30.7210", "104.0950")]
_ids = itertools.count(1)


def _order_state(served: Served, oid: str) -> str:
    rows = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return str(rows[0]["state"])


served = demo_fixture("fleet", weeks=1, api=CHEAP)


def _orders(served: Served, n: int, *, lots: bool = True) -> dict[str, str]:
    """``n`` new orders of the demo customer's for yeast through platform A: order id ->
    the lot number of a batch the seller made for it ("" without ``lots``)."""
    now = int(time.time() * 1000)
    seller, platform = served.did("supplier-a"), served.did("platform-a")
    out = {}
    with served.web("customer") as c:
        for _ in range(n):
            oid = f"F78-{next(_ids)}"
            r = c.post("/api/contracts/orders/place", json={
                "id": oid, "seller": seller, "product": YEAST, "quantity": 2,
                "unit_price": 1850, "freight": 800, "currency": "CNY", "earliest": now,
                "latest": now + 3 * DAY, "platform": platform})
            assert r.json()["receipt"]["ok"], r.text
            out[oid] = ""
    if lots:
        with served.web("supplier-a") as c:
            for oid in out:
                r = c.post("/api/contracts/products/create_batch", json={
                    "gtin": YEAST, "lot": f"L{oid}", "quantity": "2", "uom": "H87"})
                assert r.json()["receipt"]["ok"], r.text
                out[oid] = f"L{oid}"
    return out


def _form(served: Served, orders: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The planning form for ``orders``: a warehouse open from the next hour, one van."""
    start = (int(time.time() * 1000) // HOUR + 1) * HOUR
    data: dict[str, Any] = {
        "wh_node": "RBS-DC-CHENGDU", "wh_lat": "30.6600", "wh_lon": "104.0633",
        "wh_open": str(start), "wh_close": str(start + 10 * HOUR), "wh_capacity": "100",
        "v0_id": "CV1", "v0_transporter": served.did("courier"), "v0_capacity": "20",
        "v0_class": "road/van_diesel_avg", "time_limit": "1", "pick": list(orders)}
    for (oid, lot), (lat, lon) in zip(orders.items(), DROPS, strict=False):
        data.update({f"lat.{oid}": lat, f"lon.{oid}": lon, f"qty.{oid}": "2",
                     f"service.{oid}": "5", f"batch.{oid}": lot})
    return {**data, **extra}


def _hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden {name} in the page"
    return html.unescape(m.group(1))


def _request(served: Served, orders: dict[str, str], plan: str) -> dict[str, Any]:
    """The same kind of plan as a request file (docs/logistics.md)."""
    start = (int(time.time() * 1000) // HOUR + 1) * HOUR
    return {"plan": plan, "speed_kmh": 30,
            "warehouse": {"node": "RBS-DC-CHENGDU", "lat": "30.66", "lon": "104.0633",
                          "open": start, "close": start + 10 * HOUR, "outbound_capacity": 100},
            "fleet": [{"vehicle": "CV1", "transporter": served.did("courier"), "capacity": 20,
                       "vehicle_class": "van_diesel_avg"}],
            "orders": {oid: {"lat": lat, "lon": lon, "quantity": 2, "batch": served.service
                             .resolve_batch(lot)[0]}
                       for (oid, lot), (lat, lon) in zip(orders.items(), DROPS, strict=False)}}


# -- the journey, in Chromium ---------------------------------------------------------------


browser = browser_fixture()


def test_a_platform_plans_records_and_sees_its_plan(browser: Any, served: Served) -> None:
    orders = _orders(served, 2)
    p = page_as(browser, served, "platform-a", {"width": 1280, "height": 900})
    p.get_by_role("navigation", name="Main").get_by_role("link", name="Dispatch").click()
    p.wait_for_url(served.url + "/dispatch")
    for box in p.locator('input[name="pick"]').all():  # others' tests' orders stay open
        if box.get_attribute("value") not in orders:
            box.uncheck()
    for (oid, lot), (lat, lon) in zip(orders.items(), DROPS, strict=False):
        p.get_by_label(f"Latitude of order {oid}").fill(lat)
        p.get_by_label(f"Longitude of order {oid}").fill(lon)
        p.get_by_label(f"Batch or lot number order {oid} ships").fill(lot)
    p.locator("#wh_lat").fill("30.6600")  # the warehouse
    p.locator("#wh_lon").fill("104.0633")
    p.locator("#wh_capacity").fill("100")
    p.get_by_label("Plan id").fill("PW-1")
    p.get_by_label("Search time (s)").fill("1")
    p.get_by_label("Vehicle 1 transporter").select_option(label="SwiftExpress dispatch "
                                                                "(express-a)")
    p.get_by_label("Vehicle 1 capacity").fill("20")
    p.get_by_role("button", name="Plan routes").click()
    routes = p.locator("#plan-routes")
    routes.wait_for()
    assert "SwiftExpress dispatch" in routes.inner_text()
    assert p.locator("#plan figure svg polyline.route").count() == 1  # the picture, inline
    height = served.height
    p.get_by_role("button", name="Record this plan").click()
    p.wait_for_url(served.url + "/dispatch/plans/PW-1")
    assert served.height > height
    shown = p.locator("#plan-routes").inner_text()
    assert "PW-1/V1" in shown and all(oid in shown for oid in orders)
    assert p.locator("figure svg polyline.route").count() == 1
    assert {_order_state(served, oid) for oid in orders} == {"dispatched"}
    p.context.close()


def test_the_fleet_pages_fit_a_phone(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "platform-a", PHONE)
    plan = served.info.notes["logistics"]["plan"]
    for path in ("/dispatch", f"/dispatch/plans/{plan}", "/emissions"):
        p.goto(served.url + path)
        wider = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{path} is {wider} px wider than the phone"
    p.context.close()


# -- planning over HTTP ----------------------------------------------------------------------


def test_planning_shows_routes_and_signs_nothing(served: Served) -> None:
    orders = _orders(served, 3)
    height = served.height
    with served.web("platform-a") as c:
        r = c.post("/dispatch", data=_form(served, orders, plan="PH-1"))
    assert r.status_code == 200, r.text
    assert 'id="plan-routes"' in r.text and "<svg" in r.text and "<polyline" in r.text
    args = json.loads(_hidden(r.text, "args"))
    assert args["id"] == "PH-1"
    assert sorted(s["order"] for rt in args["routes"] for s in rt["stops"]) == sorted(orders)
    assert 'id="record-form"' in r.text
    assert served.height == height  # a plan shown is not a plan recorded
    assert {_order_state(served, oid) for oid in orders} == {"placed"}


def test_the_web_plans_exactly_as_the_cli_does(served: Served, tmp_path: Path) -> None:
    orders = _orders(served, 2)
    doc = _request(served, orders, "PC-1")
    doc["platform"] = served.did("platform-a")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    res = CliRunner().invoke(cli, ["dispatch", "plan", "--data", str(served.info.data_dir),
                                   "--request", str(path), "--time-limit", "1", "--json"])
    assert res.exit_code == 0, res.output
    with served.web("platform-a") as c:
        r = c.post("/dispatch", data={"time_limit": "1"},
                   files={"request": ("request.json", path.read_bytes(), "application/json")})
    assert r.status_code == 200, r.text
    assert json.loads(_hidden(r.text, "args")) == json.loads(res.output)["args"]


def test_the_server_answers_while_a_plan_is_solved(served: Served,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The solver runs off the event loop: a page is answered while it is still searching
    (held here until that answer came; solved on the loop, the answer could not come)."""
    import supplyledger.logistics.dispatch_plan as planner

    solving, answered = threading.Event(), threading.Event()
    real = planner.plan_dispatch

    def held(*args: Any, **kwargs: Any) -> Any:
        solving.set()
        answered.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "plan_dispatch", held)
    orders = _orders(served, 1)
    out: dict[str, Any] = {}
    with served.web("platform-a") as c:
        worker = threading.Thread(target=lambda: out.update(r=c.post(
            "/dispatch", data=_form(served, orders, plan="PL-1"))))
        worker.start()
        assert solving.wait(60)
        with httpx.Client(base_url=served.url, timeout=30) as other:
            assert other.get("/openapi.json").status_code == 200
        answered.set()
        worker.join(60)
    assert out["r"].status_code == 200 and 'id="record-form"' in out["r"].text


def test_recording_twice_signs_once(served: Served) -> None:
    orders = _orders(served, 1)
    with served.web("platform-a") as c:
        shown = c.post("/dispatch", data=_form(served, orders, plan="PT-1")).text
        form = {"args": _hidden(shown, "args"), "once": _hidden(shown, "once")}
        first = c.post("/dispatch/record", data=form)
        assert first.status_code == 303
        assert first.headers["location"] == "/dispatch/plans/PT-1"
        height = served.height
        again = c.post("/dispatch/record", data=form)  # reload / back and resend
        assert again.status_code == 303 and again.headers["location"] == "/dispatch/plans/PT-1"
        assert served.height == height
        plan = c.get("/dispatch/plans/PT-1")
    assert plan.status_code == 200 and "PT-1/CV1" in plan.text and "<svg" in plan.text


def test_what_the_ledger_would_refuse_is_refused_before_signing(served: Served) -> None:
    first, second = _orders(served, 1), _orders(served, 1)
    with served.web("platform-a") as c:
        shown = [c.post("/dispatch", data=_form(served, o, plan="PR-1")).text
                 for o in (first, second)]
        assert c.post("/dispatch/record", data={"args": _hidden(shown[0], "args")}
                      ).status_code == 303
        height = served.height
        taken = c.post("/dispatch/record", data={"args": _hidden(shown[1], "args"),
                                                 "once": _hidden(shown[1], "once")})
        assert taken.status_code == 409 and "PR-1 already exists" in taken.text
        assert "Nothing was signed" in taken.text
        # A plan shown before its orders were dispatched is stale.
        stale = c.post("/dispatch/record", data={"args": _hidden(shown[0], "args").replace(
            '"PR-1"', '"PR-2"')})
        assert stale.status_code == 409 and "no longer open" in stale.text
        empty = c.post("/dispatch/record", data={"args": '{"id": "PR-3", "routes": []}'})
        assert empty.status_code == 422 and "nothing to dispatch" in empty.text
    assert served.height == height
    assert _order_state(served, next(iter(second))) == "placed"


def test_a_product_order_needs_the_batch_it_ships(served: Served) -> None:
    orders = _orders(served, 1, lots=False)
    with served.web("platform-a") as c:
        r = c.post("/dispatch", data=_form(served, orders, plan="PB-1"))
    assert r.status_code == 422, r.text
    assert "is for a product" in r.text or "are for a product" in r.text
    assert 'id="record-form"' not in r.text


def test_a_transporter_the_ledger_does_not_know_is_refused_before_signing(
        served: Served) -> None:
    """Only ``record_plan``'s body knows whether the transporter is registered: the web ran
    the argument checks alone, showed the plan and signed it into a failed transaction."""
    from supplyledger.ledger.crypto import generate

    orders = _orders(served, 1)
    stranger = generate("ed25519").did
    height = served.height
    with served.web("platform-a") as c:
        r = c.post("/dispatch", data=_form(served, orders, plan="PU-1",
                                           v0_transporter=stranger))
        assert r.status_code == 404 and "the plan would be refused" in r.text, r.text[-3000:]
        assert 'id="record-form"' not in r.text
        # A plan shown with a known transporter, then edited before it is sent.
        shown = c.post("/dispatch", data=_form(served, orders, plan="PU-2")).text
        edited = _hidden(shown, "args").replace(served.did("courier"), stranger)
        r = c.post("/dispatch/record", data={"args": edited, "once": _hidden(shown, "once")})
        assert r.status_code == 404 and "the plan would be refused" in r.text
        assert "Nothing was signed" in r.text
    assert served.height == height
    assert _order_state(served, next(iter(orders))) == "placed"


def test_bad_requests_are_refused_unsolved(served: Served) -> None:
    orders = _orders(served, 1)
    height = served.height
    other = _request(served, orders, "PX-1")
    other["platform"] = served.did("sales")  # Golden Wheat Sales: a platform too
    with served.web("platform-a") as c:
        r = c.post("/dispatch", data={"time_limit": "1"}, files={
            "request": ("r.json", json.dumps(other).encode(), "application/json")})
        assert r.status_code == 403 and "you plan for" in r.text
        r = c.post("/dispatch", data={"time_limit": "1"}, files={
            "request": ("r.json", b'{"warehouse": NaN}', "application/json")})
        assert r.status_code == 422 and "not JSON" in r.text
        r = c.post("/dispatch", data=_form(served, orders, time_limit="30"))
        assert r.status_code == 422 and "search time" in r.text
        r = c.post("/dispatch", data=_form(served, orders, **{f"lat.{next(iter(orders))}": ""}))
        assert r.status_code == 422 and "latitude and longitude" in r.text
        r = c.post("/dispatch", data=_form(served, orders, pick=["NOT-MINE"]))
        assert r.status_code == 422 and "not open orders of yours" in r.text
    assert served.height == height


def test_only_platforms_plan_and_everyone_sees_recorded_plans(served: Served) -> None:
    plan = served.info.notes["logistics"]["plan"]  # the demo's yeast round
    with served.web("customer") as c:
        page = c.get("/dispatch")
        assert page.status_code == 200 and 'id="not-platform"' in page.text
        assert 'id="plan-form"' not in page.text and f">{plan}</a>" in page.text
        nav = page.text.split('aria-label="Main"')[1].split("</nav>")[0]
        assert 'href="/dispatch"' not in nav
        height = served.height
        r = c.post("/dispatch", data=_form(served, {}))
        assert r.status_code == 403 and "record_plan" in r.text
        r = c.post("/dispatch/record", data={"args": json.dumps({
            "id": "PZ-1", "routes": [{"stops": [{"order": "F78-1"}]}]})})
        assert r.status_code == 403 and "record_plan" in r.text
        assert "Nothing was signed" in r.text
        assert served.height == height
        shown = c.get(f"/dispatch/plans/{plan}")
        assert shown.status_code == 200 and f"{plan}/CV1" in shown.text
        assert "(schematic)" in shown.text and "<polyline" in shown.text
    with served.web("platform-a") as c:
        page = c.get("/dispatch")
        nav = page.text.split('aria-label="Main"')[1].split("</nav>")[0]
        assert 'href="/dispatch"' in nav
        assert f">{plan}</a>" in page.text  # the platform's own recorded plans
        assert 'href="/emissions"' in page.text
        area = c.get("/area/logistics").text
        assert 'href="/dispatch"' in area and 'href="/emissions"' in area
        assert c.get("/dispatch/plans/NO-SUCH").status_code == 404


def test_a_plan_is_drawn_with_the_request_s_drop_points(served: Served) -> None:
    plan = served.info.notes["logistics"]["plan"]
    with served.web("platform-a") as c:
        doc = {"warehouse": {"node": "RBS-DC-CHENGDU", "lat": "30.66", "lon": "104.0633",
                             "open": 0, "close": HOUR, "outbound_capacity": 1},
               "orders": {oid: {"lat": lat, "lon": lon, "quantity": 1} for oid, (lat, lon)
                          in zip(served.info.notes["logistics"]["orders"],
                                 [*DROPS, ("30.6175", "104.0228"), ("30.6689", "104.1311")],
                                 strict=True)}}
        r = c.post(f"/dispatch/plans/{plan}", files={
            "request": ("r.json", json.dumps(doc).encode(), "application/json")})
    assert r.status_code == 200, r.text
    assert f"<title>dispatch plan {plan}</title>" in r.text  # geographic, not schematic


# -- the emissions report -------------------------------------------------------------------


def _demo_month(served: Served) -> str:
    """The month the demo's shipments departed in (UTC)."""
    rows = served.service.reads.rows("shipments", 10, None, {"plan": served.info.notes[
        "logistics"]["plan"]}).items
    return dt.datetime.fromtimestamp(rows[0]["departed"] / 1000, dt.UTC).strftime("%Y-%m")


def test_the_emissions_report_page_and_its_csv(served: Served) -> None:
    month = _demo_month(served)
    with served.web("auditor") as c:
        page = c.get("/emissions", params={"month": month})
        assert page.status_code == 200, page.text
        assert "Platform A operations" in page.text and "van_diesel_avg" in page.text
        assert "CO2e WTW (kg)" in page.text and "Tonne-km" in page.text
        assert f'href="/emissions.csv?month={month}"' in page.text
        csv = c.get("/emissions.csv", params={"month": month})
        api = c.get("/api/emissions", params={"month": month}).json()
        mine = c.get("/emissions", params={"month": month, "platform": "platform-a"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f'filename="emissions-{month}.csv"' in csv.headers["content-disposition"]
    assert csv.text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert csv.text == to_csv(api)  # the CLI's --csv of the same report
    conn = served.service.node.store.reader()
    assert csv.text == to_csv(emissions_report(KpiQueries(conn), month))
    assert mine.status_code == 200 and "Platform A operations" in mine.text


def test_emissions_defaults_to_the_ledger_s_month_and_refuses_bad_input(served: Served
                                                                        ) -> None:
    with served.web("platform-a") as c:
        page = c.get("/emissions")
        as_of = served.service.node.store.reader().execute(
            "SELECT MAX(time) FROM blocks").fetchone()[0]
        month = dt.datetime.fromtimestamp(as_of / 1000, dt.UTC).strftime("%Y-%m")
        assert page.status_code == 200 and f'value="{month}"' in page.text
        bad = c.get("/emissions", params={"month": "2026-13"})
        assert bad.status_code == 422 and "month must be YYYY-MM" in bad.text
        unknown = c.get("/emissions", params={"month": month, "platform": "nobody"})
        assert unknown.status_code == 404 and "no platform" in unknown.text
        assert c.get("/emissions.csv", params={"month": "x"}).status_code in (400, 422)


def test_a_demo_too_short_for_the_faulty_lot_claims_no_edit(served: Served) -> None:
    """This week of the demo never reaches the faulty lot: the insider's edit is not made,
    and no edit is claimed (it said "trace_events row (, 0)")."""
    assert served.info.faulty_lot == "" and served.info.tampered == ""
