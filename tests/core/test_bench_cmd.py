"""`supplyledger bench` end to end at a small size: every pre-signed transaction commits,
the figures it reports are consistent, its ledger audits clean, and it leaves nothing
behind but the ledger it was asked to keep. (Its speed is reported, never asserted.)"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.node.audit import run_audit
from supplyledger.store.sqlite import DB_NAME


def test_bench_commits_everything_and_its_ledger_audits_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    r = CliRunner().invoke(app, ["bench", "--txs", "500", "--sig", "ed25519",
                                 "--data", str(tmp_path / "b"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert (res["txs"], res["sig"], res["errors"]) == (500, "ed25519", 0)
    assert res["latency_txs"] == 1000 and 0 < res["p50_ms"] <= res["p99_ms"]
    assert res["ratio"] == pytest.approx(res["tps"] / res["limit_tps"], abs=1e-3)
    cpu = res["cpu_us_per_tx"]  # read from /proc: 10 ms ticks, so only the sum is sure
    assert set(cpu) == {"main", "commit", "verifiers", "total"}
    assert min(cpu.values()) >= 0 and cpu["total"] > 0
    assert cpu["total"] == pytest.approx(cpu["main"] + cpu["commit"] + cpu["verifiers"],
                                         abs=0.2)
    assert set(res["stage_us_per_tx"]) == {"parse", "verify", "prepare"}
    assert min(res["stage_us_per_tx"].values()) > 0
    ledger = Path(res["data_dir"])
    assert ledger == tmp_path / "b" / "ledger"
    conn = sqlite3.connect(ledger / DB_NAME)
    try:
        (events,) = conn.execute("SELECT COUNT(*) FROM trace_events").fetchone()
    finally:
        conn.close()
    assert events >= 1500  # the saturated and the half-load phases, all committed
    assert run_audit(ledger).ok
    assert not any(scratch.iterdir())  # the limit's scratch databases are gone


def test_bench_without_data_removes_its_ledger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import supplyledger.bench.ledger as bench

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    during: list[Path] = []
    limit = bench.measure_limit

    def measure(*a: Any, **k: Any) -> float:  # mid-run: where the ledger is
        during.extend(scratch.glob("sl-bench-*/ledger/" + DB_NAME))
        return limit(*a, **k)
    monkeypatch.setattr(bench, "measure_limit", measure)
    r = CliRunner().invoke(app, ["bench", "--txs", "200", "--sig", "ed25519"],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "removed (pass --data DIR to keep it for audit)" in r.stdout
    assert len(during) == 1  # the ledger was in the temporary directory...
    assert not any(scratch.iterdir())  # ...and is gone with it
    r = CliRunner().invoke(app, ["bench", "--txs", "200", "--sig", "ed25519", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data_dir"] is None
    assert not any(scratch.iterdir())
