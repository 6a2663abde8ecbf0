"""The demo leaves work to do: platform A's open orders and the request to plan them.

Before, every order of the demo ended completed, cancelled or disputed, so the Dispatch
page (and ``supplyledger dispatch plan``) had nothing to plan on the demo ledger and the
sellers' inboxes were empty. Now, on the last full day, six customers of platform A order
yeast: paid into escrow, the seller's lots made, not dispatched; and the demo writes
``dispatch-request.json`` (their private drop points, the warehouse, two chilled vans) into
its data directory and prints its path.

One demo ledger (a week of activity, a fixed "now") for the module."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.cli.demo import _report
from supplyledger.cli.main import app as cli
from supplyledger.demo import DemoInfo, load_demo
from supplyledger.demo.cast import DAY, HOUR
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.readonly import open_readonly
from supplyledger.store.shipment_rows import open_orders

CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000)
NOW = 1_795_176_000_000  # 20 Nov 2026 12:00 UTC, as the other demo tests
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return load_demo(tmp_path_factory.mktemp("review13-open") / "ledger", weeks=1, api=CHEAP,
                     now_ms=NOW)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _request(info: DemoInfo) -> dict[str, object]:
    doc: dict[str, object] = json.loads(Path(info.notes["open_orders"]["request"]).read_text(
        encoding="utf-8"))
    return doc


def test_platform_a_has_open_orders_paid_into_escrow(demo: DemoInfo) -> None:
    oids = demo.notes["open_orders"]["orders"]
    req = _request(demo)
    conn = open_readonly(demo.data_dir)
    try:
        assert [o.id for o in open_orders(conn, str(req["platform"]))] == sorted(oids)
        rows = conn.execute("SELECT id, buyer, seller, state, placed_at, quantity, unit_price, "
                            "freight FROM orders WHERE id LIKE 'OA%' ORDER BY id").fetchall()
        escrow = dict(conn.execute("SELECT account, balance FROM balances WHERE kind='escrow'"
                                   ).fetchall())
        last = conn.execute("SELECT MAX(time) FROM blocks").fetchone()[0]
    finally:
        conn.close()
    assert [r[0] for r in rows] == oids and 5 <= len(oids) <= 8
    assert {r[3] for r in rows} == {"placed"}
    assert len({r[1] for r in rows}) == len(rows)  # one order per customer
    assert len({r[2] for r in rows}) == 1
    for oid, *_, qty, price, freight in rows:
        assert escrow[f"escrow:orders:{oid}"] == qty * price + freight > 0
    # On the demo's last full day (the 19th), and nothing is dated after "now".
    day = (NOW // DAY - 1) * DAY
    assert all(day <= r[4] < day + DAY for r in rows) and last <= NOW
    # Deterministic: ids from the day, the plan id from the round's start (next full hour).
    assert oids == [f"OA{day // DAY % 100_000:05d}{i}" for i in range(len(oids))]
    assert req["plan"] == "PA-20261120-1300" and req["start"] == NOW + HOUR


def test_the_written_request_routes_every_open_order_through_the_cli(
        demo: DemoInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan starts no earlier than now: pin now to the demo's, or the round is over.
    monkeypatch.setattr("supplyledger.node.service.wall_clock_ms", lambda: NOW)
    oids = demo.notes["open_orders"]["orders"]
    path = demo.notes["open_orders"]["request"]
    assert Path(path).parent == demo.data_dir
    res = CliRunner().invoke(cli, ["dispatch", "plan", "--data", str(demo.data_dir),
                                   "--request", path, "--time-limit", "1", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    routed = [o for r in plan["routes"] for o in r["orders"]]
    assert sorted(routed) == sorted(oids)
    assert plan["unserved"] == [] and plan["ignored"] == []
    # each stop ships the lot its seller made for the order
    conn = sqlite3.connect(demo.data_dir / "ledger.sqlite")
    try:
        lots = dict(conn.execute("SELECT lot, id FROM batches WHERE lot LIKE 'POA%'"
                                 ).fetchall())
    finally:
        conn.close()
    stops = {s["order"]: s["batch"] for r in plan["args"]["routes"] for s in r["stops"]}
    assert stops == {oid: lots[f"P{oid}"] for oid in oids}


@pytest.fixture
def service(demo: DemoInfo) -> Iterator[LedgerService]:
    node = Node(Settings(demo.data_dir, verify_workers=0),
                load_node_key(demo.data_dir, demo.node_password), clock=lambda: NOW).start()
    svc = LedgerService(node, CHEAP)
    yield svc
    node.stop()
    svc.close()


@pytest.fixture
async def web(service: LedgerService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service)),
                                 base_url="http://test") as c:
        yield c


async def test_the_dispatch_page_plans_them_from_the_uploaded_request(
        web: httpx.AsyncClient, demo: DemoInfo) -> None:
    pw = next(pw for who, pw, _, _ in demo.logins if who == "platform-a")
    r = await web.post("/api/auth/login", json={"login": "platform-a", "password": pw})
    assert r.status_code == 200, r.text
    web.headers["X-CSRF-Token"] = r.json()["csrf"]
    listed = await web.get("/dispatch")
    assert all(f'value="{oid}"' in listed.text for oid in demo.notes["open_orders"]["orders"])
    path = Path(demo.notes["open_orders"]["request"])
    r = await web.post("/dispatch", data={"time_limit": "1"},
                       files={"request": (path.name, path.read_bytes(), "application/json")})
    assert r.status_code == 200, r.text[-2000:]
    m = re.search(r'name="args" value="([^"]*)"', r.text)
    assert m, "no plan to record on the page"
    args = json.loads(html.unescape(m.group(1)))
    routed = [s["order"] for rt in args["routes"] for s in rt["stops"]]
    assert sorted(routed) == sorted(demo.notes["open_orders"]["orders"])


def test_the_demo_report_points_at_the_request(demo: DemoInfo) -> None:
    from supplyledger.cli.common import console

    with console.capture() as cap:
        _report(demo, "http://127.0.0.1:8000/", 1.0, serving=False)
    out = " ".join(cap.get().split())
    n = len(demo.notes["open_orders"]["orders"])
    assert f"{n} open yeast orders to plan" in out
    # (a long path may be folded across lines)
    assert demo.notes["open_orders"]["request"] in "".join(out.split())


def test_the_open_orders_count_as_placed_and_in_no_other_kpi(demo: DemoInfo) -> None:
    """docs/kpi.md quotes these figures: platform A's month in the one-week demo."""
    from supplyledger.node.kpi_reports import kpi_report
    from supplyledger.store.kpi_rows import KpiQueries

    conn = open_readonly(demo.data_dir)
    try:
        row = kpi_report(KpiQueries(conn), platform="platform-a", kind="2026-11")[
            "platforms"][0]["periods"][0]
    finally:
        conn.close()
    assert row["orders"] == {"placed": 21, "cancelled": 0}
    assert row["processing_hours"]["n"] == row["excursions"]["orders"]["n"] == 15
    assert row["co2e_per_order"]["of"] == 15 and row["co2e_per_order"]["n"] == 5
    assert row["otif"]["n"] == 15  # none of the open orders is due yet
