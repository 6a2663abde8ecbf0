"""Review 22: a team in Shanghai or Rotterdam reads and types local times. Each web account
chooses its time zone on the Account page (the node's, UTC by default, until it does); the
pages show times in it with its abbreviation, and forms read typed times in it (a time the
clocks skip or repeat as ``fold=0`` reads it). Sums by day stay UTC and say so. Real pages
of a week of the demo, over HTTP on loopback.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from zoneinfo import ZoneInfo

import httpx
import pytest

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP
from supplyledger.api import ApiSettings
from supplyledger.errors import ValidationError

served = demo_fixture("tz22", weeks=1, api=CHEAP)
SHANGHAI, AMSTERDAM = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Amsterdam")
PLACE = "/contracts/orders/place"


def _choose(web: httpx.Client, zone: str) -> httpx.Response:
    return web.post("/account", data={"csrf": web.headers["X-CSRF-Token"],
                                      "action": "time_zone", "time_zone": zone})


def _tag(page: str, fid: str) -> str:
    found = re.search(rf'<input[^>]* id="{fid}"[^>]*>', page)
    assert found, page[-3000:]
    return found[0]


def _block_time(page: str) -> tuple[int, str]:
    """A block page's time: its epoch ms and how the page shows it."""
    found = re.search(r'<dt>time</dt><dd><code>(\d+)</code> \(<time datetime="[^"]+" '
                      r'title="[^"]+ UTC">([^<]*)</time>\)</dd>', page)
    assert found, page[-3000:]
    return int(found[1]), found[2]


def _order_row(served: Served, oid: str) -> dict[str, object]:
    [row] = served.service.reads.rows("orders", 1, None, {"id": oid}).items
    return dict(row)


def _place(served: Served, web: httpx.Client, oid: str, earliest: str,
           latest: str) -> httpx.Response:
    form = form_fields(web.get(PLACE).text, PLACE)
    return web.post(PLACE, data={**form, "id": oid, "seller": served.did("supplier-a"),
                                 "product": "06901234200010", "quantity": "2",
                                 "unit_price": "1850", "freight": "0", "currency": "CNY",
                                 "earliest": earliest, "latest": latest})


def _local_days_ahead(served: Served, zone: ZoneInfo, days: int, hour: int) -> dt.datetime:
    """``hour``:00 local in ``zone``, ``days`` after the node's today there."""
    today = dt.datetime.fromtimestamp(served.service.node.clock() / 1000, zone).date()
    day = today + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=zone)


def _last_sunday(year: int, month: int) -> dt.date:
    d = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


# -- the account page ---------------------------------------------------------------------------
def test_the_account_page_saves_a_zone_and_refuses_an_unknown_one(served: Served) -> None:
    did = served.did("bank")
    with served.web("bank") as web:
        page = web.get("/account").text
        assert _tag(page, "tz-zone") and '<option value="Asia/Shanghai">' in page
        assert re.search(r'id="tz-now">UTC<', page)  # the node's, before any choice
        saved = _choose(web, "asia/shanghai")  # any letter case: the zone's own spelling
        refused = _choose(web, "Mars/Olympus_Mons")
        after = web.get("/account").text
    assert saved.status_code == 200
    assert "Your pages now show times in Asia/Shanghai" in saved.text
    assert re.search(r'id="tz-now">Asia/Shanghai<', saved.text)  # this answer, too
    assert refused.status_code == 400
    tag = _tag(refused.text, "tz-zone")
    assert 'aria-invalid="true"' in tag and 'value="Mars/Olympus_Mons"' in tag  # kept
    note = re.search(r'<small class="bad" id="tz-zone-error">(.*?)</small>', refused.text)
    assert note and html.unescape(note[1]).startswith(
        "'Mars/Olympus_Mons' is not a time zone this node knows")
    assert 'href="#tz-zone"' in refused.text  # the summary leads to the field
    # nothing kept: the earlier choice stands
    assert served.service.accounts.chosen_time_zone(did) == "Asia/Shanghai"
    assert 'value="Asia/Shanghai"' in _tag(after, "tz-zone")
    with served.web("bank") as web:
        back = _choose(web, "")  # empty: the node's again
    assert back.status_code == 200 and "this node's time zone, UTC" in html.unescape(back.text)
    assert served.service.accounts.chosen_time_zone(did) == ""


def test_the_node_wide_zone_is_checked_where_it_is_set() -> None:
    assert ApiSettings().time_zone == "UTC"
    assert ApiSettings(time_zone="europe/amsterdam").time_zone == "Europe/Amsterdam"
    with pytest.raises(ValidationError, match="'Atlantis' is not a time zone"):
        ApiSettings(time_zone="Atlantis")
    with pytest.raises(ValidationError, match="not a time zone"):
        ApiSettings(time_zone="localtime")  # the machine's own: no place's zone


# -- times shown ---------------------------------------------------------------------------------
def test_pages_show_times_in_the_chosen_zone_and_sums_by_day_stay_utc(served: Served) -> None:
    with served.web("courier") as web:
        assert _choose(web, "Asia/Shanghai").status_code == 200
        ms, shown = _block_time(web.get("/explorer/blocks/1").text)
        dashboard = web.get("/").text
    t = dt.datetime.fromtimestamp(ms / 1000, SHANGHAI)
    assert shown == t.strftime("%Y-%m-%d %H:%M") + " CST"
    utc = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    assert t.hour == (utc.hour + 8) % 24
    assert "(UTC days)" in dashboard  # a day's count does not change with the viewer


