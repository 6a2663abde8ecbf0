"""The node, its verifier processes and the audit relax the cyclic collector of their
process, never tighten it."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from supplyledger.node.audit import run_audit
from supplyledger.node.gc_policy import YOUNG_THRESHOLD, relax_gc
from supplyledger.store.sqlite import DB_NAME

from .conftest import Ledger


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_raises_the_young_threshold_and_keeps_the_others() -> None:
    gc.set_threshold(700, 11, 12)
    relax_gc()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


@pytest.mark.parametrize("young", [0, YOUNG_THRESHOLD * 2])
def test_leaves_a_disabled_or_higher_threshold_alone(young: int) -> None:
    gc.set_threshold(young, 10, 10)
    relax_gc()
    assert gc.get_threshold() == (young, 10, 10)


def test_a_starting_node_and_an_audit_relax_their_process(ledger: Ledger) -> None:
    gc.set_threshold(700, 10, 10)
    ledger.start().stop()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    gc.set_threshold(700, 10, 10)
    assert run_audit(ledger.dir, workers=0).ok
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_a_verifier_process_relaxes_its_own(ledger: Ledger) -> None:
    ledger.start().stop()  # the database the worker reads keys from
    # The worker's main returns when its stdin ends; its fd 1 then points at stderr.
    code = ("import gc, sys\n"
            "gc.set_threshold(700, 10, 10)\n"
            "from supplyledger.node.verifier import main\n"
            f"main([{str(ledger.dir / DB_NAME)!r}, '65536'])\n"
            "sys.stderr.write(repr(gc.get_threshold()))\n")
    r = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, check=True)
    assert r.stderr.endswith(repr((YOUNG_THRESHOLD, 10, 10)))
