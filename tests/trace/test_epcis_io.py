"""EPCIS 2.0 capture and export: the OpenEPCIS documents accepted and round-tripped (hash ids
unchanged), the invalid ones rejected with a reason, and capture all-or-nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _rules import up_to
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.cli.main import app
from supplyledger.epcis import parse_document, validate_document
from supplyledger.errors import AlreadyExists, EPCISValidationError, NotFound
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.bootstrap import init_ledger, write_key
from supplyledger.node.epcis_ingest import (
    capture_document,
    capture_tx,
    export_document,
    load_document,
)
from supplyledger.store.sqlite import SQLiteStore

from .conftest import T0, sql

DATA = Path(__file__).parents[3] / "shared" / "data" / "epcis" / "openepcis"
VALID = sorted((DATA / "valid").glob("*.json"))
INVALID = sorted((DATA / "invalid").glob("*.json"))
pytestmark = pytest.mark.skipif(not VALID, reason="OpenEPCIS documents not present")


def _capture_all(c: Consortium, files: list[Path]) -> tuple[list[tuple[Path, Any]],
                                                             dict[str, AlreadyExists]]:
    c.org("acme", ["warehouse"])
    who = c.member("importer", "acme", ["warehouse"])
    caps, refused = [], {}
    for f in files:
        try:
            caps.append((f, capture_document(c.node, load_document(f), who.key)))
        except AlreadyExists as exc:
            refused[f.name] = exc
    return caps, refused


def _round_trip(c: Consortium, caps: list[tuple[Path, Any]]) -> None:
    store = SQLiteStore(c.dir)
    try:
        for f, cap in caps:
            original = parse_document(load_document(f)).events
            assert cap.events == len(original)
            # each event is stored with its CBV 2.0 hash id ...
            stored = [r[12] for r in store.trace_rows_of_tx(cap.tx)]
            assert stored == [e.hash_id for e in original], f.name
            # ... all of a document's events are in one block ...
            assert {r[4] for r in store.trace_rows_of_tx(cap.tx)} == {cap.height}
            # ... and export gives a valid document with the same events
            out = export_document(store, tx=cap.tx)
            validate_document(out)
            assert [e.hash_id for e in parse_document(out).events] == stored, f.name
    finally:
        store.close()


@pytest.fixture
def v5_consortium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Consortium]:
    """Ledgers under trace rules v5: many samples declare wrong an event none of them holds,
    which v6 refuses (tests/trace/test_review21_trace_v6.py)."""
    monkeypatch.setattr(consortium, "init_ledger",
                        partial(init_ledger, contracts=up_to("trace", 5)))
    c = Consortium(tmp_path / "ledger", clock=lambda: T0, max_tx_bytes=8 << 20)
    yield c
    c.stop()


def test_all_valid_documents_captured_and_round_trip(v5_consortium: Consortium,
                                                     tmp_path: Path) -> None:
    assert len(VALID) == 38
    # Some samples repeat an earlier sample's event (with a comment, a Digital Link): an
    # event is recorded once, so those documents are refused whole on the same ledger ...
    seen: set[tuple[str, bool]] = set()
    repeats = set()
    for f in VALID:
        ids = [(e.hash_id, "errorDeclaration" in e.raw)
               for e in parse_document(load_document(f)).events]
        if seen.intersection(ids):
            repeats.add(f.name)
        seen.update(ids)
    assert "ObjectEvent_with_comment.json" in repeats
    caps, refused = _capture_all(v5_consortium, VALID)
    assert set(refused) == repeats
    assert all("already recorded" in e.message for e in refused.values())
    _round_trip(v5_consortium, caps)
    # ... and captured on ledgers that do not hold them yet (two repeat one sample)
    pending = set(refused)
    for n in range(3):
        other = Consortium(tmp_path / f"l{n}", clock=lambda: T0, max_tx_bytes=8 << 20)
        try:
            caps, refused = _capture_all(other, [f for f in VALID if f.name in pending])
            assert caps
            _round_trip(other, caps)
        finally:
            other.stop()
        pending = set(refused)
        if not pending:
            break
    assert not pending


def test_current_rules_refuse_only_repeats_and_declarations_of_unknown_events(
        consortium: Consortium) -> None:
    # Under trace rules v6 an error declaration must declare an event the ledger holds.
    # Captured in order on one ledger, a sample is refused whole when it repeats an earlier
    # sample's event, or declares wrong an event no earlier accepted sample recorded (no
    # sample declares another's event wrong); every other sample is taken.
    c = consortium
    c.org("acme", ["warehouse"])
    who = c.member("importer", "acme", ["warehouse"])
    held: set[str] = set()
    taken, unknown = [], []
    for f in VALID:
        events = parse_document(load_document(f)).events
        declares = [e.hash_id for e in events if "errorDeclaration" in e.raw]
        try:
            capture_document(c.node, load_document(f), who.key)
        except AlreadyExists:
            assert held.intersection(e.hash_id for e in events), f.name
            continue
        except EPCISValidationError as exc:
            codes = {e["code"] for e in exc.errors}
            assert codes <= {NotFound.code, AlreadyExists.code}, (f.name, exc.errors)
            assert NotFound.code in codes and not held.issuperset(declares), f.name
            unknown.append(f.name)
            continue
        taken.append(f.name)
        held.update(e.hash_id for e in events)
    assert unknown and len(taken) > len(VALID) // 2, (unknown, taken)


def test_invalid_documents_rejected_with_reason(mill: FlourMill) -> None:
    # The importer checks the document's envelope, the ledger's prepare step every event:
    # either way the capture raises with a reason per problem and records no event.
    c, shop = mill.c, mill.parties["shop"]
    assert len(INVALID) == 15
    before = sql(c, "SELECT COUNT(*) FROM trace_events")[0][0]
    for path in INVALID:
        with pytest.raises(EPCISValidationError) as info:
            capture_document(c.node, load_document(path), shop.key)
        assert info.value.errors and all(e["reason"] for e in info.value.errors), path.name
    assert sql(c, "SELECT COUNT(*) FROM trace_events")[0][0] == before


def test_envelope_refused_before_signing() -> None:
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "1.2", "epcisBody": {"eventList": []}}
    with pytest.raises(EPCISValidationError) as info:
        capture_tx(doc, generate("ed25519"), chain="c", time_ms=T0)
    reasons = [e["reason"] for e in info.value.errors]
    assert any("schemaVersion" in r for r in reasons)
    assert any("creationDate" in r for r in reasons)


def test_capture_is_all_or_nothing(mill: FlourMill) -> None:
    c, p = mill.c, mill.parties
    before = sql(c, "SELECT COUNT(*) FROM trace_events")[0][0]
    # the shop holds the flour, not the wheat (the mill does): event 1 is refused
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": [
               object_event("2020-01-01T00:00:00Z", "storing", "active", mill.flour, qty=5),
               object_event("2020-01-01T00:00:01Z", "storing", "active", mill.wheat),
               object_event("2020-01-01T00:00:02Z", "storing", "active", mill.flour)]}}
    with pytest.raises(EPCISValidationError) as info:
        capture_document(c.node, doc, p["shop"].key)
    assert [(e["event"], e["code"]) for e in info.value.errors] == [(1, "forbidden")]
    assert sql(c, "SELECT COUNT(*) FROM trace_events")[0][0] == before
    del doc["epcisBody"]["eventList"][1]
    cap = capture_document(c.node, doc, p["shop"].key)
    assert (cap.events, cap.subjects) == (2, 1)
    store = SQLiteStore(c.dir)
    try:
        exported = export_document(store, batch=mill.flour)
    finally:
        store.close()
    assert len(exported["epcisBody"]["eventList"]) == 6
    assert exported["epcisBody"]["eventList"][-1]["quantityList"][0]["epcClass"] == mill.flour


def test_cli_import_and_export(mill: FlourMill, tmp_path: Path) -> None:
    c = mill.c
    keyfile = tmp_path / "shop.key"
    write_key(keyfile, mill.parties["shop"].key, "pw", KdfParams(n=2**10))
    c.stop()  # the CLI runs its own node on the directory
    env = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node"}
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2020-01-01T00:00:00Z",
        "epcisBody": {"eventList": [object_event("2020-01-02T00:00:00Z", "storing",
                                                 "active", mill.flour, qty=2.5)]}}))
    runner = CliRunner()
    r = runner.invoke(app, ["epcis", "import", str(doc), "--data", str(c.dir), "--key",
                            str(keyfile), "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["events"] == 1
    out = tmp_path / "out.json"
    r = runner.invoke(app, ["epcis", "export", "--batch", mill.flour, "--data", str(c.dir),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    events = json.loads(out.read_text())["epcisBody"]["eventList"]
    assert events[-1]["quantityList"][0]["quantity"] == 2.5  # numbers survive exactly
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "EPCISDocument"}))
    r = runner.invoke(app, ["epcis", "import", str(bad), "--data", str(c.dir), "--key",
                            str(keyfile)], env=env)
    assert r.exit_code == 1 and "refused" in r.output


def test_cli_imports_several_files_each_atomically(mill: FlourMill, tmp_path: Path) -> None:
    c = mill.c
    keyfile = tmp_path / "shop.key"
    write_key(keyfile, mill.parties["shop"].key, "pw", KdfParams(n=2**10))
    before = sql(c, "SELECT COUNT(*) FROM trace_events")[0][0]
    c.stop()
    env = {**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "pw", "SUPPLYLEDGER_NODE_PASSWORD": "node"}

    def doc(minute: int, *batches: str) -> str:  # distinct times: distinct events
        return json.dumps({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": [
                object_event(f"2020-01-02T00:{minute:02d}:0{i}Z", "storing", "active", b)
                for i, b in enumerate(batches)]}})

    files = []
    # the shop holds the flour, not the wheat: the second file is refused whole
    for name, text in (("a.json", doc(1, mill.flour, mill.flour)),
                       ("b.json", doc(2, mill.flour, mill.wheat)),
                       ("c.json", "{not json"), ("d.json", doc(4, mill.flour))):
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    r = CliRunner().invoke(app, ["epcis", "import", *files, "--data", str(c.dir), "--key",
                                 str(keyfile), "--json"], env=env)
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert [(f["file"], f["ok"]) for f in out["files"]] == [
        ("a.json", True), ("b.json", False), ("c.json", False), ("d.json", True)]
    assert out["files"][1]["code"] == "epcis_invalid"
    assert [e["event"] for e in out["files"][1]["errors"]] == [1]
    assert out["events"] == 3
    store = SQLiteStore(c.dir)
    try:
        assert store.reader().execute(
            "SELECT COUNT(*) FROM trace_events").fetchone()[0] == before + 3
    finally:
        store.close()


def test_nan_and_infinity_are_not_json() -> None:
    for text in ('{"type": "EPCISDocument", "x": NaN}', '[{"quantity": Infinity}]'):
        with pytest.raises(EPCISValidationError, match="not a JSON number"):
            load_document(text)
