"""The audit finds every kind of tampering and names the first bad place.

One ledger (identity transactions, ~200 EPCIS trace events, one role-denied call) is built
per module; each test copies its directory, tampers with the copy through sqlite3 and
audits it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.workload import epcis_event
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import AuditReport, run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.migrations import LOCAL_TABLES
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Keys

N_EVENTS = 200


@dataclass
class Built:
    dir: Path
    height: int
    txs: int
    member: str
    failed_tx: str  # the role-denied call
    h: int  # a block in the middle that holds trace events
    tx: str  # a trace tx in block h
    batch: str
    seq: int


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Built:
    d = tmp_path_factory.mktemp("audit") / "ledger"
    init_ledger(d, chain=CHAIN, time_ms=T0, node_password="pw",
                admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF)
    node = Node(Settings(d, block_max_txs=25, verify_workers=0), keys.rsa,
                clock=lambda: T0).start()
    admin, maker, mover = keys.admin, keys.ed[0], keys.rsa_b
    n = [0]

    def tx(key: Any, contract: str, method: str, args: dict[str, Any]) -> bytes:
        n[0] += 1
        return make_tx(key, chain=CHAIN, contract=contract, method=method, args=args,
                       time_ms=T0, nonce=n[0]).raw

    try:
        for raw in (
            tx(admin, "identity", "register_org",
               {"id": "acme", "name": "Acme", "roles": ["manufacturer", "transporter"]}),
            tx(admin, "identity", "register_member",
               {"org": "acme", "public_key": maker.public.b64, "name": "maker",
                "roles": ["manufacturer"]}),
            tx(admin, "identity", "register_member",
               {"org": "acme", "public_key": mover.public.b64, "name": "mover",
                "roles": ["transporter"]}),
        ):
            assert node.submit(raw).result(10).ok
        failed = node.submit(tx(mover, "identity", "register_org",
                                {"id": "xx", "name": "X", "roles": ["transporter"]})).result(10)
        assert not failed.ok
        rng = random.Random(7)
        # trace events need their batches registered (products contract) first
        assert node.submit(tx(maker, "products", "create_product",
                              {"gtin": "10614141073464", "name": "p"})).result(10).ok
        for i in range(10):
            assert node.submit(tx(maker, "products", "create_batch",
                                  {"gtin": "10614141073464", "lot": f"L{i}"})).result(10).ok
        futs = []
        for i in range(N_EVENTS):
            batch = f"urn:epc:class:lgtin:0614141.107346.L{i % 10}"
            futs.append(node.submit(tx(maker if i % 3 else mover, "trace", "record_event",
                                       {"batch": batch,
                                        "event": epcis_event(rng, batch, T0 + i)})))
        receipts = [f.result(10) for f in futs]
        assert all(r.ok for r in receipts), [r.error for r in receipts if not r.ok][:2]
    finally:
        node.stop()
    mid = receipts[N_EVENTS // 2]
    conn = sqlite3.connect(d / DB_NAME)
    try:
        height = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
        total = conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0]
    finally:
        conn.close()
    assert 1 < mid.height < height
    return Built(d, height, total, maker.did, failed.tx_id, mid.height, mid.tx_id,
                 mid.result["batch"], mid.result["seq"])


def tampered(built: Built, tmp_path: Path, edit: Callable[[sqlite3.Connection], Any]
             ) -> AuditReport:
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    conn = sqlite3.connect(d / DB_NAME)
    try:
        edit(conn)
        conn.commit()
    finally:
        conn.close()
    return run_audit(d)


def first(report: AuditReport) -> dict[str, Any]:
    assert report.ok is False
    assert report.findings, "ok is False but nothing is named"
    f: dict[str, Any] = report.to_dict()["findings"][0]
    return f


def names_row(row: str | None, *pk: Any) -> bool:
    """A finding's row names the primary key (one value as is, several all present)."""
    if row is None:
        return False
    if len(pk) == 1:
        return row == str(pk[0])
    return all(str(v) in row for v in pk)


def _blob(conn: sqlite3.Connection, sql: str, *params: Any) -> bytes:
    return bytes(conn.execute(sql, params).fetchone()[0])


# -- clean ------------------------------------------------------------------------------------

def test_clean_ledger_audits_ok(built: Built) -> None:
    report = run_audit(built.dir)
    assert report.ok, report.findings[:3]
    assert report.findings == []
    assert report.blocks == built.height + 1
    assert report.txs == built.txs == 1 + 4 + 11 + N_EVENTS  # + 1 product, 10 batches
    ledger_tables = {"blocks", "txs", "state", "meta",
                     *(t.name for t in all_tables(load_builtin()))}
    assert report.uncovered_tables, "local tables exist and must be listed"
    for entry in report.uncovered_tables:
        assert set(entry) == {"table", "reason"}
        assert entry["table"] in LOCAL_TABLES and entry["table"] not in ledger_tables
        assert entry["reason"] == LOCAL_TABLES[entry["table"]] and len(entry["reason"]) > 10
    # Every table in the file is either audited or listed with its reason.
    conn = sqlite3.connect(f"file:{built.dir / DB_NAME}?mode=ro", uri=True)
    try:
        names = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
    finally:
        conn.close()
    assert names == ledger_tables | {e["table"] for e in report.uncovered_tables}


