"""Review 23: a time on a page said only the viewer's local minute ("2026-11-20 16:00 CST"),
its tooltip the raw epoch milliseconds, or nothing at all: a colleague in another zone, or
support, could not tell the instant. Every time in a page's text is now a ``<time>`` whose
``datetime`` is the UTC instant (ISO 8601, milliseconds only when not whole seconds) and
whose tooltip is the UTC second, its text the viewer's local time as before (the filter
``time_tag`` beside ``when``). Unit tests of the helper inside the web UI's own viewer-zone
middleware, then real pages of a week of the demo, over HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import httpx
from markupsafe import Markup
from starlette.types import Message, Receive, Scope, Send

from _serving import DemoServed as Served
from _serving import demo_fixture
from api.conftest import CHEAP
from supplyledger.api.web import charts, zones
from supplyledger.api.web.render import env, time_tag, when

served = demo_fixture("tags23", weeks=1, api=CHEAP)
SHANGHAI, AMSTERDAM = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Amsterdam")
TAG = re.compile(r'<time datetime="([^"]*)" title="([^"]*)">([^<]*)</time>')


def _ms(year: int, month: int, day: int, hour: int, minute: int, second: int,
        millis: int = 0) -> int:
    """Epoch ms of a UTC date and time."""
    at = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    return int(at.timestamp()) * 1000 + millis


def _in_zone(zone: str, values: Iterable[object]) -> list[Markup]:
    """``time_tag`` of each value inside a page request whose viewer's zone is ``zone``
    (the web UI's ``ViewerZone`` middleware, the zone kept as the Account page keeps it)."""
    out: list[Markup] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        zones.keep(zone)
        out.extend(time_tag(v) for v in values)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    asyncio.run(zones.ViewerZone(app)({"type": "http", "path": "/x", "headers": []},
                                      receive, send))
    return out


# -- the helper ------------------------------------------------------------------------------
def test_a_whole_second_has_no_milliseconds_and_says_the_viewers_minute() -> None:
    ms = _ms(2026, 11, 20, 22, 0, 0)
    utc = '<time datetime="2026-11-20T22:00:00Z" title="2026-11-20 22:00:00 UTC">'
    assert time_tag(ms) == utc + "2026-11-20 22:00 UTC</time>"  # outside a page: UTC
    [chicago, shanghai] = _in_zone("America/Chicago", [ms]) + _in_zone("Asia/Shanghai", [ms])
    assert chicago == utc + "2026-11-20 16:00 CST</time>"
    assert shanghai == utc + "2026-11-21 06:00 CST</time>"  # the same tooltip everywhere
    assert time_tag(str(ms)) == time_tag(ms)  # a number as text, as ``when`` takes it


def test_an_instant_between_seconds_keeps_its_milliseconds_in_datetime_only() -> None:
    [tag] = _in_zone("Asia/Shanghai", [_ms(2026, 11, 20, 22, 0, 59, 45)])
    assert tag == ('<time datetime="2026-11-20T22:00:59.045Z" title="2026-11-20 22:00:59 UTC">'
                   "2026-11-21 06:00 CST</time>")
    # before 1970 the second is the one the instant falls in, not the next
    assert time_tag(-1) == ('<time datetime="1969-12-31T23:59:59.999Z" '
                            'title="1969-12-31 23:59:59 UTC">1969-12-31 23:59 UTC</time>')


def test_a_zone_with_summer_time_tells_the_hour_it_repeats_apart() -> None:
    """Amsterdam shows 02:30 twice on 25 Oct 2026 (00:30 and 01:30 UTC): the local text
    differs only by CEST/CET, the tags' instants say which."""
    summer, first, second, winter = _in_zone("Europe/Amsterdam", [
        _ms(2026, 7, 1, 12, 0, 0), _ms(2026, 10, 25, 0, 30, 0), _ms(2026, 10, 25, 1, 30, 0),
        _ms(2026, 11, 20, 22, 0, 0)])
    assert summer == ('<time datetime="2026-07-01T12:00:00Z" title="2026-07-01 12:00:00 UTC">'
                      "2026-07-01 14:00 CEST</time>")
    assert first == ('<time datetime="2026-10-25T00:30:00Z" title="2026-10-25 00:30:00 UTC">'
                     "2026-10-25 02:30 CEST</time>")
    assert second == ('<time datetime="2026-10-25T01:30:00Z" title="2026-10-25 01:30:00 UTC">'
                      "2026-10-25 02:30 CET</time>")
    assert winter.endswith(">2026-11-20 23:00 CET</time>")


def test_what_when_cannot_convert_stays_escaped_text() -> None:
    for value in ("soon", None, "", 10**20, "12.5"):
        tag = time_tag(value)
        assert isinstance(tag, Markup) and "<time" not in tag
        assert tag == str(value) == when(value)  # ``when``'s fallback, unchanged
    assert time_tag('<b onclick="x">&') == "&lt;b onclick=&#34;x&#34;&gt;&amp;"


def test_the_filter_is_html_safe_in_a_template() -> None:
    page = env.from_string("<p>at {{ v|time_tag }}</p>")
    ms = _ms(2026, 11, 20, 22, 0, 0)
    assert page.render(v=ms) == f"<p>at {time_tag(ms)}</p>"  # markup kept, not escaped
    assert page.render(v="<script>1</script>") == "<p>at &lt;script&gt;1&lt;/script&gt;</p>"
    assert env.from_string("{{ v|when }}").render(v=ms) == "2026-11-20 22:00 UTC"  # still there


def test_a_charts_numbers_table_tags_its_times_and_its_svg_keeps_words() -> None:
    t0, t1 = _ms(2026, 11, 20, 22, 0, 0), _ms(2026, 11, 20, 22, 2, 0)
    chart = charts.line([(t0, 5.0), (t1, 9.6)], title="Temperature", when=when, unit="°C",
                        band=(2.0, 8.0), tag=time_tag)
    svg, numbers = chart.split("</svg>")
    assert "<time" not in svg and ">2026-11-20 22:02 UTC</text>" in svg  # SVG text: words
    assert (f'<th scope="row">{time_tag(t1)} (out of range)</th><td>9.6</td>' in numbers)
    assert f'<th scope="row">{time_tag(t0)}</th><td>5.0</td>' in numbers
    plain = charts.line([(t0, 5.0)], title="T", when=lambda t: "<now>", unit="°C")
    assert '<th scope="row">&lt;now&gt;</th>' in plain  # no ``tag``: ``when``'s words escaped


# -- pages -----------------------------------------------------------------------------------
def _choose(web: httpx.Client, zone: str) -> None:
    r = web.post("/account", data={"csrf": web.headers["X-CSRF-Token"],
                                   "action": "time_zone", "time_zone": zone})
    assert r.status_code == 200, r.text[-2000:]


def _tags(page: str, zone: ZoneInfo) -> list[dt.datetime]:
    """Every time tag of ``page``, checked to agree with itself: the text is the ``datetime``
    instant in ``zone``, the tooltip its UTC second; no tooltip of raw milliseconds left."""
    assert not re.search(r'<time title="\d+"', page)
    found = TAG.findall(page)
    assert found, page[-3000:]
    out = []
    for iso, title, text in found:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", iso), iso
        at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
        assert title == at.strftime("%Y-%m-%d %H:%M:%S UTC")
        assert text == at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        out.append(at)
    return out


def test_the_explorer_tags_each_blocks_time_in_the_viewers_zone(served: Served) -> None:
    with served.web("courier") as web:
        _choose(web, "Asia/Shanghai")
        block = web.get("/explorer/blocks/1").text
        listing = web.get("/explorer").text
        api = web.get("/api/blocks/1").json()
    ms = int(api["header"]["time"])
    found = re.search(r"<dt>time</dt><dd><code>(\d+)</code> \((<time [^>]*>[^<]*</time>)\)",
                      block)
    assert found and int(found[1]) == ms, block[-3000:]  # the raw ms, then the tag
    [at] = _tags(found[2], SHANGHAI)
    assert at == dt.datetime.fromtimestamp(ms // 1000, dt.UTC) + dt.timedelta(
        milliseconds=ms % 1000)
    assert found[2].endswith(" CST</time>")
    rows = _tags(listing, SHANGHAI)
    assert len(rows) > 1 and rows == sorted(rows, reverse=True)  # newest first


def test_tables_and_balances_tag_times_for_a_viewer_in_amsterdam(served: Served) -> None:
    [order] = served.service.reads.rows("orders", 1, None, {}).items
    with served.web("bank") as web:
        _choose(web, "Europe/Amsterdam")
        table = web.get("/tables/orders", params={"id": order["id"]}).text
        account = web.get("/account").text
    earliest = int(order["earliest"])
    at = dt.datetime.fromtimestamp(earliest // 1000, dt.UTC)
    assert at + dt.timedelta(milliseconds=earliest % 1000) in _tags(table, AMSTERDAM)
    balances = re.search(r'<table class="balances" id="balances">.*?</table>', account, re.S)
    assert balances, account[-3000:]
    assert all(text.endswith((" CET", " CEST")) for _, _, text in TAG.findall(balances[0]))
    assert _tags(balances[0], AMSTERDAM)  # "Updated": a tag in the bank's zone
