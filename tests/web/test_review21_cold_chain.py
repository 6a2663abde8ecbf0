"""Review 21: a cold-chain quality manager's first day, against the demo served on loopback
(the yeast supplier's product rule of 2-8 °C with 30 minutes allowed; the van logger CB-07
whose readings breach it for 36 minutes on lot PY<order>). Pinned here:

* the web UI had no page answering "which loggers, which rules, which breaches": the area's
  breach table showed the worst value in milli-°C ("9600"), the rule as a state key and no
  allowance, and no reading was charted anywhere. ``/cold-chain`` says each breach in
  words (batch, check, worst in °C, duration against the rule's allowance, logger by
  name) with links to trace, recall, the order and the shipment, and charts a batch's or
  shipment's temperatures against the rule's band;
* the rule form took milli-°C as JSON, so "2" and "8" set a band of 0.002-0.008 °C: the
  page's form takes °C and minutes, and refuses in words, with nothing signed.
"""

from __future__ import annotations

import html
import re

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP

served = demo_fixture("cold21", weeks=4, api=CHEAP)
YEAST = "06901234200010"


def _lot(served: Served) -> str:
    return str(served.info.notes["logistics"]["breached_lot"]).rsplit("/", 1)[-1]


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_breaches_read_in_words_with_their_links(served: Served) -> None:
    lot = _lot(served)
    with served.web("supplier-a") as web:
        r = web.get("/cold-chain")
    assert r.status_code == 200, r.text[-2000:]
    item = re.search(r'<ul id="breach-list">(.*?)</ul>', r.text, re.S)
    assert item, r.text[-3000:]
    words = _text(item[1])
    assert f"Batch {lot}" in words
    assert "temperature up to 9.6 °C (above 8.0 °C)" in words
    assert "36 min out of range, 30 min allowed by the product rule of Baking yeast" in words
    assert "logger Cold-box logger CB-07" in words and "did:sl:" not in words
    assert "9600" not in words
    for link in ("/trace?batch=https%3A", "/recall?batch=https%3A",
                 "/tables/orders?id=Y", "/cold-chain?shipment=PA-"):
        assert link in item[1], link
    # the loggers and the rule, in °C
    words = _text(r.text)
    assert "temperature 2.0 °C to 8.0 °C, 30 min out of range allowed" in words
    assert re.search(r"Cold-box logger CB-07.*shipment PA-\d+/CV1", words)


def test_a_batch_and_its_shipment_have_their_temperatures_charted(served: Served) -> None:
    lot = _lot(served)
    with served.web("supplier-a") as web:
        by_batch = web.get("/cold-chain", params={"batch": lot})
        assert by_batch.status_code == 200
        ship = re.search(r'shipment=(PA-[^"&]+)"', by_batch.text)
        assert ship
        by_ship = web.get("/cold-chain", params={"shipment": html.unescape(ship[1])
                                                 .replace("%2F", "/")})
        missing = web.get("/cold-chain", params={"batch": "NO-SUCH-LOT"})
    for r in (by_batch, by_ship):
        assert r.status_code == 200
        svg = re.search(r'<svg class="chart".*?</svg>', r.text, re.S)
        assert svg, r.text[-3000:]
        assert "allowed 2.0 to 8.0 °C" in svg[0]  # the rule's band, in °C
        assert svg[0].count('class="out"') == 18  # 9.6 °C from minute 24 to 58, every 2
        assert "<polyline" in svg[0]
        assert "(out of range)</th><td>9.6</td>" in r.text
    assert "36 min out of range" in _text(by_batch.text)
    assert missing.status_code == 404 and "no batch NO-SUCH-LOT" in missing.text


def _rule_form(served: Served, web: object, **values: str) -> tuple[int, str]:
    page = web.get("/cold-chain").text  # type: ignore[attr-defined]
    fields = form_fields(page, "/cold-chain/rule")
    r = web.post("/cold-chain/rule", data={**fields, **values})  # type: ignore[attr-defined]
    return r.status_code, r.text


def test_the_rule_form_takes_celsius_and_refuses_in_words(served: Served) -> None:
    before = served.height
    with served.web("supplier-a") as web:
        for values, words in (
            ({"temp_min": "2-8", "temp_max": "8"},
             "the lowest temperature must be a number of °C, e.g. 2 or 7.5"),
            ({"temp_min": "8", "temp_max": "2"},
             "the lowest temperature (8.0 °C) must be below the highest (2.0 °C)"),
            ({"temp_min": "2", "temp_max": "800"},
             "the highest temperature must be between -100 °C and 100 °C"),
            ({"temp_min": "2", "temp_max": "8", "allowed_min": "half an hour"},
             "minutes allowed out of range: a whole number"),
        ):
            status, page = _rule_form(served, web, scope="product", target=YEAST, **values)
            assert status == 422, page[-2000:]
            note = re.search(r'<div class="notice bad" role="alert" id="rule-error".*?</div>',
                             page, re.S)
            assert note and words in _text(note[0]), (values, note and note[0])
            assert "Nothing was signed" in note[0]
        assert served.height == before  # nothing signed
        # a good one is signed: in °C, the minutes as its allowance
        status, page = _rule_form(served, web, scope="product", target=YEAST,
                                  temp_min="2.5", temp_max="7", allowed_min="20")
        assert status == 200, page[-2000:]
        assert "Rule set: r/p/06901234200010 version 2" in _text(page)
        assert "temperature 2.5 °C to 7.0 °C, 20 min out of range allowed" in _text(page)