def test_report_json_shape(built: Built, tmp_path: Path) -> None:
    report = tampered(built, tmp_path, lambda c: c.execute(
        "UPDATE meta SET value='x' WHERE key='chain'"))
    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) == {"ok", "blocks", "txs", "findings", "uncovered_tables"}
    assert d["ok"] is False and isinstance(d["blocks"], int) and isinstance(d["txs"], int)
    assert d["findings"]
    for f in d["findings"]:
        assert set(f) == {"kind", "height", "tx", "table", "row", "detail"}
        assert isinstance(f["kind"], str) and isinstance(f["detail"], str)
    for u in d["uncovered_tables"]:
        assert set(u) == {"table", "reason"}


# -- tamper kinds -----------------------------------------------------------------------------

def test_header_byte(built: Built, tmp_path: Path) -> None:
    h = built.h

    def edit(c: sqlite3.Connection) -> None:
        header = _blob(c, "SELECT header FROM blocks WHERE height=?", h)
        i = header.index(b'"tx_root":"') + len(b'"tx_root":"')
        flipped = b"1" if header[i:i + 1] != b"1" else b"2"
        c.execute("UPDATE blocks SET header=? WHERE height=?",
                  (header[:i] + flipped + header[i + 1:], h))

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["height"], f["table"], f["row"]) == ("block_hash", h, "blocks", str(h))


def test_unreadable_header(built: Built, tmp_path: Path) -> None:
    h = built.h

    def edit(c: sqlite3.Connection) -> None:
        header = _blob(c, "SELECT header FROM blocks WHERE height=?", h)
        c.execute("UPDATE blocks SET header=? WHERE height=?", (b"[" + header[1:], h))

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["height"], f["table"]) == ("header", h, "blocks")


def test_block_signature(built: Built, tmp_path: Path) -> None:
    h = built.h

    def edit(c: sqlite3.Connection) -> None:
        sig = bytearray(_blob(c, "SELECT signature FROM blocks WHERE height=?", h))
        sig[5] ^= 1
        c.execute("UPDATE blocks SET signature=? WHERE height=?", (bytes(sig), h))

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["height"], f["table"], f["row"]) == ("block_signature", h, "blocks",
                                                             str(h))


def test_tx_argument_changed(built: Built, tmp_path: Path) -> None:
    def edit(c: sqlite3.Connection) -> None:
        raw = _blob(c, "SELECT raw FROM txs WHERE id=?", built.tx)
        new = raw.replace(b'"action":"OBSERVE"', b'"action":"OBSERVF"')
        assert new != raw
        c.execute("UPDATE txs SET raw=? WHERE id=?", (new, built.tx))

    report = tampered(built, tmp_path, edit)
    f = first(report)
    assert (f["kind"], f["height"], f["table"]) == ("tx_root", built.h, "txs")
    # ... and a finding names the transaction's row.
    assert any(g.row == built.tx and g.height == built.h for g in report.findings)


def test_receipt_changed(built: Built, tmp_path: Path) -> None:
    def edit(c: sqlite3.Connection) -> None:
        rec = _blob(c, "SELECT receipt FROM txs WHERE id=?", built.tx)
        i = rec.index(b'"code":"') + len(b'"code":"')
        flipped = b"0" if rec[i:i + 1] != b"0" else b"1"
        c.execute("UPDATE txs SET receipt=? WHERE id=?", (rec[:i] + flipped + rec[i + 1:],
                                                          built.tx))

    report = tampered(built, tmp_path, edit)
    f = first(report)
    assert (f["kind"], f["height"], f["table"]) == ("receipts_root", built.h, "txs")
    assert any(g.kind == "receipt" and g.row == built.tx for g in report.findings)


def test_state_value_changed(built: Built, tmp_path: Path) -> None:
    key = f"trace/b/{built.batch}"

    def edit(c: sqlite3.Connection) -> None:
        v = json.loads(_blob(c, "SELECT value FROM state WHERE key=?", key))
        v["n"] += 1
        c.execute("UPDATE state SET value=? WHERE key=?",
                  (json.dumps(v, separators=(",", ":"), sort_keys=True).encode(), key))

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["table"]) == ("changed_row", "state") and names_row(f["row"], key)
    assert "value <" in f["detail"] and "bytes> stored" in f["detail"]


