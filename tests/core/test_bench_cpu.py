"""The benchmark's CPU readings: per process from /proc, per stage on one thread."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from supplyledger.bench.cpu import ProcessClock, stage_costs
from supplyledger.bench.workload import epcis_event
from supplyledger.contracts.registry import load_builtin
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.tx import make_tx

BUSY = """import sys, time
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
print("done", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_clock_charges_each_group_its_own_cpu() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    idle = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    procs = [busy, idle]
    try:
        clock = ProcessClock({"busy": [busy.pid], "idle": [idle.pid]})
        clock.start()
        assert busy.stdout is not None and busy.stdout.readline() == "done\n"
        got = clock.stop(per=1000)
        assert got is not None
        assert got["busy"] >= 250  # 0.3 s over 1000 units, read in 10 ms ticks
        assert got["idle"] < 100  # its start-up at most
        assert got["total"] == pytest.approx(got["busy"] + got["idle"], abs=0.2)
    finally:
        for p in procs:
            assert p.stdin is not None
            p.stdin.close()
            p.wait(timeout=10)
    assert clock.stop(per=1000) is None  # gone: no reading rather than a wrong one


def test_stage_costs_time_each_check_of_real_transactions() -> None:
    key = generate("ed25519")
    batch = "urn:epc:class:lgtin:0614141.107346.L1"
    raws = [make_tx(key, chain="c", contract="trace", method="record_event",
                    args={"batch": batch, "event": epcis_event(random.Random(i), batch, i)},
                    time_ms=1, nonce=i).raw for i in range(50)]
    costs = stage_costs(raws, {key.did: key.public}, load_builtin(), max_bytes=1 << 20)
    assert set(costs) == {"parse", "verify", "prepare"}
    assert min(costs.values()) > 0
