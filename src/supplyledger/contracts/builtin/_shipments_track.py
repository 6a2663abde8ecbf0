"""Tracking a shipment: progress, ETA (paper 000 eq. 5) and lateness after each update.

This is the interface other contracts use to move a shipment from position readings (the
sensors contract calls :func:`apply_position` once per reading batch of a device bound to
a shipment). It writes with ``ctx.put_other("shipments", ...)`` so it behaves the same
whichever contract runs it, and emits ``shipment_tracked`` through ``ctx.emit``: the event
is named after the running contract (``shipments.shipment_tracked`` or
``sensors.shipment_tracked``) and both contracts register :func:`project_tracked` for it.

Why positions are lenient here: a device reports whatever it sees, and one stale or
unusable fix must not fail the whole reading batch that carried it. So a fix older than (or
as old as) the last one, a fix for a shipment that is not in transit, and a fix for a
shipment whose legs lack coordinates (private drop points) are ignored. The transporter's
own ``report_position`` method is strict and rejects those instead.

Every update is deterministic: the position is projected onto the legs at or after the
current one (float trigonometry rounded to whole metres, see logistics/eta.py) and, under
rules v2, not past the last one the vehicle can have reached since its last progress
(``eta.drive_ms``); the ETA is integer milliseconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from supplyledger.contracts.builtin._shipments_model import (
    compute_eta,
    eta_legs,
    has_geo,
    load,
    rules_v2,
    shipment_key,
    update_lateness,
)
from supplyledger.contracts.projection import EventMeta, Op, Update
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import ValidationError
from supplyledger.logistics.eta import GeoPoint, Progress, progress_from_position

__all__ = ["apply_position", "check_position", "is_stale", "move_to", "project_tracked",
           "shipment_key", "track"]

_LAT, _LON = 90_000_000, 180_000_000


def check_position(lat_e6: int, lon_e6: int) -> None:
    for name, v, bound in (("lat", lat_e6, _LAT), ("lon", lon_e6, _LON)):
        if type(v) is not int or not -bound <= v <= bound:
            raise ValidationError(f"{name} must be an integer within +-{bound} micro-degrees",
                                  arg=name)


def track(ctx: Ctx, s: dict[str, Any], cause: str, *, lat: int | None = None,
          lon: int | None = None) -> None:
    """Recompute ETA and lateness, store the shipment and emit ``shipment_tracked``."""
    s["eta"] = compute_eta(s, rules_v2(ctx))
    change = update_lateness(ctx, s)
    ctx.put_other("shipments", shipment_key(s["id"]), s)
    ctx.emit("shipment_tracked", shipment=s["id"], cause=cause, status=s["status"],
             leg=s["leg"], remaining_m=s["remaining_m"], at=s["at"], eta=s["eta"],
             late=s["late"], change=change, lat=lat, lon=lon)


def is_stale(s: dict[str, Any], at_ms: int) -> bool:
    """A fix not newer than the last one, or older than the progress it would replace (the
    departure or a leg arrival)."""
    return bool((s["pos_at"] is not None and at_ms <= s["pos_at"]) or at_ms < s["at"])


def move_to(ctx: Ctx, s: dict[str, Any], lat_e6: int, lon_e6: int, at_ms: int) -> None:
    """Project a fix onto the legs from the current one on (not an arrived one) and track
    the result."""
    legs = eta_legs(s["legs"])
    fix = GeoPoint(Decimal(lat_e6).scaleb(-6), Decimal(lon_e6).scaleb(-6))
    # Legs reported arrived are behind the vehicle: on an out-and-back route the return
    # leg lies on the arrived one, and matching the fix there would add a whole leg.
    first = min(max(s["leg"], s["done"]), len(legs) - 1)
    # Rules v2: nor a later leg further along than the vehicle can have driven since.
    reach = (Progress(s["leg"], s["remaining_m"]), at_ms - s["at"]) if rules_v2(ctx) else None
    progress = progress_from_position(legs, fix, from_leg=first, reach=reach)
    s["leg"], s["remaining_m"], s["at"], s["pos_at"] = (progress.leg_index,
                                                         progress.remaining_m, at_ms, at_ms)
    track(ctx, s, "position", lat=lat_e6, lon=lon_e6)


def apply_position(ctx: Ctx, shipment_id: str, lat_e6: int, lon_e6: int, at_ms: int) -> None:
    """A position reading for ``shipment_id`` at ``at_ms`` (epoch ms), in micro-degrees.

    Raises ``NotFound`` for an unknown shipment and ``ValidationError`` for a position out
    of range; ignores (writes nothing) a fix not newer than the last fix or older than the
    last departure/leg arrival, a shipment not in transit, or one whose legs have no
    coordinates.
    """
    check_position(lat_e6, lon_e6)
    s = load(ctx, shipment_id)
    if s["status"] != "in_transit" or not has_geo(s):
        return
    if is_stale(s, at_ms):
        return
    move_to(ctx, s, lat_e6, lon_e6, at_ms)


def project_tracked(e: dict[str, Any], m: EventMeta) -> list[Op]:
    """Projector for ``<contract>.shipment_tracked``: the shipment row's live columns."""
    values: list[tuple[str, Any]] = [
        ("status", e["status"]), ("leg", e["leg"]), ("remaining_m", e["remaining_m"]),
        ("eta", e["eta"]), ("late", e["late"]), ("tx", m.tx)]
    if e["lat"] is not None:
        values += [("lat", e["lat"]), ("lon", e["lon"]), ("pos_at", e["at"])]
    return [Update("shipments", (e["shipment"],), tuple(values))]
