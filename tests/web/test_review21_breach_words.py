"""Review 21: sensor breaches in words beyond ``/cold-chain``, against the demo served on
loopback (the van logger CB-07 breaching the yeast supplier's product rule of 2-8 °C at
9.6 °C on lot PY<order>). Pinned here:

* the generic table view of ``sensor_breaches`` (``/tables/…`` and the Logistics area)
  showed the worst value as stored ("9600": milli-°C for a temperature breach, other units
  for humidity or shock, so no column name says which) and the rule as its state key
  ("r/p/0690…"): the worst value reads in the unit of the row's kind, the rule as the
  product it belongs to, linking to the rule's row, each stored value in the cell's
  tooltip; the JSON API keeps the stored values;
* the trace page named the logger behind a breach only by its id ("device did:sl:…"): it
  names it as it names every participant, the id in a tooltip.
"""

from __future__ import annotations

import html
import re
from typing import Any

from _serving import DemoServed as Served
from _serving import demo_fixture
from api.conftest import CHEAP

served = demo_fixture("breach21", weeks=4, api=CHEAP)
YEAST = "06901234200010"
RULE_LINK = f'<a href="/tables/sensor_rules?key=r%2Fp%2F{YEAST}" title="r/p/{YEAST}">'


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _breach(served: Served) -> dict[str, Any]:
    with served.web("supplier-a") as web:
        r = web.get("/api/tables/sensor_breaches")
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    assert len(rows) == 1, rows
    return dict(rows[0])


def _row(page: str, breach_id: str) -> str:
    """The table row of the breach (its id is in the first cell's tooltip)."""
    rows = [tr for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S)
            if f'title="{breach_id}"' in tr]
    assert rows, page[-3000:]
    return rows[0]


def test_the_breach_tables_say_worst_and_rule_in_words(served: Served) -> None:
    b = _breach(served)
    # The API is data: the stored integer and key, nothing added.
    assert b["kind"] == "temp" and b["worst"] == 9600 and b["rule"] == f"r/p/{YEAST}"
    assert "shown_cells" not in b
    with served.web("supplier-a") as web:
        table = web.get("/tables/sensor_breaches")
        area = web.get("/area/logistics")
        rule = web.get(f"/tables/sensor_rules?key=r%2Fp%2F{YEAST}")
    for r in (table, area):
        assert r.status_code == 200, r.text[-2000:]
        row = _row(r.text, b["id"])
        assert '<span title="9600">9.6 °C</span>' in row
        assert f"{RULE_LINK}product rule of Baking yeast, 500 g</a>" in row
        words = _text(row)
        assert "9600" not in words and "r/p/" not in words
        assert "Cold-box logger CB-07" in words  # the logger was named already
    # the rule's link leads to its row, in °C
    assert rule.status_code == 200
    words = _text(rule.text)
    assert f"Rows where key is r/p/{YEAST}" in words and "8.0 °C" in words


def test_the_worst_value_is_in_the_unit_of_its_kind() -> None:
    from supplyledger.api.web.pages_logistics import worst_words

    # One column, four units: which is the row's kind's.
    assert worst_words("temp", 9600) == "9.6 °C"
    assert worst_words("temp", -1850) == "-1.9 °C"
    assert worst_words("hum", 915) == "91.5 % RH"
    assert worst_words("shock", 3200) == "3.20 g"
    assert worst_words("geofence", 1500) == "1.5 km from the centre"
    assert worst_words("temp", None) is None and worst_words("later", 5) is None


def test_the_trace_page_names_the_logger_of_a_breach(served: Served) -> None:
    b = _breach(served)
    with served.web("supplier-a") as web:
        r = web.get("/trace", params={"batch": b["batch"]})
    assert r.status_code == 200, r.text[-2000:]
    summary = re.search(r'<div class="notice bad" role="alert" id="faulty-summary">(.*?)'
                        r'<ul class="todo"', r.text, re.S)
    assert summary, r.text[-3000:]
    assert f'device <span title="{b["device"]}">Cold-box logger CB-07</span>' in summary[1]
    words = _text(summary[1])
    assert "sensor breach: temperature 9.6 °C above 8.0 °C for 36 min" in words
    assert "did:sl:" not in words