def test_a_user_without_a_choice_sees_utc(served: Served) -> None:
    with served.web("auditor") as web:
        ms, shown = _block_time(web.get("/explorer/blocks/1").text)
        form = web.get(PLACE).text
    assert served.service.accounts.chosen_time_zone(served.did("auditor")) == ""
    assert shown == dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert "date and time in UTC, e.g. 2026-11-25 14:00" in form


# -- times typed ---------------------------------------------------------------------------------
def test_a_time_typed_in_the_zone_is_recorded_as_that_instant(served: Served) -> None:
    start = _local_days_ahead(served, SHANGHAI, 30, 9)
    end = start + dt.timedelta(days=2, hours=8)
    with served.web("customer") as web:
        assert _choose(web, "Asia/Shanghai").status_code == 200
        form = web.get(PLACE).text
        r = _place(served, web, "TZ22-SH", start.strftime("%Y-%m-%d %H:%M"),
                   end.strftime("%Y-%m-%d %H:%M"))
        table = web.get("/tables/orders?id=TZ22-SH").text
    assert "date and time in Asia/Shanghai, e.g. 2026-11-25 14:00" in form
    assert r.status_code == 200, r.text[-3000:]
    row = _order_row(served, "TZ22-SH")
    # 09:00 in Shanghai is 01:00 UTC
    assert row["earliest"] == int(start.timestamp()) * 1000
    assert dt.datetime.fromtimestamp(int(str(row["earliest"])) / 1000, dt.UTC).hour == 1
    utc = start.astimezone(dt.UTC)  # the instant in the tag, UTC in its tooltip
    assert (f'<time datetime="{utc:%Y-%m-%dT%H:%M:%S}Z" title="{utc:%Y-%m-%d %H:%M:%S} UTC">'
            f'{start:%Y-%m-%d} 09:00 CST</time>' in table), table[-3000:]


def test_times_the_clocks_skip_or_repeat_are_read_as_fold_0(served: Served) -> None:
    """02:30 on the night Amsterdam skips 02:00-03:00 is read by the offset before the
    change (01:30 UTC, shown back as 03:30 CEST); 02:30 on the night it repeats that hour
    is the first 02:30 (summer time, 00:30 UTC)."""
    now = served.service.node.clock()
    year = dt.datetime.fromtimestamp(now / 1000, dt.UTC).year
    spring = next(d for d in (_last_sunday(y, 3) for y in (year, year + 1))
                  if dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp() * 1000
                  > now + 86_400_000)
    autumn = _last_sunday(spring.year, 10)
    with served.web("customer") as web:
        assert _choose(web, "Europe/Amsterdam").status_code == 200
        r = _place(served, web, "TZ22-DST", f"{spring} 02:30", f"{autumn} 02:30")
        table = web.get("/tables/orders?id=TZ22-DST").text
    assert r.status_code == 200, r.text[-3000:]
    row = _order_row(served, "TZ22-DST")
    utc = {k: dt.datetime.fromtimestamp(int(str(row[k])) / 1000, dt.UTC)
           for k in ("earliest", "latest")}
    assert utc["earliest"] == dt.datetime(spring.year, spring.month, spring.day, 1, 30,
                                          tzinfo=dt.UTC)
    assert utc["latest"] == dt.datetime(autumn.year, autumn.month, autumn.day, 0, 30,
                                        tzinfo=dt.UTC)
    assert f">{spring} 03:30 CEST</time>" in table
    assert f">{autumn} 02:30 CEST</time>" in table


def test_a_time_that_is_not_one_is_refused_in_the_viewers_zone(served: Served) -> None:
    height = served.height
    with served.web("customer") as web:
        assert _choose(web, "Asia/Shanghai").status_code == 200
        r = _place(served, web, "TZ22-BAD", "next tuesday", "2030-01-01 10:00")
    assert r.status_code == 422
    assert "Earliest must be a date and time like 2026-11-25 14:00 (Asia/Shanghai)" in \
        html.unescape(r.text)
    assert served.height == height  # nothing signed


def test_the_dispatch_form_reads_its_times_in_the_zone(served: Served) -> None:
    with served.web("platform-a") as web:
        assert _choose(web, "Asia/Shanghai").status_code == 200
        page = web.get("/dispatch").text
    assert "<label for=\"wh_open\">Opens (Asia/Shanghai)</label>" in page
    assert "(UTC)" not in page
    shown = re.search(r'id="wh_open" name="wh_open" placeholder="YYYY-MM-DD HH:MM" '
                      r'value="([^"]*)"', page)
    assert shown and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00", shown[1])


def test_downloads_and_the_api_stay_utc_for_a_viewer_in_another_zone(served: Served) -> None:
    [batch] = served.service.reads.rows("batches", 1, None, {}).items
    lot = str(batch["id"]).rsplit("/", 1)[-1]
    with served.web("courier") as web:
        assert _choose(web, "Asia/Shanghai").status_code == 200
        listed = web.get("/recall.csv", params={"batch": lot})
        api = web.get("/api/blocks/1").json()
        ms, shown = _block_time(web.get("/explorer/blocks/1").text)
    assert listed.status_code == 200, listed.text[-2000:]
    times = [r["last_event"] for r in csv.DictReader(io.StringIO(listed.text))
             if r["last_event"]]
    assert times and all(t.endswith(" UTC") for t in times), times
    assert shown.endswith(" CST") and api["header"]["time"] == ms  # epoch ms, as recorded
