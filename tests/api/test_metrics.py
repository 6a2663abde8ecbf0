"""``GET /metrics``: the Prometheus text format parses, counters follow what the node
committed and refused, and only loopback clients or admin/auditor logins may read it."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from supplyledger.api import create_app
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.tx import make_tx
from supplyledger.node.service import wall_clock_ms

from .conftest import CHAIN, World, bearer, login

pytestmark = pytest.mark.anyio

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """Families (name -> type) and samples; asserts the 0.0.4 text format's rules."""
    assert text.endswith("\n")
    kinds: dict[str, str] = {}
    helped: set[str] = set()
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped and name not in kinds, line  # HELP, then TYPE, once
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}
            kinds[name] = kind
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels, value = m.groups()
        family = name
        if family not in kinds:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert kinds.get(family) == "histogram", f"sample before its TYPE: {line!r}"
        pairs = frozenset(_LABEL.findall(labels or ""))
        if labels:
            assert ",".join(f'{k}="{v}"' for k, v in sorted(pairs)) == labels, line
        samples[(name, pairs)] = float(value)  # also checks the value parses
    for name, kind in kinds.items():
        if kind == "histogram":
            buckets = sorted(((math.inf if dict(ls)["le"] == "+Inf" else float(dict(ls)["le"])), v)
                             for (n, ls), v in samples.items() if n == f"{name}_bucket")
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), name  # cumulative
            assert buckets[-1][0] == math.inf
            assert buckets[-1][1] == samples[(f"{name}_count", frozenset())], name
    return kinds, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((f"supplyledger_{name}", frozenset(labels.items())), 0.0)


async def scrape(c: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    r = await c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.text)[1]


@pytest.fixture
async def remote(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """A client from a non-loopback address."""
    transport = httpx.ASGITransport(app=create_app(world.service), client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_format_parses_and_names_every_metric(client: httpx.AsyncClient,
                                                    world: World) -> None:
    r = await client.get("/metrics")
    kinds, samples = parse(r.text)
    for name, kind in {"block_height": "gauge", "blocks_committed_total": "counter",
                       "txs_committed_total": "counter", "txs_failed_total": "counter",
                       "txs_refused_total": "counter", "txs_pending": "gauge",
                       "verifier_processes_alive": "gauge", "node_failed": "gauge",
                       "commit_process_alive": "gauge",
                       "block_commit_seconds": "histogram", "block_txs": "histogram",
                       "seconds_since_last_block": "gauge", "database_bytes": "gauge",
                       "wal_bytes": "gauge"}.items():
        assert kinds[f"supplyledger_{name}"] == kind, name
    assert value(samples, "block_height") == world.node.height
    assert value(samples, "database_bytes") > 0
    assert value(samples, "txs_pending") == 0
    assert value(samples, "verifier_processes_alive") == 0  # the fixture verifies in-process
    assert value(samples, "commit_process_alive") == 0  # and so commits in-process
    assert value(samples, "node_failed") == 0
    assert 0 <= value(samples, "seconds_since_last_block") < 300


async def test_counters_follow_committed_transactions(client: httpx.AsyncClient,
                                                      world: World) -> None:
    before = await scrape(client)
    futs = [world.node.submit(world.tx("admin", "identity", "register_org", {
        "id": f"org{i}", "name": f"Org {i}", "roles": ["supplier"]})) for i in range(5)]
    assert all(f.result(30).ok for f in futs)
    after = await scrape(client)
    assert value(after, "txs_committed_total") - value(before, "txs_committed_total") == 5
    blocks = value(after, "blocks_committed_total") - value(before, "blocks_committed_total")
    assert 1 <= blocks <= 5
    assert value(after, "block_height") == value(before, "block_height") + blocks
    assert value(after, "block_commit_seconds_count") - value(
        before, "block_commit_seconds_count") == blocks
    assert value(after, "block_txs_sum") - value(before, "block_txs_sum") == 5
    assert value(after, "block_commit_seconds_sum") > value(before, "block_commit_seconds_sum")
    assert value(after, "txs_failed_total", code="already_exists") == value(
        before, "txs_failed_total", code="already_exists")


async def test_failed_call_counts_with_its_code(client: httpx.AsyncClient,
                                                world: World) -> None:
    before = await scrape(client)
    r = world.node.submit(world.tx("admin", "identity", "register_org", {
        "id": "mill", "name": "Again", "roles": ["supplier"]})).result(30)
    assert not r.ok and r.error is not None and r.error["code"] == "already_exists"
    after = await scrape(client)
    assert value(after, "txs_failed_total", code="already_exists") == value(
        before, "txs_failed_total", code="already_exists") + 1
    assert value(after, "txs_committed_total") == value(before, "txs_committed_total") + 1


async def test_admission_refusals_count_by_code(client: httpx.AsyncClient,
                                                world: World) -> None:
    before = await scrape(client)
    forged = make_tx(world.keys["mill"], chain=CHAIN, contract="identity",
                     method="register_org", args={"id": "ex", "name": "X", "roles": ["supplier"]},
                     time_ms=wall_clock_ms(), nonce=1, signer=world.did("admin")).raw
    r = await client.post("/api/tx", content=forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    raw = world.tx("admin", "identity", "register_org", {"id": "why", "name": "Y",
                                                         "roles": ["supplier"]})
    assert world.node.submit(raw).result(30).ok
    replay = world.node.submit(raw).exception(30)
    assert replay is not None and replay.code == "replayed_tx"  # type: ignore[attr-defined]
    old = world.tx("admin", "identity", "register_org", {"id": "zed", "name": "Z",
                                                         "roles": ["supplier"]},
                   time_ms=wall_clock_ms() - 3_600_000)
    stale = world.node.submit(old).exception(30)
    assert stale is not None and stale.code == "stale_tx"  # type: ignore[attr-defined]
    after = await scrape(client)
    for code in ("invalid_signature", "replayed_tx", "stale_tx"):
        assert value(after, "txs_refused_total", code=code) == value(
            before, "txs_refused_total", code=code) + 1, code
    assert value(after, "txs_committed_total") == value(before, "txs_committed_total") + 1


async def test_remote_clients_need_an_admin_or_auditor_login(remote: httpx.AsyncClient,
                                                             world: World) -> None:
    r = await remote.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert "supplyledger_" not in r.text
    r = await remote.get("/metrics", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    r = await remote.get("/metrics", headers=await bearer(remote, "mill"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied"
    await scrape(remote, await bearer(remote, "admin"))
    await login(remote, "admin")  # a session cookie works as well
    await scrape(remote)


async def test_an_auditor_may_read_metrics(remote: httpx.AsyncClient, world: World) -> None:
    key = generate("ed25519")
    world.ok("admin", "identity", "register_org", {"id": "audit", "name": "Audit",
                                                   "roles": ["auditor"]})
    did = world.ok("admin", "identity", "register_member", {
        "org": "audit", "public_key": key.public.b64, "name": "Ann", "roles": ["auditor"]})
    world.service.accounts.create(did["did"], "ann", "ann-pass-123", key)
    r = await remote.post("/api/auth/token", json={"login": "ann", "password": "ann-pass-123"})
    await scrape(remote, {"Authorization": f"Bearer {r.json()['token']}"})
