"""Waiting for a ``supplyledger serve`` subprocess to answer HTTP, shared by the tests that
start one."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import httpx
import pytest


def wait_serving(proc: subprocess.Popen[Any], port: int, *, within_s: float = 180) -> None:
    """Return once ``/openapi.json`` answers on ``port``; fail the test with the process's
    output if it exits first or ``within_s`` pass (generous: CI machines may be busy)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).is_success:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"serve did not come up: {proc.communicate()!r}")
        time.sleep(0.2)
