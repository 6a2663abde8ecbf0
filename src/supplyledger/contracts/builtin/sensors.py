"""sensors — IoT devices, signed reading batches and cold-chain rules (paper 000 eq. 6).

A device is an identity participant with role ``device`` (an admin registers it in the
identity contract, as every member). ``register_device`` enrols it here; ``bind`` attaches it
to a shipment (which must exist in the shipments contract), a container (SSCC) or a batch,
with the batches it watches: only an admin, the shipment's transporter or whoever owns or
holds every watched batch may bind. ``set_rule`` sets a product's rule (its owner) or a
batch's (the batch owner; it overrides the product's): a temperature and a humidity band
with allowed excursion time, a shock ceiling and a geofence (see ``_sensors_rules``). A
batch an order reserves stays held to the rule it was sold under: its own rule may only be
tightened and a product-rule change reaches it only if it tightens the product rule of the
sale (see ``_sensors_reserved``).

``record`` is signed by the device itself: ``{seq, readings}`` with ``seq`` exactly one more
than its last batch and readings later than any it recorded before and not before its
binding (they would concern other goods), so a replayed, duplicated or reordered batch is
refused with a specific error and nothing is written. Rules v2 and later (new ledgers
start at the newest, ``rules.adopt`` moves older ones) also refuse readings taken after the
bound shipment was delivered or closed: the goods are no longer the carrier's (v1 took
them, and a breach then held the order's payout). The
rules of the watched batches are evaluated deterministically in the body; an excursion
becomes a ``breach`` (state, event and ``sensor_breaches`` rows, one per marked batch) that
trace shows as the faulty link and that holds the order's automatic payout
(:func:`hold_on_breach`). An open breach whose rule stops applying (replaced by a batch's
own, or without that check) ends at its last out-of-range reading, as on unbind. A batch
bound to a shipment also moves the shipment: its last position goes to the shipments
contract once per batch. A device watches at most 64 batches: binding a larger shipment
names the ones it watches.

Rules v3 and later: a logger bound to a shipment watches only batches the shipment
carries (its own list or its orders' lots), so whoever owns some other batch
cannot bind a logger to a stranger's shipment and move its position, ETA and lateness; a
participant with role ``device`` may sign readings only, not bind, unbind or set rules for
its organisation (a logger's key, easy to lift from the hardware, must not widen the rule
it is measured against nor detach itself); and on ``unbind`` an excursion the device saw
start but never saw end lasts, for its allowance, until the unbind (or the end of the bound
shipment, if earlier): longer than allowed, it is a breach, instead of vanishing with the
binding.

Rules v4 (new ledgers start on it): the allowance is the batch's, not the logger's. Each
watched batch keeps the excursion open on it (``sensors/w/{batch}``, see
``_sensors_allowance``), and every logger watching the batch goes on with it: it starts at
the first reading out of range and ends at the first reading back in range, whichever
logger takes them, so unbinding and binding a logger again, or swapping loggers, no longer
restarts the allowance; the time between counts. An unbind still counts an unseen end
until the unbind (as v3), but leaves the excursion on the batch for its next reading to go
on with or end.

Rules v5 (new ledgers start on it): ``set_rule`` refuses a temperature band narrower than
0.1 °C or a humidity band narrower than 1 %RH (``validation_error`` naming the band, its
width and the minimum; see ``_sensors_rules.MIN_BAND``): up to v4 a band a few milli-°C wide
was taken, and every logger's rounding made it an excursion. A breach found under v5 records
the version of its rule it was judged against (``rule_version`` in its state, its ``breach``
event and its ``sensor_breaches`` rows): the band it recorded is that version's, whatever
the rule says now. Breaches recorded before leave it empty. A ``record`` batch with a
reading after its transaction's own signed time is refused before execution too (same
error and words; v1 to v4 record it as a failed transaction).

Each batch is kept as a summary row (``sensor_batches``); the readings themselves stay in
the signed transaction and export as an EPCIS 2.0 ObjectEvent (:func:`readings_to_epcis`).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._sensors_allowance import record_batches, unbind_batches
from supplyledger.contracts.builtin._sensors_breaches import (
    close_pending,
    end_excursions,
    hold_on_breach,
    live_excursions,
    open_breach,
    update_breach,
)
from supplyledger.contracts.builtin._sensors_epcis import readings_to_epcis
from supplyledger.contracts.builtin._sensors_model import (
    MAX_READINGS,
    READINGS,
    batch_rule_key,
    device_key,
    prepare_record,
    product_rule_key,
)
from supplyledger.contracts.builtin._sensors_reserved import (
    carry_over,
    check_batch_rule,
    group_rules,
    version_key,
)
from supplyledger.contracts.builtin._sensors_rules import (
    RULE_ARGS,
    breach_reason,
    check_band_widths,
    evaluate,
    prepare_rule,
)
from supplyledger.contracts.builtin._sensors_tables import TABLES, project
from supplyledger.contracts.builtin._shipments_track import (
    apply_position,
    project_tracked,
    shipment_key,
)
from supplyledger.contracts.builtin.custody import holding_key, holds
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Enum, Int, List, Str
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.gs1 import canonical_digital_link, validate_sscc

__all__ = ["CONTRACT", "MAX_READINGS", "breach_reason", "hold_on_breach", "readings_to_epcis"]

_DID = Str(max_len=128, doc="participant id of the device")
_MAX_WATCHED = 64
_SHIPMENT_DONE = ("delivered", "closed")


def _not_a_device(ctx: Ctx, what: str) -> None:
    """Rules v3: a device's key signs readings, nothing its organisation decides."""
    if ctx.version >= 3 and ctx.has_role("device") and not ctx.has_role("admin"):
        raise Forbidden(f"a device signs reading batches only: a member of its organisation "
                        f"{what}", signer=ctx.signer)


