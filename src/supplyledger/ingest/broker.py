"""A local mosquitto broker for ``supplyledger serve --mqtt`` and the tests, with logins.

mosquitto comes from the Debian package ``mosquitto`` (``scripts/setup.sh`` installs it);
it is found on PATH or at /usr/sbin/mosquitto. The broker listens on a free loopback port
with a config generated in its own directory, logs to a file there, keeps no messages on
disk between runs (the ledger is the record; unacknowledged batches are resent by
devices) and is stopped with the process that started it.

Integrity never depends on the broker (batches are signed by devices, receipts by the
node), but an open broker lets anyone flood a device's topic or read every receipt. So it
runs with ``allow_anonymous false``, a password file and an ACL file. Design decisions:

* **Logins.** A device's MQTT user name is the 40 hex digits of its DID
  (``did:sl:<hex>``): mosquitto's password file splits on ``:``, so the DID itself cannot
  be a user name, and the ACL rebuilds the topic as ``did:sl:%u``. ``pattern`` ACLs then
  let each device write only ``supplyledger/devices/did:sl:<its hex>/readings`` and read
  only its own ``.../receipts``. The bridge (``supplyledger-bridge``) reads every readings
  topic and writes receipts; the gateway (``supplyledger-gateway``) writes every readings
  topic and reads every receipt, for one connection carrying many devices (the
  benchmark's load generator). Neither can be a device name (not 40 hex digits).
* **Device passwords** are issued by :func:`enroll_device` (``supplyledger mqtt-enroll``):
  32 random bytes, URL-safe, shown once and stored only as mosquitto's own PBKDF2-SHA512
  hash (``$7$``, what ``mosquitto_passwd`` writes; written here so no password is ever on
  a command line) in ``passwd``, which persists in the broker directory (0600). The
  bridge and gateway passwords are random per :class:`LocalBroker` object and their lines
  are rewritten at each start: the node hands them to its bridge in memory.
* Every read-modify-write of ``passwd`` holds an flock on ``passwd.lock``, so concurrent
  enrolments and a broker start never drop each other's lines.
* A running broker rereads both files on SIGHUP: the broker records its pid in
  ``mosquitto.pid``, so enrolling or revoking a device from another process takes effect
  at once. On that reload mosquitto 2.0 (Debian's 2.0.11) checks every connected client
  against the new password file and disconnects those that no longer log in, so removing
  a login also ends the device's live session; clients whose line is unchanged stay
  connected (tests/logistics/test_device_revoke.py checks both with the real broker).
  :mod:`~supplyledger.ingest.login_watch` removes the logins of devices revoked on the
  ledger.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from supplyledger.errors import NodeError, ValidationError

__all__ = ["BRIDGE_USER", "GATEWAY_USER", "LocalBroker", "MqttLogin", "device_user",
           "device_users", "enroll_device", "find_mosquitto", "free_port",
           "mosquitto_hash", "revoke_device", "revoke_devices"]

BRIDGE_USER = "supplyledger-bridge"
GATEWAY_USER = "supplyledger-gateway"
_DEVICE_DID = re.compile(r"did:sl:([0-9a-f]{40})")
_ACL = f"""# written by supplyledger (ingest/broker.py) at each start
user {BRIDGE_USER}
topic read supplyledger/devices/+/readings
topic write supplyledger/devices/+/receipts

user {GATEWAY_USER}
topic write supplyledger/devices/+/readings
topic read supplyledger/devices/+/receipts

# every device: its own topics only
pattern write supplyledger/devices/did:sl:%u/readings
pattern read supplyledger/devices/did:sl:%u/receipts
"""


@dataclass(frozen=True)
class MqttLogin:
    user: str
    password: str

    def url(self, host: str, port: int) -> str:
        return f"mqtt://{quote(self.user, safe='')}:{quote(self.password, safe='')}" \
               f"@{host}:{port}"


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def device_user(did: str) -> str:
    """The MQTT user name of device ``did``."""
    m = _DEVICE_DID.fullmatch(did)
    if m is None:
        raise ValidationError(f"{did!r} is not a device id (did:sl: and 40 hex digits)",
                              arg="device")
    return m.group(1)


def mosquitto_hash(password: str, *, iterations: int = 101) -> str:
    """A password hash in mosquitto 2's format (PBKDF2-SHA512, 12-byte salt), as
    ``mosquitto_passwd`` writes it (101 iterations is its default)."""
    salt = os.urandom(12)
    dk = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def _read_passwd(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = (ln.split(":", 1) for ln in path.read_text().splitlines() if ":" in ln)
    return {user: hashed for user, hashed in lines}


@contextlib.contextmanager
def _passwd_locked(directory: Path) -> Iterator[Path]:
    """Hold ``passwd``'s writer lock (an flock on ``passwd.lock``) for a read-modify-write:
    two enrolments at once, or one while a broker starts and rewrites its own lines,
    would otherwise each write back what they read and lose the other's login."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / "passwd.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory / "passwd"
    finally:
        os.close(fd)


