"""Every JSON endpoint and its error codes. Rejections are checked on the ledger file: a
refused request leaves the height and every state row as they were."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

import httpx
import pytest

from supplyledger.ledger.crypto import generate
from supplyledger.ledger.proofs import verify_proof
from supplyledger.ledger.tx import make_tx
from supplyledger.node.service import wall_clock_ms
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, World, bearer, login

pytestmark = pytest.mark.anyio


async def test_openapi_lists_every_api_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = set(doc["paths"])
    for p in ("/api/auth/login", "/api/auth/token", "/api/tx", "/api/tx/{tx_id}/proof",
              "/api/contracts/{contract}/{method}", "/api/blocks", "/api/participants",
              "/api/organisations", "/api/trace/events", "/api/trace", "/api/recall",
              "/api/state/{key}", "/api/audit", "/api/events", "/api/tables/{name}"):
        assert p in paths, p
    assert not any(p.startswith(("/explorer", "/trace", "/login")) for p in paths)


async def test_contract_catalogue_has_every_method(client: httpx.AsyncClient,
                                                   world: World) -> None:
    b = await bearer(client, "mill")
    items = (await client.get("/api/contracts", headers=b)).json()["items"]
    got = {(c["name"], m["method"]) for c in items for m in c["methods"]}
    want = {(n, m) for n, c in world.service.contracts.items() for m in c.methods}
    assert got == want
    one = (await client.get("/api/contracts/identity", headers=b)).json()
    reg = next(m for m in one["methods"] if m["method"] == "register_org")
    assert reg["roles"] == ["admin"] and "id" in reg["args"]["required"]
    assert (await client.get("/api/contracts/nope", headers=b)).status_code == 404


async def test_call_commits_and_refusals_change_nothing(client: httpx.AsyncClient,
                                                        world: World) -> None:
    b = await bearer(client, "admin")
    before = world.snapshot()
    cases = [
        ("identity", "register_org", {"id": "x"}, 422, "validation_error"),
        ("identity", "register_org", {"id": "ok-org", "name": "n", "roles": ["wizard"]}, 422,
         "validation_error"),
        ("identity", "no_such", {}, 404, "unknown_method"),
        ("nope", "x", {}, 404, "unknown_contract"),
    ]
    for contract, method, args, status, code in cases:
        r = await client.post(f"/api/contracts/{contract}/{method}", json=args, headers=b)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    m = await bearer(client, "mill")
    r = await client.post("/api/contracts/identity/register_org", headers=m,
                          json={"id": "evil", "name": "Evil", "roles": ["admin"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied"
    assert world.snapshot() == before
    r = await client.post("/api/contracts/identity/register_org", headers=b,
                          json={"id": "newco", "name": "NewCo", "roles": ["supplier"]})
    assert r.status_code == 200 and r.json()["receipt"]["ok"] is True
    # A contract-level refusal is recorded with its receipt (and writes no state).
    height, state = world.snapshot()
    r = await client.post("/api/contracts/identity/register_org", headers=b,
                          json={"id": "newco", "name": "NewCo", "roles": ["supplier"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_exists"
    assert r.json()["receipt"]["ok"] is False
    assert world.snapshot() == (height + 1, state)


async def test_self_signed_transactions(client: httpx.AsyncClient, world: World) -> None:
    good = world.tx("mill", "products", "create_product",
                    {"gtin": "06901234000030", "name": "Bran"})
    r = await client.post("/api/tx", content=good)
    assert r.status_code == 200, r.text
    assert r.json()["receipt"]["ok"]
    before = world.snapshot()
    r = await client.post("/api/tx", content=good)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "replayed_tx")
    stranger = make_tx(generate("ed25519"), chain=CHAIN, contract="trace",
                       method="record_event", args={"batch": "b", "event": {}},
                       time_ms=wall_clock_ms(), nonce=1).raw
    forged = make_tx(generate("ed25519"), chain=CHAIN, contract="identity", method="revoke",
                     args={"did": world.did("mill"), "reason": "x"}, time_ms=wall_clock_ms(),
                     nonce=2, signer=world.did("mill")).raw
    checks = [
        (b"not json at all", 400, None),
        (b'{"env": {}, "sig": ""}', 422, "validation_error"),
        (stranger, 401, "unknown_signer"),
        (forged, 401, "invalid_signature"),
        (world.tx("mill", "products", "create_product", {"gtin": "1", "name": "x"},
                  chain="other"), 422, "wrong_chain"),
        (world.tx("mill", "products", "create_product", {"gtin": "1", "name": "x"},
                  time_ms=wall_clock_ms() - 3_600_000), 422, "stale_tx"),
        (b"x" * 70_000, 413, "payload_too_large"),
    ]
    for raw, status, code in checks:
        r = await client.post("/api/tx", content=raw)
        assert r.status_code == status, (raw[:40], r.text)
        if code:
            assert r.json()["error"]["code"] == code
    assert world.snapshot() == before


async def test_oversized_bodies_are_refused_before_reading(client: httpx.AsyncClient) -> None:
    b = await bearer(client, "admin")
    r = await client.post("/api/contracts/identity/register_org", headers=b,
                          content=b"{" + b" " * 300_000 + b"}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_blocks_and_transactions_paginate(client: httpx.AsyncClient,
                                                world: World) -> None:
    b = await bearer(client, "inspector")
    seen: list[int] = []
    cursor = None
    while True:
        url = "/api/blocks?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=b)).json()
        seen += [x["height"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(world.node.height, -1, -1))
    txs = (await client.get("/api/tx?limit=3&contract=identity", headers=b)).json()
    assert len(txs["items"]) == 3 and txs["next_cursor"]
    assert all(t["contract"] == "identity" for t in txs["items"])
    more = (await client.get(f"/api/tx?limit=3&contract=identity&cursor={txs['next_cursor']}",
                             headers=b)).json()
    assert not {t["id"] for t in more["items"]} & {t["id"] for t in txs["items"]}
    for bad in ("/api/blocks?limit=0", "/api/blocks?limit=501", "/api/blocks?cursor=zzz",
                "/api/tx?cursor=WzFd", "/api/tx?height=-1"):
        r = await client.get(bad, headers=b)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "validation_error"


async def test_block_tx_receipt_proof_and_state(client: httpx.AsyncClient,
                                                world: World) -> None:
    b = await bearer(client, "inspector")
    h = world.node.height
    blk = (await client.get(f"/api/blocks/{h}", headers=b)).json()
    assert blk["height"] == h and blk["txs"]
    tx_id = blk["txs"][0]["id"]
    tx = (await client.get(f"/api/tx/{tx_id}", headers=b)).json()
    assert tx["envelope"]["contract"] == "trace" and tx["receipt"]["ok"]
    rec = (await client.get(f"/api/tx/{tx_id}/receipt", headers=b)).json()
    assert rec["height"] == h and rec["ok"]
    proof = (await client.get(f"/api/tx/{tx_id}/proof", headers=b)).json()
    assert verify_proof(proof).tx_id == tx_id
    receipts = (await client.get("/api/receipts?limit=2&ok=true", headers=b)).json()
    assert all(x["ok"] for x in receipts["items"])
    assert (await client.get(f"/api/blocks/{h + 100}", headers=b)).status_code == 404
    assert (await client.get("/api/tx/" + "0" * 64, headers=b)).status_code == 404
    assert (await client.get("/api/tx/" + "0" * 64 + "/proof", headers=b)).status_code == 404
    assert (await client.get("/api/tx/nothex", headers=b)).status_code == 422
    org = (await client.get("/api/state/identity/o/qa", headers=b)).json()
    assert org["value"]["roles"] == ["inspector"]
    assert (await client.get("/api/state/identity/o/none", headers=b)).status_code == 404
    keys = (await client.get("/api/state?prefix=identity/o/&limit=2", headers=b)).json()
    assert len(keys["items"]) == 2 and keys["next_cursor"]
    st = (await client.get("/api/status", headers=b)).json()
    assert st["chain"] == CHAIN and st["height"] == h


async def test_participants_organisations_and_tables(client: httpx.AsyncClient,
                                                    world: World) -> None:
    b = await bearer(client, "driver")
    ps = (await client.get("/api/participants?role=inspector", headers=b)).json()["items"]
    assert [p["did"] for p in ps] == [world.did("inspector")]
    ps = (await client.get("/api/participants?org=mill", headers=b)).json()["items"]
    assert [p["did"] for p in ps] == [world.did("mill")]
    one = (await client.get(f"/api/participants/{world.did('mill')}", headers=b)).json()
    assert one["org"] == "mill"
    orgs = (await client.get("/api/organisations?role=settlement", headers=b)).json()
    assert [o["id"] for o in orgs["items"]] == ["bank", "consortium"]
    tables = (await client.get("/api/tables", headers=b)).json()["items"]
    assert {"participants", "trace_events"} <= {t["name"] for t in tables}
    rows = (await client.get("/api/tables/batches?lot=L20260101", headers=b)).json()
    assert [r["id"] for r in rows["items"]] == [world.batch]
    assert (await client.get("/api/tables/nope", headers=b)).status_code == 404
    r = await client.get("/api/tables/batches?colour=red", headers=b)
    assert r.status_code == 422
    ev = (await client.get(f"/api/trace/events?batch={quote(world.batch)}",
                           headers=b)).json()
    assert [e["seq"] for e in ev["items"]] == [1]


async def test_trace_and_recall(client: httpx.AsyncClient, world: World) -> None:
    b = await bearer(client, "customer")
    t = (await client.get("/api/trace?batch=L20260101", headers=b)).json()
    assert t["batch"] == world.batch and t["faulty_link"] is None
    assert t["events"][0]["proof"]["verified"] is True
    r = (await client.get(f"/api/recall?batch={quote(world.batch)}", headers=b)).json()
    assert r["affected"][0]["id"] == world.batch
    r = await client.get("/api/trace?batch=NOPE", headers=b)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/trace", headers=b)).status_code == 422


async def test_audit_runs_and_catches_an_edited_row(client: httpx.AsyncClient,
                                                    world: World) -> None:
    h = await login(client, "inspector")
    assert (await client.get("/api/audit")).json() is None
    r = await client.post("/api/audit", headers=h)  # submissions wait while it runs
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_denied"
    assert (await client.get("/api/audit")).json() is None
    client.cookies.clear()
    h = await login(client, "admin")
    report = (await client.post("/api/audit", headers=h)).json()
    assert report["ok"] and report["blocks"] == world.node.height + 1
    assert {u["table"] for u in report["uncovered_tables"]} >= {"local_accounts",
                                                                 "local_sessions"}
    conn = sqlite3.connect(world.dir / DB_NAME)
    conn.execute("UPDATE trace_events SET disposition='damaged'")
    conn.commit()
    conn.close()
    report = (await client.post("/api/audit", headers=h)).json()
    assert not report["ok"]
    assert any(f["table"] == "trace_events" for f in report["findings"])
    assert (await client.get("/api/audit")).json()["ok"] is False
    assert (await client.post("/api/audit")).status_code == 403  # cookie without CSRF


async def test_server_sent_events_resume_from_a_height(client: httpx.AsyncClient,
                                                       world: World) -> None:
    b = await bearer(client, "mill")
    r = await client.get("/api/events?from_height=0&max_events=3", headers=b)
    assert r.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in r.text.splitlines() if line.startswith("id: ")]
    assert ids == [0, 1, 2]
    assert "event: block" in r.text
    r = await client.get("/api/events?max_events=2", headers={**b, "Last-Event-ID": "4"})
    ids = [int(line[4:]) for line in r.text.splitlines() if line.startswith("id: ")]
    assert ids == [5, 6]
    assert (await client.get("/api/events?from_height=-1", headers=b)).status_code == 422