def _shipment_end(sh: dict[str, Any] | None) -> int | None:
    """When shipment ``sh`` ended (delivered or closed), or None while it goes on."""
    if sh is None or sh["status"] not in _SHIPMENT_DONE:
        return None
    # Shipments rules v1 kept no end time: arrival, or the last progress, bounds it.
    return int(sh.get("ended") or (sh["arrived"] if sh["arrived"] is not None else sh["at"]))


def _carried(ctx: Ctx, s: dict[str, Any], batches: list[str]) -> None:
    """Rules v3: refuse a watched batch that shipment ``s`` does not carry (in its batch
    list or the lot of one of its orders): the logger's positions move the shipment."""
    carried = set(s.get("batches") or [])
    for line in s["orders"]:
        o = ctx.read("orders", f"o/{line['order']}")
        if o is not None and o.get("batch"):
            carried.add(o["batch"])
    for b in batches:
        if b not in carried:
            raise ValidationError(f"shipment {s['id']} does not carry batch {b}: a logger "
                                  "bound to a shipment watches only its goods (bind it to "
                                  "the batch instead)", arg="batches")


def _device(ctx: Ctx, did: str) -> dict[str, Any]:
    d = ctx.get(device_key(did))
    if d is None:
        raise NotFound(f"unknown device {did}: register it with sensors.register_device")
    return d  # type: ignore[no-any-return]


def _carries(ctx: Ctx, s: dict[str, Any] | None, batches: list[str],
             holdings: list[dict[str, Any]]) -> bool:
    """The signer, transporter of shipment ``s``, carries every batch: in its custody, or
    the batch of an order on the shipment assigned to it."""
    if s is None:
        return False
    assigned = set()
    for line in s["orders"]:
        o = ctx.read("orders", f"o/{line['order']}")
        if o is not None and o.get("transporter") == ctx.signer and o.get("batch"):
            assigned.add(o["batch"])
    return all(b in assigned or h["custodian"] == ctx.signer
               for b, h in zip(batches, holdings, strict=True))


