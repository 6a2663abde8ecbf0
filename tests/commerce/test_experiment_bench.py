"""The throughput experiment (paper 001 Tables 3-4) and the order-lifecycle benchmark, at
small sizes: equations, JSON shape, a ledger that audits clean, no personal data on it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.bench.orders import STEPS, run_orders_bench
from supplyledger.bench.throughput import PAPER, latency, overhead_pct, run_throughput, throughput
from supplyledger.cli.main import app
from supplyledger.node.audit import run_audit
from supplyledger.store.sqlite import DB_NAME


def test_the_papers_equations_on_its_own_tables() -> None:
    base, rsa = PAPER["table3"], PAPER["table4"]
    # Latency by eq. 7 reproduces the paper's figures; throughput by eq. 6 does not.
    assert round(latency(base), 5) == 0.00151 and round(latency(rsa), 5) == 0.00402
    assert round(throughput(base), 2) == 16.92 and round(throughput(rsa), 2) == 16.23
    assert round(overhead_pct(throughput(base), throughput(rsa)), 2) == 4.19
    assert latency([(10, 1.0, 3.0), (20, 2.0, 2.0)]) == pytest.approx(0.1)
    assert throughput([(10, 1.0, 2.0), (30, 1.0, 3.0)]) == pytest.approx(7.5)


def test_throughput_experiment_runs_both_arms(tmp_path: Path) -> None:
    res = run_throughput(sizes=(6, 10), repeat=2, data_dir=tmp_path)
    assert [(r["n"], r["rsa"], r["trial"]) for r in res["runs"]] == [
        (6, False, 1), (6, True, 1), (10, True, 1), (10, False, 1),
        (6, True, 2), (6, False, 2), (10, False, 2), (10, True, 2)]
    for r in res["runs"]:
        assert 0 < r["submission_s"] <= r["execution_s"]
    assert set(res["throughput_tps"]) == set(res["latency_s"]) == {"baseline", "rsa"}
    assert res["throughput_tps"]["baseline"] > 0 and res["latency_s"]["rsa"] >= 0
    assert isinstance(res["overhead_pct"], float)
    json.dumps(res)
    d = tmp_path / "ledger"
    assert run_audit(d).ok
    # The RSA arm put commitments on the ledger, never the customer's data.
    conn = sqlite3.connect(d / DB_NAME)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for t in tables for row in conn.execute(f"SELECT * FROM {t}") for v in row)
    finally:
        conn.close()
    assert "customer_data" in dump and "commitment" in dump
    assert "Example Street" not in dump and "Customer 1" not in dump


def test_throughput_cli_json(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["experiment", "throughput", "--json", "--sizes", "4",
                                   "--repeat", "1", "--data", str(tmp_path)])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert {"runs", "throughput_tps", "latency_s", "overhead_pct"} <= set(doc)
    assert doc["runs"][0]["n"] == 4
    bad = CliRunner().invoke(app, ["experiment", "throughput", "--sizes", "x"])
    assert bad.exit_code == 2


def test_orders_bench_completes_lifecycles(tmp_path: Path) -> None:
    res = run_orders_bench(lifecycles=60, window=25, buyers=3, sellers=2, carriers=2,
                           data_dir=tmp_path)
    assert res["failed"] == 0 and res["first_error"] is None
    assert res["txs"] == 60 * len(STEPS) and res["lifecycles_per_s"] > 0
    assert res["executor_only_lifecycles_per_s"] > 0
    report = run_audit(tmp_path / "ledger")
    assert report.ok, report.findings[:3]