def _write_passwd(path: Path, entries: dict[str, str]) -> None:
    """Atomically: mosquitto may reread the file at any moment (SIGHUP)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{u}:{h}\n" for u, h in entries.items()))
    os.replace(tmp, path)


def _reload(directory: Path) -> bool:
    """SIGHUP the broker running from ``directory`` (if any): it rereads passwd and acl."""
    try:
        pid = int((directory / "mosquitto.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    # only our mosquitto: the pid file may be stale and the pid reused
    if str(directory / "mosquitto.conf").encode() not in cmdline:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def enroll_device(directory: Path, did: str) -> str:
    """Issue (or replace) the MQTT password of device ``did`` for the broker in
    ``directory``; only its hash is stored. Returns the password, to give to the device."""
    user = device_user(did)
    password = secrets.token_urlsafe(32)
    with _passwd_locked(Path(directory)) as path:
        entries = _read_passwd(path)
        entries[user] = mosquitto_hash(password)
        _write_passwd(path, entries)
    _reload(Path(directory))
    return password


def device_users(directory: Path) -> list[str]:
    """The device ids that have a login in ``directory``'s password file."""
    users = _read_passwd(Path(directory) / "passwd")  # replaced atomically: no lock needed
    return [f"did:sl:{u}" for u in users if _DEVICE_DID.fullmatch(f"did:sl:{u}")]


def revoke_devices(directory: Path, dids: list[str]) -> list[str]:
    """Remove the MQTT logins of ``dids`` (one rewrite, one reload); those that had one.
    The reload also disconnects their live sessions (see the module docstring)."""
    users = {device_user(did): did for did in dids}
    with _passwd_locked(Path(directory)) as path:
        entries = _read_passwd(path)
        gone = [did for user, did in users.items() if entries.pop(user, None) is not None]
        if gone:
            _write_passwd(path, entries)
    if gone:
        _reload(Path(directory))
    return gone


def revoke_device(directory: Path, did: str) -> bool:
    """Remove the MQTT login of ``did`` and drop its session; False if it had none."""
    return bool(revoke_devices(directory, [did]))


class LocalBroker:
    """``start()`` runs mosquitto on ``127.0.0.1:port`` and returns once it accepts
    connections; ``stop()`` terminates it. ``bridge_url`` and ``gateway_url`` carry the
    logins of this object (the same across restarts); ``url`` has none (refused)."""

    def __init__(self, directory: Path, *, port: int | None = None,
                 binary: str | None = None) -> None:
        self.dir = Path(directory)
        self.port = port or free_port()
        self.binary = binary or find_mosquitto()
        self.bridge = MqttLogin(BRIDGE_USER, secrets.token_urlsafe(32))
        self.gateway = MqttLogin(GATEWAY_USER, secrets.token_urlsafe(32))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def bridge_url(self) -> str:
        return self.bridge.url("127.0.0.1", self.port)

    @property
    def gateway_url(self) -> str:
        return self.gateway.url("127.0.0.1", self.port)

    def enroll(self, did: str) -> str:
        """:func:`enroll_device` here; the URL device ``did`` connects with."""
        return MqttLogin(device_user(did), enroll_device(self.dir, did)).url(
            "127.0.0.1", self.port)

    def _write_config(self) -> Path:
        with _passwd_locked(self.dir) as path:
            entries = _read_passwd(path)
            for login in (self.bridge, self.gateway):
                entries[login.user] = mosquitto_hash(login.password)
            _write_passwd(path, entries)
        (self.dir / "acl").write_text(_ACL)
        conf = self.dir / "mosquitto.conf"
        # Loopback only and no persistence: batches are signed by devices and receipts by
        # the node, and a batch without a genuine receipt is simply resent. Packets are
        # bounded well above any transaction a node takes (64 KiB by default), so no
        # client can make the broker buffer arbitrary amounts. ``user``: run as root,
        # mosquitto would switch to the user "mosquitto", which cannot read passwd (0600).
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
                        f"password_file {self.dir / 'passwd'}\nacl_file {self.dir / 'acl'}\n"
                        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                        "persistence false\nlog_dest stderr\nlog_type error\n"
                        "log_type warning\nmax_inflight_messages 1000\n"
                        "max_queued_messages 100000\nmax_packet_size 4194304\n")
        return conf

    def start(self, timeout: float = 10.0) -> LocalBroker:
        if self.binary is None:
            raise NodeError("mosquitto is not installed: install the Debian package "
                            "mosquitto (bash scripts/setup.sh does), or pass --mqtt-url URL")
        conf = self._write_config()
        with (self.dir / "mosquitto.log").open("ab") as log:
            self._proc = subprocess.Popen([self.binary, "-c", str(conf)],
                                          stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        (self.dir / "mosquitto.pid").write_text(str(self._proc.pid))
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
        with contextlib.suppress(OSError):
            (self.dir / "mosquitto.pid").unlink()
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
