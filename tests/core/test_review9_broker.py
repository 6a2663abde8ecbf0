"""Review 9: the broker's password file under concurrent writers (two ``mqtt-enroll`` at
once, or one while ``serve --mqtt`` starts its broker): no login may be lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supplyledger.ingest import broker
from supplyledger.ingest.broker import (
    BRIDGE_USER,
    GATEWAY_USER,
    LocalBroker,
    enroll_device,
    revoke_device,
)


def _users(directory: Path) -> set[str]:
    return {ln.split(":", 1)[0] for ln in (directory / "passwd").read_text().splitlines()}


def test_concurrent_enrolments_and_a_broker_start_lose_no_login(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_hash = broker.mosquitto_hash

    def slow_hash(password: str, *, iterations: int = 101) -> str:
        time.sleep(0.05)  # widens the read-modify-write window every writer has
        return real_hash(password, iterations=iterations)

    monkeypatch.setattr(broker, "mosquitto_hash", slow_hash)
    d = tmp_path / "mosquitto"
    dids = [f"did:sl:{i:040x}" for i in range(6)]
    enroll_device(d, dids[0])
    errors: list[BaseException] = []

    def job(fn: Callable[..., object], *args: object) -> threading.Thread:
        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:
                errors.append(exc)
        return threading.Thread(target=run)

    jobs = [job(enroll_device, d, did) for did in dids[1:]]
    jobs += [job(revoke_device, d, dids[0]), job(LocalBroker(d, port=1)._write_config)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    assert errors == []
    assert _users(d) == {did[len("did:sl:"):] for did in dids[1:]} | {BRIDGE_USER,
                                                                      GATEWAY_USER}
    assert not list(d.glob("*.tmp"))
