"""``supplyledger bench-pages``: latency of every web page and main API read, over HTTP.

Serves the ledger with uvicorn on a free loopback port (a real server: HTTP parsing,
threads and all) and requests each page ``rounds`` times after one warm-up, recording p50,
p95 and max. The pages that take an id (a block, a transaction, a batch) use the ledger's
own data: the newest block, a recent transaction, and the batch with the most events and a
reported problem. Reads need a session but no key, so the bench mints a session for an
existing web account directly in the local table and deletes it afterwards.
"""

from __future__ import annotations

import secrets
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.api.accounts import token_hash
from supplyledger.api.auth import COOKIE
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

__all__ = ["bench_login", "pages_to_measure", "run_bench_pages"]

TARGET_P95_MS = 200.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pages_to_measure(svc: LedgerService) -> list[str]:
    q = svc.node.store.reader().execute
    height = svc.node.height
    tx = q("SELECT id FROM txs WHERE height = ? LIMIT 1", (height,)).fetchone()
    pages = ["/login", "/", "/explorer", f"/explorer/blocks/{height}",
             "/contracts", "/area/products", "/area/orders", "/area/custody", "/privacy",
             "/audit", "/admin", "/events/new", "/account", "/trace", "/recall",
             "/area/logistics", "/cold-chain", "/dispatch",
             "/api/status", "/api/blocks", "/api/tx", "/api/participants",
             "/api/organisations", "/api/contracts", "/api/tables"]
    if tx is not None:
        pages += [f"/explorer/tx/{tx[0]}", f"/api/tx/{tx[0]}/proof"]
    if "trace_events" in svc.reads.tables:
        cols = {r[1] for r in q("PRAGMA table_info(trace_events)")}
        order = "SUM(verdict != '') DESC, " if "verdict" in cols else ""
        row = q(f"SELECT batch FROM trace_events GROUP BY batch ORDER BY {order}COUNT(*) DESC "
                "LIMIT 1").fetchone()
        if row is not None:
            b = quote(row[0], safe="")
            pages += [f"/trace?batch={b}", f"/recall?batch={b}", f"/api/trace?batch={b}"]
    if "sensor_breaches" in svc.reads.tables:  # a breached batch: its temperatures charted
        row = q("SELECT batch FROM sensor_breaches LIMIT 1").fetchone()
        if row is not None:
            pages.append(f"/cold-chain?batch={quote(row[0], safe='')}")
    return pages


def bench_login(svc: LedgerService) -> str | None:
    """The participant the bench browses as: an active admin with a web account (the
    admin page is among those measured), else the first web account; None without any.
    Admins are looked for among the participants (a few), not among the web logins, which
    are read a page at a time (a node may hold thousands of customers' logins)."""
    cursor = None
    while True:
        admins = svc.reads.rows("participants", svc.settings.page_max, cursor,
                                {"status": "active"}, {"roles": "admin"})
        logins = svc.localdb.logins_of([p["did"] for p in admins.items])
        found = next((p["did"] for p in admins.items if p["did"] in logins), None)
        if found is not None or admins.next_cursor is None:
            break
        cursor = admins.next_cursor
    first = svc.localdb.accounts(limit=1)
    return found or (first[0][0] if first else None)


def _measure(client: httpx.Client, path: str, rounds: int) -> dict[str, Any]:
    r = client.get(path)  # warm-up: template compile, caches
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"page": path, "status": r.status_code, "bytes": len(r.content),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1),
            "max_ms": round(times[-1], 1)}


def run_bench_pages(data_dir: Path, node_password: str, *, rounds: int = 30) -> dict[str, Any]:
    import uvicorn

    node = Node(Settings(Path(data_dir)), load_node_key(Path(data_dir), node_password)).start()
    svc = LedgerService(node, ApiSettings())
    admin = bench_login(svc)
    if admin is None:
        node.stop()
        raise SystemExit("no web account on this ledger: the bench needs one to log in as")
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    svc.localdb.insert_session(token_hash(token), admin, now, now + 3600)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(svc), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies={COOKIE: token},
                          timeout=30) as client:
            results = [_measure(client, p, rounds) for p in pages_to_measure(svc)]
    finally:
        server.should_exit = True
        thread.join(10)
        svc.localdb.delete_session(token_hash(token))
        node.stop()
        svc.close()
    worst = max(r["p95_ms"] for r in results)
    return {"rounds": rounds, "height": node.height, "pages": results,
            "worst_p95_ms": worst, "target_p95_ms": TARGET_P95_MS,
            "ok": worst <= TARGET_P95_MS and all(r["status"] < 400 for r in results)}
