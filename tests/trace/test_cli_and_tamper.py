"""CLI: ``trace``, ``recall`` and ``experiment tamper`` (paper 002 Table 2 from real
attempts)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.bench.flourmill import LINKS, FlourMill
from supplyledger.bench.tamper import STRATEGIES, run_tamper_experiment
from supplyledger.cli.main import app

from .conftest import sql


def test_trace_and_recall_commands(mill: FlourMill) -> None:
    c = mill.c
    runner = CliRunner()
    r = runner.invoke(app, ["trace", mill.flour, "--data", str(c.dir), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["events_total"] == 6 and doc["faulty_link"] is None
    r = runner.invoke(app, ["trace", mill.flour, "--data", str(c.dir), "--page", "2",
                            "--page-size", "4", "--json"])
    assert [e["link"] for e in json.loads(r.output)["events"]] == ["transport", "sales"]
    r = runner.invoke(app, ["trace", mill.flour, "--data", str(c.dir)])
    assert r.exit_code == 0 and "no faulty link" in r.output
    batch, seq = mill.events["processing"]
    sql(c, "UPDATE trace_events SET signer='did:sl:forged' WHERE batch=? AND seq=?",
        (batch, seq))
    r = runner.invoke(app, ["trace", mill.wheat, "--data", str(c.dir)])
    assert r.exit_code == 1 and "faulty link" in r.output and "processing" in r.output
    r = runner.invoke(app, ["recall", mill.wheat, "--data", str(c.dir), "--json"])
    assert r.exit_code == 0
    assert json.loads(r.output)["counts"]["lot"] == 2
    r = runner.invoke(app, ["recall", mill.wheat, "--data", str(c.dir)])
    assert r.exit_code == 0 and "shipment" in r.output
    r = runner.invoke(app, ["trace", "urn:epc:class:lgtin:0614141.107346.NONE", "--data",
                            str(c.dir)])
    assert r.exit_code == 2 and "no batch or traced object" in r.output


def test_tamper_experiment_counts_real_attempts(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = run_tamper_experiment(4)
    assert res["workdir"] is None and not any(tmp_path.iterdir())  # nothing left behind
    assert [r["link"] for r in res["links"]] == list(LINKS)
    for r in res["links"]:
        assert r["attempts"] == 4
        assert r["traditional_undetected"] == 4  # the plain database shows every forgery
        assert r["ledger_undetected"] == 0 and r["ledger_located"] == 4
        assert len(r["ledger_reasons"]) == len(STRATEGIES)


def test_tamper_command_json() -> None:
    r = CliRunner().invoke(app, ["experiment", "tamper", "--attempts", "2", "--json"])
    assert r.exit_code == 0, r.output
    links = json.loads(r.output)["links"]
    assert {k for k in links[0]} >= {"link", "attempts", "traditional_undetected",
                                     "ledger_undetected", "ledger_located"}


def test_bench_trace_command_small_ledger(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench-trace", "--events", "3000", "--doc-events", "1000",
                                 "--long-events", "300", "--runs", "5", "--import-docs", "2",
                                 "--data", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    # The fill, the 50-event genealogy and the long batch all landed, and every page of the
    # long batch was served whole and verified clean.
    assert res["ledger_events"] >= 3000 and res["genealogy_events"] == 50
    assert [p["events"] for p in res["long_batch_pages"]] == [50, 50, 50]
    assert all(p["faults"] == 0 for p in res["long_batch_pages"])
    assert res["import_events_per_s"] > 0 and res["import_one_doc_events_per_s"] > 0
    assert res["import_docs"] == 2 and res["trace_warm_ms"]["p99"] > 0
    again = CliRunner().invoke(app, ["bench-trace", "--data", str(tmp_path)])
    assert again.exit_code == 2 and "exists" in again.output
