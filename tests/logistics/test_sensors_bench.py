"""bench-readings at a tiny scale: every batch commits and the planted excursions come out
as exactly the expected breaches, through the node directly and through mosquitto. (Speed
is the benchmark command's business, not the tests'.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from supplyledger.bench.readings import run_readings_bench

from ._sensors_world import need_mosquitto


@pytest.mark.parametrize("via", ["direct", "mqtt"])
def test_bench_readings_small(tmp_path: Path, via: str) -> None:
    if via == "mqtt":
        need_mosquitto()
    res = run_readings_bench(readings=6400, batch=100, devices=8, via=via,
                             data_dir=tmp_path, verify_workers=0)
    assert res["failed_batches"] == 0, res["first_error"]
    assert res["readings"] + res["warmup_batches"] * 100 == 6400
    assert res["breaches"] == res["breaches_expected"] == 1
    assert res["readings_per_s"] > 0 and res["latency_p99_ms"] >= res["latency_p50_ms"]
