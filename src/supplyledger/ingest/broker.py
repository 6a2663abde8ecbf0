"""A local mosquitto broker for ``supplyledger serve --mqtt`` and the tests.

mosquitto comes from the Debian package ``mosquitto`` (``scripts/setup.sh`` installs it);
it is found on PATH or at /usr/sbin/mosquitto. The broker listens on a free loopback port
with a config generated in its own directory, logs to a file there, keeps nothing on disk
between runs (the ledger is the record; unacknowledged batches are resent by devices) and
is stopped with the process that started it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from supplyledger.errors import NodeError

__all__ = ["LocalBroker", "find_mosquitto", "free_port"]


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """``start()`` runs mosquitto on ``127.0.0.1:port`` and returns once it accepts
    connections; ``stop()`` terminates it."""

    def __init__(self, directory: Path, *, port: int | None = None,
                 binary: str | None = None) -> None:
        self.dir = Path(directory)
        self.port = port or free_port()
        self.binary = binary or find_mosquitto()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> LocalBroker:
        if self.binary is None:
            raise NodeError("mosquitto is not installed: install the Debian package "
                            "mosquitto (bash scripts/setup.sh does), or pass --mqtt-url URL")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        # Loopback only, anonymous and no persistence: batches are signed by devices and
        # receipts by the node, and a batch without a genuine receipt is simply resent.
        # Packets are bounded well above any transaction a node takes (64 KiB by
        # default), so no client can make the broker buffer arbitrary amounts.
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\nlog_dest stderr\nlog_type error\n"
                        "log_type warning\nmax_inflight_messages 1000\n"
                        "max_queued_messages 100000\nmax_packet_size 4194304\n")
        with (self.dir / "mosquitto.log").open("ab") as log:
            self._proc = subprocess.Popen([self.binary, "-c", str(conf)],
                                          stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.dir / "mosquitto.log").read_text(errors="replace")[-500:]
                raise NodeError(f"mosquitto exited at start (code {self._proc.returncode}): "
                                f"{tail.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NodeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
