"""Serving the API for tests: waiting for a ``supplyledger serve`` subprocess to answer
HTTP, or serving an app in a thread of the test process."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from supplyledger.ingest.broker import free_port


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


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on a free loopback port, for
    the tests that drive it with a browser or over the network: its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
