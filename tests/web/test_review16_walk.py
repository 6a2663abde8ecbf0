"""Review 16: a logistics and e-commerce team's walk through the web UI, in Debian's
Chromium and over HTTP, against a week of the demo served on loopback. What a user tripped
over, each pinned here:

* a mistyped address (``/nope``, ``/orders/NOPE``, ``/trace/does-not-exist``) gave a page
  headed "Error 404" saying only "not_found — Not Found", with the dashboard as the one way
  back; a transaction id that cannot be one answered with the regular expression it failed
  ("String should match pattern '^[0-9a-f]{64}$'"), a block number that is not a number
  with pydantic's sentence, and a form POSTed to a page with "Method Not Allowed";
* the contract forms' hints showed the schema's text: "string (1-64 chars, pattern
  `[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}`)", "integer 0..9007199254740991", "list of object
  {hs, …} (1-50 items) (JSON)"; a planned departure (``departs_at``) asked for epoch
  milliseconds; the withdrawal and enrolment forms' patterns had no words at all;
* the dispatch plan's picture had its legend at the side, past a phone's screen (the
  picture scrolled sideways inside its card), a long name ran out of the picture, the map
  had no axes or scale, its distances no unit ("distance 42.10", "route 1: 2 stops,
  19.36"), and a flat plan sat at the bottom of a square of white.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from supplyledger.logistics.dispatch_picture import plan_svg
from supplyledger.logistics.plot import render_svg
from supplyledger.logistics.routing_model import (
    Client,
    Depot,
    Route,
    RoutingProblem,
    RoutingSolution,
    VehicleType,
    Visit,
)

DESK = {"width": 1280, "height": 800}
SVG = "{http://www.w3.org/2000/svg}"


served = demo_fixture("walk16", weeks=1, api=CHEAP)
browser = browser_fixture()


def _main(html: str) -> str:
    found = re.search(r"<main[^>]*>(.*)</main>", html, re.S)
    assert found, html
    return found.group(1)


def _ways_back(html: str) -> list[tuple[str, str]]:
    box = re.search(r'<ul class="ways-back" id="ways-back">(.*?)</ul>', html, re.S)
    assert box, html
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', box.group(1))


# -- unknown addresses and ids -------------------------------------------------------------
@pytest.mark.parametrize(("path", "up"), [("/nope", None),
                                          ("/orders/NOPE", ("/area/orders", "Orders")),
                                          ("/trace/does-not-exist", ("/trace", "Trace"))])
def test_an_unknown_address_is_a_page_that_says_so_and_leads_back(
        served: Served, path: str, up: tuple[str, str] | None) -> None:
    with served.web("customer") as web:
        r = web.get(path, headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert '<nav class="main-nav"' in r.text  # in the site's layout, menu and all
    main = _main(r.text)
    assert "<h1>Not found</h1>" in main
    assert f"There is no page at {path}." in main
    assert "Not Found" not in main and "Error 404" not in main
    assert "<code>not_found</code>" in main  # the stable code, after the words
    ways = _ways_back(r.text)
    assert ways[-1] == ("/", "Back to the dashboard")
    assert (up in ways) if up else len(ways) == 1


def test_a_logged_out_visitor_is_offered_the_login(served: Served) -> None:
    r = httpx.get(served.url + "/nope", headers={"accept": "text/html"})
    assert r.status_code == 404 and "There is no page at /nope." in r.text
    assert _ways_back(r.text) == [("/login", "Log in")]


def test_an_impossible_transaction_id_is_not_found_in_words(served: Served) -> None:
    with served.web("driver") as web:
        r = web.get("/explorer/tx/NOPE")
    main = _main(r.text)
    assert r.status_code == 404
    assert "no transaction NOPE: a transaction&#39;s id is 64 hexadecimal digits" in main
    assert "pattern" not in main and "[0-9a-f]" not in main
    assert ("/explorer", "Explorer") in _ways_back(r.text)


def test_a_bad_value_in_the_address_is_said_in_words(served: Served) -> None:
    with served.web("driver") as web:
        block = web.get("/explorer/blocks/abc")
        flag = web.get("/explorer", params={"ok": "maybe"})
    assert block.status_code == 422
    assert "Height in the address must be a whole number." in _main(block.text)
    assert flag.status_code == 422
    assert "Ok in the address&#39;s query must be true or false." in _main(flag.text)
    for r in (block, flag):
        assert "Input should" not in r.text and "path.height" not in r.text


def test_a_form_sent_to_a_page_gets_the_page_to_open(served: Served) -> None:
    with served.web("customer") as web:
        r = web.post("/trace", data={"batch": "x"})
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    main = _main(r.text)
    assert "/trace is a page to open, not one that takes a POST." in main
    assert "Method Not Allowed" not in main
    assert ("/trace", "Open /trace") in _ways_back(r.text)


def test_the_api_keeps_json_errors(served: Served) -> None:
    with served.api("customer") as api:
        r = api.get("/api/nope", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


# -- form hints ------------------------------------------------------------------------------
SCHEMA_TEXT = re.compile(r"pattern|\bchars\b|\binteger \d|\d\.\.\d|\(JSON\)|\bstring \(|"
                         r"\[[^\]]*\d-\d[^\]]*\]|\{\d+,\d+\}|\bobject \{|"
                         r"list of (string|object|one)")


def test_no_form_hint_shows_a_regular_expression_or_schema_text(served: Served) -> None:
    with served.web("admin") as web:
        pages = {p: web.get(p).text for p in ("/contracts", "/account", "/admin",
                                               "/area/products", "/area/customs")}
    hints = {p: re.findall(r'<small class="hint"[^>]*>(.*?)</small>', html, re.S)
             for p, html in pages.items()}
    assert sum(map(len, hints.values())) > 150
    wrong = [(p, h) for p, hs in hints.items() for h in hs if SCHEMA_TEXT.search(h)]
    assert not wrong
    contracts = pages["/contracts"]
    for field, words in (
            ("products-create_batch-gtin", "GTIN-8/12/13/14 with check digit — 8 to 14 digits"),
            ("products-register_location-gln", "13 digits"),
            ("customs-declare-origin", "ISO 3166-1 alpha-2 code — 2 capital letters"),
            ("orders-place-id", "letters, digits and _ . : -, starting with a letter or a "
                                "digit; up to 64 characters"),
            ("identity-register_org-id", "2 to 63 characters"),
            ("privacy-publish-commitment", "64 hexadecimal digits (0-9, a-f)"),
            ("products-certify-valid_from", "a date, YYYY-MM-DD"),
            ("ratings-rate-score", "a whole number from 1 to 5"),
            ("customs-declare-lines", "JSON: a list of up to 50 objects with hs, description,"),
            ("shipments-create-grace_ms", "a whole number of milliseconds (3,600,000 is an "
                                          "hour) from 0 to 2,592,000,000 (30 days)")):
        hint = re.search(rf'id="{field}-hint">([^<]*)</small>', contracts)
        assert hint and words in hint.group(1).replace("&#39;", "'"), (field, hint)
    # A planned departure is a date and time, not epoch milliseconds.
    departs = re.search(r'<input id="shipments-create-departs_at"[^>]*>', contracts)
    assert departs and 'type="text"' in departs.group(0)
    assert 'placeholder="YYYY-MM-DD HH:MM"' in departs.group(0)
    # The withdrawal and enrolment forms' patterns say in words what they want.
    assert re.search(r'id="wi-id"[^>]*title="letters, digits and _ \. : -', pages["/account"])
    assert re.search(r'id="en-login"[^>]*title="2 to 64 lower-case letters', pages["/admin"])


# -- the dispatch plan's picture -------------------------------------------------------------
def _plan_id(served: Served) -> str:
    with served.web("platform-a") as web:
        found = re.search(r'href="/dispatch/plans/([^"]+)"', web.get("/dispatch").text)
    assert found, "the demo records a dispatch plan"
    return found.group(1)


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
def test_the_plan_picture_shows_its_legend_and_km_axes_whole(
        browser: Any, served: Served, viewport: dict[str, int]) -> None:
    p = page_as(browser, served, "platform-a", viewport)
    p.goto(f"{served.url}/dispatch/plans/{_plan_id(served)}")
    figure = p.locator("figure.plan-picture")
    svg = figure.locator("svg")
    box, pic = figure.bounding_box(), svg.bounding_box()
    # the picture fits its card: nothing to scroll to, nothing past the screen
    assert figure.evaluate("f => f.scrollWidth <= f.clientWidth")
    assert pic["x"] >= box["x"] and pic["x"] + pic["width"] <= box["x"] + box["width"] + 0.5
    assert pic["x"] + pic["width"] <= viewport["width"]
    assert p.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    # every legend and axis text lies inside the picture's own box
    inside = svg.evaluate("""s => { const v = s.viewBox.baseVal;
        return [...s.querySelectorAll('text')].map(t => { const b = t.getBBox();
          const r = t.getAttribute('transform') ? t.getBoundingClientRect() : null;
          const o = s.getBoundingClientRect();
          return r ? [t.textContent, r.left >= o.left - .5 && r.right <= o.right + .5
                                    && r.top >= o.top - .5 && r.bottom <= o.bottom + .5]
                   : [t.textContent, b.x >= -.5 && b.x + b.width <= v.width + .5
                                     && b.y >= -.5 && b.y + b.height <= v.height + .5]; }); }""")
    assert inside and all(ok for _, ok in inside), [t for t, ok in inside if not ok]
    titles = svg.locator("text.axis-title").all_text_contents()
    assert len(titles) == 2 and all("km" in t for t in titles)
    assert svg.locator("text.tick").count() >= 3
    legend = svg.locator("g.legend text").all_text_contents()
    routes = [t for t in legend if t.startswith("route ")]
    assert routes and all(re.fullmatch(r"route \d+ \(\S+\): \d+ stops, \d+\.\d km", t)
                          for t in routes), legend
    assert any(re.search(r"distance \d+\.\d km", t) for t in legend)
    # each route's row in the table carries its colour in the picture
    swatches = p.locator("#plan-routes svg.swatch rect")
    colours = svg.locator("polyline.route").evaluate_all(
        "ls => ls.map(l => l.getAttribute('stroke'))")
    assert swatches.evaluate_all("rs => rs.map(r => r.getAttribute('fill'))") == colours
    p.context.close()


def _plan(name: str, orders: int, lat: int = 0) -> dict[str, Any]:
    legs = [{"distance_m": 4000 + 1000 * i, "to_lat": lat + 1000 * i, "to_lon": 9000 * i}
            for i in range(orders + 1)]
    return {"id": name, "warehouse": "WH-1", "distance_m": 50_000, "unserved": [],
            "routes": [{"vehicle": "V-" + "x" * 40, "load": 3, "distance_m": 50_000,
                        "orders": [f"O{i}" for i in range(orders)], "legs": legs}]}


def test_a_long_name_stays_inside_the_picture_and_a_flat_plan_is_not_a_sliver() -> None:
    root = ET.fromstring(plan_svg(_plan("P" * 40, 4), {f"O{i}": (0, 9000 * i)
                                                       for i in range(4)}, (0, 0)))
    width = float(root.get("viewBox", "").split()[2])
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert all(len(t) <= 70 for t in texts), texts
    assert "dispatch plan " + "P" * 40 in texts  # not cut: it fits
    assert width == 600
    frame = root.find(f".//{SVG}g[@class='axes']/{SVG}rect")
    assert frame is not None
    # all drops on one parallel: the map is still a third as tall as it is wide
    assert float(frame.get("height", "0")) >= 0.29 * float(frame.get("width", "0"))
    axes = [t for t in root.iter(f"{SVG}text") if t.get("class") == "axis-title"]
    assert [a.text for a in axes] == ["km east of the warehouse", "km north of the warehouse"]


def test_a_picture_without_a_unit_keeps_its_plain_numbers() -> None:
    """A benchmark instance (``route --svg``) has no unit: the axes say x and y."""
    problem = RoutingProblem("n" * 200, (Depot("d", 0.0, 0.0),),
                             (Client("a", 10.0, 0.0), Client("b", 0.0, 10.0)),
                             (VehicleType(1, 10.0),))
    solution = RoutingSolution((Route(0, (Visit("a", 0, 0), Visit("b", 0, 0)), 0.0, 0.0,
                                      34.14, 2.0),), 34.14, True)
    root = ET.fromstring(render_svg(problem, solution))
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "x" in texts and "y" in texts
    assert any("distance 34.14 ·" in t for t in texts) and "route 1: 2 stops, 34.14" in texts
    assert "n" * 69 + "…" in texts and all(len(t) <= 70 for t in texts)