@method(roles=ANY_PARTICIPANT, args={
    "device": _DID, "name": Str(optional=True, max_len=200),
    "model": Str(optional=True, max_len=200, doc="make/model/firmware, for people"),
}, errors=(NotFound, Forbidden, AlreadyExists, InvalidState))
def register_device(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Enrol a registered participant with role device: an admin or its organisation."""
    did = a["device"]
    p = ctx.read("identity", participant_key(did))
    if p is None:
        raise NotFound(f"no participant {did}: an admin registers the device first")
    if "device" not in p["roles"] or p["status"] != "active":
        raise InvalidState(f"participant {did} is not an active device (roles "
                           f"{','.join(p['roles'])}, {p['status']})", current=p["status"])
    if not ctx.has_role("admin") and (ctx.org != p["org"] or ctx.has_role("device")):
        raise Forbidden(f"only an admin or a member of {p['org']} may enrol its devices")
    if ctx.exists(device_key(did)):
        raise AlreadyExists(f"device {did} is already registered")
    d = {"did": did, "org": p["org"], "name": a.get("name", p["name"]),
         "model": a.get("model", ""), "bind": None, "seq": 0, "last_t": -1, "ex": {},
         "groups": {}, "since": ctx.time}
    ctx.put(device_key(did), d)
    ctx.emit("device_registered", did=did, org=p["org"], name=d["name"], model=d["model"])
    return {"device": did}


def _prepare_bind(a: dict[str, Any]) -> dict[str, Any]:
    target, kind = a["target"], a["kind"]
    batches = [canonical_digital_link(b) or b for b in a.get("batches", [])]
    if kind == "batch":
        target = canonical_digital_link(target) or target
        batches = [target, *batches]
    elif kind == "container":
        dl = canonical_digital_link(target)
        target = dl if dl and dl.startswith("https://id.gs1.org/00/") else (
            "https://id.gs1.org/00/" + validate_sscc(target))
        if not batches:
            raise ValidationError("a container binding names the batches inside it",
                                  arg="batches")
    return {**a, "target": target, "batches": list(dict.fromkeys(batches))}


@method(roles=ANY_PARTICIPANT, prepare=_prepare_bind, args={
    "device": _DID, "kind": Enum(values=("shipment", "container", "batch")),
    "target": Str(max_len=300, doc="shipment id, SSCC (or its EPC) or batch id"),
    "batches": List(optional=True, item=Str(max_len=300), max_items=_MAX_WATCHED,
                    doc="batches the device watches (a shipment's own by default)"),
}, errors=(NotFound, Forbidden, InvalidState, ValidationError))
def bind(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Attach a device to a shipment, container or batch: an admin, the owner or custodian
    of every watched batch, or the shipment's transporter for the goods it carries (batches
    in its custody or of orders on the shipment that name it): a carrier's logger must not
    mark, and so hold the payouts of, goods it never carried. Rules v3: a shipment's logger
    watches only batches the shipment carries; a device may not bind."""
    _not_a_device(ctx, "binds it")
    d = _device(ctx, a["device"])
    if d["bind"] is not None:
        raise InvalidState(f"device {d['did']} is bound to {d['bind']['kind']} "
                           f"{d['bind']['target']}: unbind it first", current="bound")
    batches, shipment, carrier, s = a["batches"], None, None, None
    if a["kind"] == "shipment":
        s = ctx.read("shipments", shipment_key(a["target"]))
        if s is None:
            raise NotFound(f"no shipment {a['target']}")
        if s["status"] in _SHIPMENT_DONE:
            raise InvalidState(f"shipment {s['id']} is {s['status']}", current=s["status"])
        if not batches and len(s.get("batches") or []) > _MAX_WATCHED:
            # Watching only some of them silently would leave the rest unmarked by breaches.
            raise ValidationError(f"shipment {s['id']} carries {len(s['batches'])} batches; "
                                  f"a device watches at most {_MAX_WATCHED}: name them in "
                                  "batches (and bind more loggers)", arg="batches")
        if ctx.version >= 3:
            _carried(ctx, s, batches)
        batches = batches or list(s.get("batches") or [])
        shipment, carrier = s["id"], s["transporter"]
    holdings = []
    for b in batches:
        h = ctx.read("custody", holding_key(b))
        if h is None:
            raise NotFound(f"no batch {b}")
        holdings.append(h)
    if not (ctx.has_role("admin") or (holdings and all(holds(ctx, h) for h in holdings))
            or (ctx.signer == carrier and _carries(ctx, s, batches, holdings))):
        raise Forbidden("only an admin, the owner or custodian of every watched batch, or "
                        "the shipment's transporter for goods it carries may bind a device")
    binding = {"kind": a["kind"], "target": a["target"], "batches": batches,
               "shipment": shipment, "by": ctx.signer, "since": ctx.time}
    d["bind"], d["ex"], d["groups"] = binding, {}, {}
    ctx.put(device_key(d["did"]), d)
    ctx.emit("bound", device=d["did"], **binding)
    return {"device": d["did"], "batches": batches, "shipment": shipment}


@method(roles=ANY_PARTICIPANT, args={"device": _DID,
                                     "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState))
def unbind(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Detach a device: whoever bound it, an admin, or a holder of its watched batches.
    Breaches still open end at the device's last reading. Rules v3: not the device itself;
    an excursion not yet past its allowance counts until now (or until the bound shipment
    ended, if earlier), and becomes a breach if that is longer than allowed. Rules v4: the
    excursion stays open on the batch; its next reading, from any logger, goes on with it
    (out of range) or ends it (back in range)."""
    _not_a_device(ctx, "unbinds it")
    d = _device(ctx, a["device"])
    b = d["bind"]
    if b is None:
        raise InvalidState(f"device {d['did']} is not bound", current="unbound")
    holders = [ctx.read("custody", holding_key(x)) for x in b["batches"]]
    if not (ctx.has_role("admin") or ctx.signer == b["by"]
            or (holders and all(h is not None and holds(ctx, h) for h in holders))):
        raise Forbidden(f"device {d['did']} was bound by {b['by']}")
    if ctx.version >= 3:
        sh = ctx.read("shipments", shipment_key(b["shipment"])) if b["shipment"] else None
        end = _shipment_end(sh)
        until = ctx.time if end is None else min(ctx.time, end)
        if ctx.version >= 4:  # the batches keep their excursions (_sensors_allowance)
            unbind_batches(ctx, d, b["batches"], group_rules(ctx, b["batches"]), until)
        else:
            close_pending(ctx, d, group_rules(ctx, b["batches"]), until)
    for ex in d["ex"].values():  # none left under rules v4
        end_excursions(ctx, ex)
    d["bind"], d["ex"], d["groups"] = None, {}, {}
    ctx.put(device_key(d["did"]), d)
    ctx.emit("unbound", device=d["did"], reason=a.get("reason", ""))
    return {"device": d["did"], "bound": False}


@method(roles=ANY_PARTICIPANT, prepare=prepare_rule, args=RULE_ARGS,
        errors=(NotFound, Forbidden, InvalidState, ValidationError),
        admit=(5, lambda _signer, r, _version, _time: check_band_widths(r)))
def set_rule(ctx: Ctx, r: dict[str, Any]) -> dict[str, Any]:
    """Set the cold-chain rule of a product (its owner) or of a batch (its owner); a
    batch's rule overrides its product's. Replaces the previous rule whole.

    A buyer keeps the rule it bought under: while an order reserves a batch, the batch's
    rule may only be tightened (``invalid_state``, current ``reserved``, naming the order
    and the check dropped or widened), and a product-rule change reaches the batch only if
    it tightens the product rule in force when the order was placed. Rules v3: not signed
    by a device's own key. Rules v5: a temperature band at least 0.1 °C wide, a humidity
    band at least 1 %RH (``validation_error``, arg the check), refused at admission: a
    narrower band never enters a block."""
    if ctx.version >= 5:
        check_band_widths(r)
    target = r["target"]
    if r["scope"] == "product":
        p = ctx.read("products", f"t/{target}")
        if p is None:
            raise NotFound(f"unknown GTIN {target}: no such product type")
        owner, owner_org, key = p["owner"], p["org"], product_rule_key(target)
    else:
        h = ctx.read("custody", holding_key(target))
        if h is None:
            raise NotFound(f"no batch {target}")
        owner, owner_org, key = h["owner"], h["owner_org"], batch_rule_key(target)
    _not_a_device(ctx, "sets the rules it is measured against")
    if not (ctx.has_role("admin") or ctx.signer == owner or (ctx.org or "-") == owner_org):
        raise Forbidden(f"only the owner of {target} ({owner}) may set its rule")
    if r["scope"] == "batch":
        check_batch_rule(ctx, target, r)
    old = ctx.get(key)
    rule = {**r, "key": key, "v": (old["v"] + 1) if old else 1, "by": ctx.signer,
            "since": ctx.time}
    ctx.put(key, rule)
    if r["scope"] == "product":  # kept for the batches sold under it
        ctx.put(version_key(key, rule["v"]), rule)
    ctx.emit("rule_set", key=key, v=rule["v"])
    return {"rule": key, "version": rule["v"]}


def _within_shipment(ctx: Ctx, sid: str, last: int) -> None:
    """Rules v2: refuse readings taken after the bound shipment was delivered or closed.
    The goods have left the carrier (or never went): a breach then would mark them, and
    hold their payout, for what happened in someone else's hands. Readings from before the
    end are still taken, however late they are uploaded."""
    sh = ctx.read("shipments", shipment_key(sid))
    end = _shipment_end(sh)
    if sh is not None and end is not None and last > end:
        raise InvalidState(f"reading time {last} is after shipment {sid} was "
                           f"{sh['status']} at {end}: send the readings up to then, then "
                           "unbind the device", current=sh["status"], ended=end)


def _excursions_v3(ctx: Ctx, d: dict[str, Any],
                   groups: dict[str, tuple[dict[str, Any], list[str]]],
                   cols: dict[str, Any]) -> list[str]:
    """Rules v1-v3: the device keeps the excursions it measures, per rule group."""
    exs, changed, batches = d["ex"], [], d["bind"]["batches"]
    carry_over(exs, groups, d.get("groups", {}), batches)
    for key, (rule, held) in groups.items():
        ex = exs.setdefault(key, {})
        for h in evaluate(rule, cols, ex):
            if h["id"]:
                update_breach(ctx, h["id"], h)
                changed.append(h["id"])
                continue
            bid = f"{ctx.tx_id[:32]}-{len(changed)}"
            if h["ended"] is None:
                ex[h["kind"]][3] = bid
            open_breach(ctx, bid, d, rule, held, h)
            changed.append(bid)
    d["ex"] = live_excursions(ctx, exs, groups)
    # Which watched batches each excursion state was measured for (see carry_over).
    index = {x: i for i, x in enumerate(batches)}
    d["groups"] = {k: [index[x] for x in held] for k, (_, held) in groups.items()}
    return changed


def _not_after(last: int, time: int) -> None:
    """No reading after the transaction's own signed time ``time`` (stateless: from rules
    v5 an admission check)."""
    if last > time:
        raise ValidationError(f"reading time {last} is after the transaction's own "
                              f"time {time}", arg="readings")


@method(roles="device", prepare=prepare_record, args={
    "seq": Int(min=1, doc="batch number: exactly one more than the device's last"),
    "readings": READINGS,
}, errors=(NotFound, InvalidState, AlreadyExists, ValidationError),
   admit=(5, lambda _signer, v, _version, time: _not_after(v["summary"]["last"], time)))
def record(ctx: Ctx, v: dict[str, Any]) -> dict[str, Any]:
    """A device's signed batch of readings; rules of the watched batches are evaluated and
    excursions past their allowance become breaches. Rules v4: each batch's excursion is
    the batch's, shared by every logger watching it and kept across bindings. Rules v5:
    a reading after the transaction's own time is refused at admission."""
    d = _device(ctx, ctx.signer)
    b = d["bind"]
    if b is None:
        raise InvalidState(f"device {d['did']} is not bound to a shipment, container or "
                           "batch", current="unbound")
    seq, s = v["seq"], v["summary"]
    if seq <= d["seq"]:
        raise AlreadyExists(f"batch {seq} of device {d['did']} is already recorded (the "
                            f"last is {d['seq']})", seq=seq, last=d["seq"])
    if seq != d["seq"] + 1:
        raise InvalidState(f"batch {seq} of device {d['did']} is out of order: expected "
                           f"{d['seq'] + 1}", current=str(d["seq"]), expected=d["seq"] + 1)
    if s["first"] <= d["last_t"]:
        raise InvalidState(f"reading time {s['first']} is not after the device's last "
                           f"recorded reading at {d['last_t']}", current=str(d["last_t"]))
    if s["first"] < b["since"]:
        # Buffered readings from before this binding concern other goods (or none).
        raise InvalidState(f"reading time {s['first']} is before the device was bound to "
                           f"{b['kind']} {b['target']} at {b['since']}",
                           current=str(b["since"]))
    _not_after(s["last"], ctx.time)
    if ctx.version >= 2 and b["shipment"]:
        _within_shipment(ctx, b["shipment"], s["last"])
    groups = group_rules(ctx, b["batches"])
    if ctx.version >= 4:  # excursions kept per batch, across loggers and bindings
        changed = record_batches(ctx, d, b["batches"], groups, v["cols"])
    else:
        changed = _excursions_v3(ctx, d, groups, v["cols"])
    d["seq"], d["last_t"] = seq, s["last"]
    ctx.put(device_key(d["did"]), d)
    if b["shipment"] and s["pos"]:
        t, lat, lon = s["pos"]
        apply_position(ctx, b["shipment"], lat, lon, t)
    ctx.emit("recorded", device=d["did"], seq=seq, kind=b["kind"], target=b["target"],
             shipment=b["shipment"], batches=b["batches"], breaches=len(changed))
    return {"seq": seq, "readings": s["n"], "breaches": changed}


CONTRACT = Contract.of(
    "sensors", __doc__ or "", [register_device, bind, unbind, set_rule, record],
    tables=TABLES,
    projectors={**{f"sensors.{e}": fn for e, fn in project.items()},
                "sensors.shipment_tracked": project_tracked},
    versions=(1, 2, 3, 4, 5),
)
