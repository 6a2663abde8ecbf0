"""Device logins follow the ledger: a device revoked there loses its broker login at once.

``identity.revoke`` stops a device's batches at admission, but its MQTT login (issued by
``supplyledger mqtt-enroll``, :mod:`~supplyledger.ingest.broker`) would let it keep
publishing into the broker. :class:`LoginWatch` removes the login of every device whose
participant record is no longer active, which also ends its live session. Design decisions:

* **Committed state is the source of truth**, not events: each pass reads the password
  file's device users and their records (``identity/p/<did>``) through a read-only
  connection beside the node (WAL). So the watch needs nothing inside the node, and a
  pass run before the broker starts removes the logins of devices revoked while no broker
  ran. A key rotation is not a revocation: the login belongs to the device id.
* **When.** A pass every ``interval`` s (the cost is one point read per enrolled device),
  or at once on :meth:`LoginWatch.notify`, which fits a node's ``on_block`` listener.
* **How the session ends.** Removal is :func:`~supplyledger.ingest.broker.revoke_devices`:
  the lines go under the password file's lock, then one SIGHUP. mosquitto 2.0 (Debian's
  2.0.11, see tests/logistics/test_device_revoke.py) re-authenticates every connected
  client on that reload and disconnects those whose login vanished; their reconnects are
  refused. No listener restart or dynamic-security "kick" is needed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.errors import NotFound
from supplyledger.ingest.broker import device_users, revoke_devices
from supplyledger.ledger.encoding import decode
from supplyledger.store.readonly import open_readonly, state_value

__all__ = ["LoginWatch", "login_refusal"]

_log = logging.getLogger(__name__)


def login_refusal(conn: sqlite3.Connection, did: str) -> str | None:
    """Why ``did`` may not hold a broker login on the ledger behind ``conn``, or None."""
    raw = state_value(conn, f"identity/{participant_key(did)}")
    if raw is None:
        return f"{did} is not a participant of this ledger"
    status = decode(raw).get("status")
    return None if status == "active" else f"{did} is {status} on the ledger"


class LoginWatch:
    """Keeps the device logins in ``broker_dir`` to the active participants of the ledger
    in ``data_dir``. ``check()`` is one pass; ``start()`` runs passes on a thread."""

    def __init__(self, data_dir: Path, broker_dir: Path, *, interval: float = 0.5) -> None:
        self.data_dir, self.broker_dir, self.interval = Path(data_dir), Path(broker_dir), \
            interval
        self.removed: list[str] = []  # every device id whose login it took away
        self._conn: sqlite3.Connection | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> list[str]:
        """Remove the logins of devices not active on the ledger; their ids. Without a
        ledger in ``data_dir`` (a broker for another node's devices) it does nothing."""
        dids = device_users(self.broker_dir)
        if not dids:
            return []
        if self._conn is None:
            try:
                self._conn = open_readonly(self.data_dir)
            except NotFound:
                return []
        conn = self._conn
        gone = revoke_devices(self.broker_dir,
                              [d for d in dids if login_refusal(conn, d) is not None])
        self.removed.extend(gone)
        return gone

    def notify(self, _height: int = 0) -> None:
        """Run a pass now (e.g. ``node.on_block(watch.notify)``); never blocks."""
        self._wake.set()

    def start(self) -> LoginWatch:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sl-logins")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.check()
            except (OSError, sqlite3.Error) as exc:  # passes go on: the next may succeed
                _log.warning("device login check failed: %s", exc)