def test_trace_event_projection_changed(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "UPDATE trace_events SET biz_step='receiving' WHERE batch=? AND seq=?",
        (built.batch, built.seq))))
    assert (f["kind"], f["table"]) == ("changed_row", "trace_events")
    assert names_row(f["row"], built.batch, built.seq)
    # The finding names the edited column and both values; nothing else differs.
    assert f["detail"].endswith("biz_step 'shipping' in the blocks, 'receiving' stored"), f
    assert f["detail"].count(" in the blocks, ") == 1


def test_participant_projection_changed(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "UPDATE participants SET roles='admin' WHERE did=?", (built.member,))))
    assert (f["kind"], f["table"]) == ("changed_row", "participants")
    assert names_row(f["row"], built.member)


def test_tx_deleted(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute("DELETE FROM txs WHERE id=?",
                                                            (built.tx,))))
    assert (f["kind"], f["height"], f["table"]) == ("tx_count", built.h, "txs")


def test_state_row_deleted(built: Built, tmp_path: Path) -> None:
    key = f"trace/b/{built.batch}"
    f = first(tampered(built, tmp_path, lambda c: c.execute("DELETE FROM state WHERE key=?",
                                                            (key,))))
    assert (f["kind"], f["table"]) == ("missing_row", "state") and names_row(f["row"], key)


def test_projection_row_deleted(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "DELETE FROM trace_events WHERE batch=? AND seq=?", (built.batch, built.seq))))
    assert (f["kind"], f["table"]) == ("missing_row", "trace_events")
    assert names_row(f["row"], built.batch, built.seq)


def _forged_tx(keys: Keys, nonce: str) -> tuple[str, bytes]:
    tx = make_tx(keys.ed[0], chain=CHAIN, contract="trace", method="record_event",
                 args={"batch": "forged", "event": {"type": "ObjectEvent"}}, time_ms=T0,
                 nonce=nonce)
    return tx.id, tx.raw


def test_forged_tx_inserted_into_a_block(built: Built, tmp_path: Path, keys: Keys) -> None:
    tx_id, raw = _forged_tx(keys, "forged-1")  # correctly signed by a real member

    def edit(c: sqlite3.Connection) -> None:
        n = c.execute("SELECT COUNT(*) FROM txs WHERE height=?", (built.h,)).fetchone()[0]
        c.execute("INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?)",
                  ((built.h << 20) + n, tx_id, built.h, n, raw, keys.ed[0].did, "trace",
                   "record_event", 1, b'{"ok":true}'))

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["height"], f["table"]) == ("tx_count", built.h, "txs")


def test_forged_tx_outside_any_block(built: Built, tmp_path: Path, keys: Keys) -> None:
    tx_id, raw = _forged_tx(keys, "forged-2")
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?)",
        (10**6 << 20, tx_id, 10**6, 0, raw, keys.ed[0].did, "trace", "record_event", 1,
         b"{}"))))
    assert (f["kind"], f["table"], f["row"]) == ("extra_rows", "txs", tx_id)


def test_forged_state_row(built: Built, tmp_path: Path) -> None:
    key = "trace/b/forged-batch"
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "INSERT INTO state VALUES (?,?)", (key, b'{"code":"' + b"0" * 64 + b'","n":1}'))))
    assert (f["kind"], f["table"]) == ("extra_row", "state") and names_row(f["row"], key)


def test_forged_projection_row(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "INSERT INTO trace_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ("forged-batch", 1, built.tx, 0, built.h, "ObjectEvent", "shipping", "", "transport",
         "", built.member, "0" * 64, "", "", "", ""))))
    assert (f["kind"], f["table"]) == ("extra_row", "trace_events")
    assert names_row(f["row"], "forged-batch", 1)


def test_unknown_table(built: Built, tmp_path: Path) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(
        "CREATE TABLE shadow_ledger (id TEXT)")))
    assert (f["kind"], f["table"]) == ("unknown_table", "shadow_ledger")


@pytest.mark.parametrize(("sql", "key"), [
    ("UPDATE meta SET value='another-chain' WHERE key='chain'", "chain"),
    ("UPDATE meta SET value='" + "ab" * 32 + "' WHERE key='genesis'", "genesis"),
    ("INSERT INTO meta VALUES ('admin_override', '1')", "admin_override"),
])
def test_meta_edited(built: Built, tmp_path: Path, sql: str, key: str) -> None:
    f = first(tampered(built, tmp_path, lambda c: c.execute(sql)))
    assert (f["kind"], f["table"], f["row"]) == ("changed_row", "meta", key)


def test_tampering_is_found_only_on_the_copy(built: Built) -> None:
    assert run_audit(built.dir).ok  # the fixture's ledger stayed clean throughout


# -- known gaps -------------------------------------------------------------------------------

