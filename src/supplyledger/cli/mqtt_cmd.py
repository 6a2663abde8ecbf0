"""``supplyledger mqtt-enroll``: issue or revoke a device's login for the local MQTT broker.

Only a device the ledger knows (``sensors.register_device``) and whose participant is
active gets a login; a revoked one can still have its login removed (a running node does
that itself, :mod:`supplyledger.ingest.login_watch`).

The password is printed once and stored only hashed (mosquitto's PBKDF2-SHA512 format) in
``DIR/mosquitto/passwd``, which ``serve --mqtt`` hands to its broker; a broker already
running from DIR rereads it at once (see :mod:`supplyledger.ingest.broker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from supplyledger.cli.common import console, fail, handle_errors

__all__ = ["mqtt_enroll"]


@handle_errors
def mqtt_enroll(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory.")],
    device: Annotated[str, typer.Option(help="The device's id (did:sl:...).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove its login instead.")] = False,
) -> None:
    """Issue a device's MQTT password (printed once; the node keeps only its hash)."""
    from supplyledger.ingest.broker import device_user, enroll_device, revoke_device

    broker_dir = data / "mosquitto"
    if revoke:
        if not revoke_device(broker_dir, device):
            fail(f"{device} has no MQTT login")
        console.print(f"MQTT login of {device} removed")
        return
    _require_device(data, device)
    pw = enroll_device(broker_dir, device)
    # soft_wrap: the password and URL are shown once, so no line break may land inside them.
    console.print(f"MQTT login for {device}: user [bold]{device_user(device)}[/], "
                  f"password [bold]{pw}[/] (shown once), e.g. "
                  f"mqtt://{device_user(device)}:{pw}@HOST:PORT; it may publish only to "
                  f"supplyledger/devices/{device}/readings and read only .../receipts",
                  soft_wrap=True)


def _require_device(data: Path, device: str) -> None:
    from supplyledger.contracts.builtin._sensors_model import device_key
    from supplyledger.errors import NotFound
    from supplyledger.ingest.login_watch import login_refusal
    from supplyledger.store.readonly import open_readonly, state_value

    try:
        conn = open_readonly(data)
    except NotFound:
        fail(f"no ledger in {data}")
    try:
        known = state_value(conn, f"sensors/{device_key(device)}") is not None
        refusal = login_refusal(conn, device) if known else None
    finally:
        conn.close()
    if not known:
        fail(f"{device} is not a device of this ledger: register it with "
             "sensors.register_device first")
    if refusal is not None:
        fail(f"{refusal}: a revoked device gets no MQTT login")