def test_failed_tx_marked_ok(built: Built, tmp_path: Path) -> None:
    report = tampered(built, tmp_path, lambda c: c.execute(
        "UPDATE txs SET ok=1 WHERE id=?", (built.failed_tx,)))
    f = first(report)
    assert f["table"] == "txs" and f["row"] == built.failed_tx


def test_block_time_column_edited(built: Built, tmp_path: Path) -> None:
    report = tampered(built, tmp_path, lambda c: c.execute(
        "UPDATE blocks SET time=time-86400000 WHERE height=?", (built.h,)))
    f = first(report)
    assert (f["table"], f["height"]) == ("blocks", built.h)


@pytest.mark.parametrize("damage", ["state_root_non_hex_byte", "time_as_string"])
def test_header_with_a_mistyped_field(built: Built, tmp_path: Path, damage: str) -> None:
    h = built.h

    def edit(c: sqlite3.Connection) -> None:
        header = _blob(c, "SELECT header FROM blocks WHERE height=?", h)
        if damage == "state_root_non_hex_byte":  # one byte, still valid JSON
            i = header.index(b'"state_root":"') + len(b'"state_root":"')
            new = header[:i] + b"g" + header[i + 1:]
        else:
            d = json.loads(header)
            d["time"] = str(d["time"])
            new = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        c.execute("UPDATE blocks SET header=? WHERE height=?", (new, h))

    f = first(tampered(built, tmp_path, edit))
    assert (f["height"], f["table"]) == (h, "blocks")


@pytest.mark.parametrize("field", ["time", "args"])
def test_tx_with_a_renamed_envelope_field(built: Built, tmp_path: Path, field: str) -> None:
    def edit(c: sqlite3.Connection) -> None:
        raw = _blob(c, "SELECT raw FROM txs WHERE id=?", built.tx)
        new = raw.replace(f'"{field}":'.encode(), f'"{field[:-1]}_":'.encode(), 1)
        assert new != raw
        c.execute("UPDATE txs SET raw=? WHERE id=?", (new, built.tx))

    f = first(tampered(built, tmp_path, edit))
    assert (f["height"], f["table"]) == (built.h, "txs")


@pytest.mark.parametrize("damage", ["not_json", "renamed_key"])
def test_damaged_genesis_document(built: Built, tmp_path: Path, damage: str) -> None:
    def edit(c: sqlite3.Connection) -> None:
        tx_id, raw = c.execute("SELECT id, raw FROM txs WHERE height=0").fetchone()
        raw = bytes(raw)
        new = raw[:-1] + b"x" if damage == "not_json" else raw.replace(b'"orgs"', b'"orgz"')
        c.execute("UPDATE txs SET raw=? WHERE id=?", (new, tx_id))

    f = first(tampered(built, tmp_path, edit))
    assert (f["height"], f["table"]) == (0, "txs")


def test_findings_about_a_tampered_tx_name_its_stored_row(built: Built,
                                                          tmp_path: Path) -> None:
    def edit(c: sqlite3.Connection) -> None:
        raw = _blob(c, "SELECT raw FROM txs WHERE id=?", built.tx)
        c.execute("UPDATE txs SET raw=? WHERE id=?",
                  (raw.replace(b'"action":"OBSERVE"', b'"action":"OBSERVF"'), built.tx))

    report = tampered(built, tmp_path, edit)
    named = {f.row for f in report.findings if f.table == "txs" and f.row is not None}
    conn = sqlite3.connect(f"file:{built.dir / DB_NAME}?mode=ro", uri=True)
    try:
        stored = {r[0] for r in conn.execute("SELECT id FROM txs")}
    finally:
        conn.close()
    assert built.tx in named
    assert named <= stored, named - stored


def test_tx_ids_are_sha256_of_stored_envelopes(built: Built) -> None:
    # Independent of the audit: what the node stored satisfies the id rule directly.
    conn = sqlite3.connect(f"file:{built.dir / DB_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, raw FROM txs WHERE height > 0").fetchall()
    finally:
        conn.close()
    assert len(rows) == built.txs - 1
    for tx_id, raw in rows:
        raw = bytes(raw)
        env = raw[len(b'{"env":'):raw.rindex(b',"sig":"')]
        assert hashlib.sha256(env).hexdigest() == tx_id


def test_a_ledger_emptied_of_everything_is_not_clean(built: Built, tmp_path: Path) -> None:
    def edit(c: sqlite3.Connection) -> None:
        for table in ("blocks", "txs", "state", "meta", *(t.name for t in all_tables(
                load_builtin()))):
            c.execute(f"DELETE FROM {table}")

    f = first(tampered(built, tmp_path, edit))
    assert (f["kind"], f["height"], f["table"]) == ("missing_block", 0, "blocks")
