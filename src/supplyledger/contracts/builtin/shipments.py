"""shipments — legs between logistics nodes, live ETA (paper 000 eq. 5), lateness, emissions
per leg, shipment and order (ISO 14083 / GLEC), and dispatch plans that become transport
orders (``record_plan``, in ``_shipments_plan``).

A transporter (or the platform or seller that hires it) creates a shipment: its legs (from
and to a logistics node with coordinates in micro-degrees, distance in metres or the
great-circle distance, mode, vehicle class of the emission factor table, traffic factor,
dwell time, optional speed), cargo mass, the orders and batches it carries and the promised
arrival. Creating computes the first ETA and the emissions, all integers (``_shipments_new``).

The transporter then departs, reports positions and leg arrivals, and delivers; the
transporter, the creator or the platform may set a leg's traffic factor or close the
shipment. Every position, traffic or leg update recomputes the ETA from the last measured
progress and emits ``shipment_tracked``. An ETA after the promised time plus the grace
period flags the shipment ``late`` (one event when it turns late, ``back_on_time`` when it
recovers); at arrival the flag is final. Positions from IoT devices arrive through the
sensors contract via ``_shipments_track.apply_position``. Record and statuses:
``_shipments_model``.

Rules v2 (and later; ``rules.adopt`` moves older ledgers on): the ETA estimates the
arrival, without the stop at the destination that follows it; a position fix matches only a
leg the vehicle can have reached since its last progress (at most twice each leg's speed),
so a fix in the depot yard never ends a round trip at its start; ``deliver`` and ``close``
record when the shipment ended (a bound logger's later readings concern it no more); a
dispatch plan may carry the planned speed and each drop's service time, so the ETA of its
routes is the plan's.

Rules v3 (new ledgers start on it) bound times and amounts: a planned departure lies at
most a year after the transaction (near 2**53 its ETA could not be stored, and v1/v2 failed
deep in the call with ``encoding_error``); a dispatch plan's route returns no earlier than
it departs and carries at most a shipment's cargo mass over at most once round the Earth;
and ``depart``, ``arrive_leg``, ``deliver`` and ``close`` are refused when dated before the
shipment's last recorded time (its creation, or its last progress once departed), so no
leg arrives before the departure: signers' clocks differ within the node's time window.

Rules v4 (new ledgers start there) refuse before execution what needs only the arguments
and the transaction's own signed time (``runtime`` admission checks): a ``create`` departing
more than a year after its transaction, a ``record_plan`` route out of v3's bounds, and a
``report_position`` fix dated after its transaction. Same error and words, but the submitter
gets them at once and no block records a failed transaction; v1 to v3 ledgers decide them
in the call, as they did (a failed receipt; v1 and v2 take the departure and the route).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin import _shipments_plan
from supplyledger.contracts.builtin._orders_model import project_transition
from supplyledger.contracts.builtin._shipments_model import (
    FINAL,
    SHIPMENT_COLUMNS,
    TABLES,
    expect,
    has_geo,
    load,
    shipment_key,
)
from supplyledger.contracts.builtin._shipments_new import (
    ADMIT_RULES,
    NEW_SHIPMENT_ARGS,
    SHIPMENT_ID,
    TRAFFIC,
    check_departure,
    check_departure_at,
    check_traffic,
    open_shipment,
    prepare_shipment,
)
from supplyledger.contracts.builtin._shipments_plan import MAX_PLAN_LEGS
from supplyledger.contracts.builtin._shipments_track import (
    is_stale,
    move_to,
    project_tracked,
    track,
)
from supplyledger.contracts.projection import EventMeta, Op, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)

__all__ = ["CONTRACT"]

_DID = Str(max_len=128, doc="participant id")
_SHIPMENT = {"shipment": SHIPMENT_ID}
# A dispatch plan's route has up to 200 drops plus the return: 201 legs (create takes 64).
_LEG = Int(max=MAX_PLAN_LEGS - 1, doc="leg index")


def _prepare_create(a: dict[str, Any]) -> dict[str, Any]:
    return {"id": a["id"], "transporter": a["transporter"], **prepare_shipment(a)}


def _admit_create(signer: str, p: dict[str, Any], version: int, time: int) -> None:
    check_departure_at(time, p["departs_at"], "departs_at")


@method(roles=ANY_PARTICIPANT, prepare=_prepare_create,
        args={"id": SHIPMENT_ID, "transporter": _DID, **NEW_SHIPMENT_ARGS},
        errors=(ValidationError, AlreadyExists, NotFound, Forbidden, InvalidState),
        admit=(ADMIT_RULES, _admit_create))
def create(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Create a shipment: the transporter itself, a platform (for orders placed through it)
    or the seller of every order carried. A platform or seller lists only lots of those
    orders, its own lots or (a platform) lots reserved by its orders. Computes the first
    ETA and the emissions. Rules v3: ``departs_at`` at most a year ahead (rules v4: refused
    before execution)."""
    if ctx.version >= 3:
        check_departure(ctx, p["departs_at"], "departs_at")
    if ctx.signer == p["transporter"]:
        relation, platform = "transporter", None
    elif ctx.has_role("platform"):
        relation, platform = "platform", ctx.signer
    elif p["orders"]:
        relation, platform = "seller", None
    else:
        raise Forbidden("only the transporter, a platform or the seller of the orders "
                        "carried may create a shipment")
    s = open_shipment(ctx, p["id"], p["transporter"], p, relation=relation,
                      platform=platform, plan=None)
    return {"shipment": s["id"], "eta": s["eta"], "late": s["late"], "co2e_g": s["co2e_g"],
            "distance_m": s["distance_m"],
            "orders": {o["order"]: o["co2e_g"] for o in s["orders"]}}


def _as(ctx: Ctx, s: dict[str, Any], *who: str) -> None:
    if not any(s[w] == ctx.signer for w in who):
        raise Forbidden(f"only the {' or '.join(who)} of shipment {s['id']} may do this")


def _leg_index(s: dict[str, Any], leg: int) -> None:
    if leg >= len(s["legs"]):
        raise ValidationError(f"shipment {s['id']} has legs 0..{len(s['legs']) - 1}, not "
                              f"{leg}", arg="leg")


def _not_before_last(ctx: Ctx, s: dict[str, Any]) -> None:
    """Rules v3: refuse a transaction dated before the shipment's last recorded time (its
    creation; once departed, its last progress: departure, fix or arrival). Signers' clocks
    differ within the node's time window, and a leg arriving before the departure makes
    the journey's times negative and its interval empty (the cold-chain KPI then misses
    the breaches of the journey)."""
    last = s["created"] if s["departed"] is None else s["at"]
    if ctx.version >= 3 and ctx.time < last:
        raise InvalidState(f"this transaction is dated {ctx.time}, before shipment {s['id']}'s "
                           f"last recorded time {last}: sign it again", current=s["status"],
                           last=last)


def _summary(s: dict[str, Any]) -> dict[str, Any]:
    return {"shipment": s["id"], "status": s["status"], "eta": s["eta"], "late": s["late"]}


@method(roles=ANY_PARTICIPANT, args=_SHIPMENT, errors=(NotFound, Forbidden, InvalidState))
def depart(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: the shipment leaves its first node now; ETA from the whole route.
    Rules v3: not dated before the shipment's creation."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter")
    expect(s, "created")
    _not_before_last(ctx, s)
    s.update(status="in_transit", departed=ctx.time, at=ctx.time, leg=0,
             remaining_m=s["legs"][0]["distance_m"])
    ctx.emit("departed", shipment=s["id"], at=ctx.time)
    track(ctx, s, "depart")
    return _summary(s)


@method(roles=ANY_PARTICIPANT, args={**_SHIPMENT, "leg": _LEG},
        errors=(NotFound, Forbidden, InvalidState, ValidationError))
def arrive_leg(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: reached the end of leg ``leg`` (and of any earlier leg not yet
    reported). After the last leg the shipment has arrived and its lateness is final.
    Rules v3: not dated before the shipment's last progress."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter")
    expect(s, "in_transit")
    leg = a["leg"]
    _leg_index(s, leg)
    if leg < s["done"]:
        raise InvalidState(f"leg {leg} of shipment {s['id']} has already arrived",
                           current=s["status"])
    _not_before_last(ctx, s)
    first = s["done"]
    for i in range(first, leg + 1):
        s["legs"][i]["arrived_at"] = ctx.time
    s["done"] = leg + 1
    if leg >= s["leg"]:  # a late report of a leg the fixes have already left moves nothing
        s.update(leg=leg, remaining_m=0, at=ctx.time)
    if leg == len(s["legs"]) - 1:
        s.update(status="arrived", arrived=ctx.time)
    ctx.emit("leg_arrived", shipment=s["id"], first=first, leg=leg, at=ctx.time,
             final=int(s["arrived"] is not None))
    track(ctx, s, "arrival")
    return _summary(s)


def _not_after(at: int, time: int) -> None:
    """A fix is not taken after the transaction that reports it is signed at ``time``."""
    if at > time:
        raise ValidationError(f"position time {at} is after the transaction's {time}",
                              arg="at")


def _admit_position(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    _not_after(a["at"], time)


@method(roles=ANY_PARTICIPANT, args={
    **_SHIPMENT,
    "lat": Int(min=-90_000_000, max=90_000_000, doc="micro-degrees"),
    "lon": Int(min=-180_000_000, max=180_000_000, doc="micro-degrees"),
    "at": Int(min=1, doc="time of the fix, ms epoch"),
}, errors=(NotFound, Forbidden, InvalidState, ValidationError),
   admit=(ADMIT_RULES, _admit_position))
def report_position(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: a position fix; the shipment's progress and ETA follow it. A fix must be
    newer than the last fix and the last departure/arrival, and not after the transaction
    (rules v4: refused before execution)."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter")
    expect(s, "in_transit")
    if not has_geo(s):
        raise InvalidState(f"shipment {s['id']} has nodes without coordinates: report "
                           "leg arrivals instead", current=s["status"])
    at = a["at"]
    if is_stale(s, at):
        raise ValidationError(f"position time {at} is not after the last update "
                              f"{max(s['at'], s['pos_at'] or 0)}", arg="at", last=s["at"])
    _not_after(at, ctx.time)
    move_to(ctx, s, a["lat"], a["lon"], at)
    return {**_summary(s), "leg": s["leg"], "remaining_m": s["remaining_m"]}


@method(roles=ANY_PARTICIPANT, prepare=lambda a: {**a, "traffic": check_traffic(
    a["traffic"], "traffic")}, args={**_SHIPMENT, "leg": _LEG, "traffic": TRAFFIC},
    errors=(NotFound, Forbidden, InvalidState, ValidationError))
def set_traffic(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter, creator or platform: the traffic factor of a leg not yet driven."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter", "creator", "platform")
    expect(s, "created", "in_transit")
    _leg_index(s, a["leg"])
    if a["leg"] < s["done"]:
        raise InvalidState(f"leg {a['leg']} of shipment {s['id']} has already been driven",
                           current=s["status"])
    s["legs"][a["leg"]]["traffic"] = a["traffic"]
    ctx.emit("traffic_set", shipment=s["id"], leg=a["leg"], traffic=a["traffic"])
    track(ctx, s, "traffic")
    return _summary(s)


@method(roles=ANY_PARTICIPANT, args={**_SHIPMENT, "proof": Str(optional=True, max_len=128)},
        errors=(NotFound, Forbidden, InvalidState))
def deliver(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: the shipment is handed over; any leg not yet reported arrives now and
    the lateness is final. Rules v3: not dated before the shipment's last progress."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter")
    expect(s, "in_transit", "arrived")
    _not_before_last(ctx, s)
    if s["arrived"] is None:
        for leg in s["legs"][s["done"]:]:
            leg["arrived_at"] = ctx.time
        ctx.emit("leg_arrived", shipment=s["id"], first=s["done"], leg=len(s["legs"]) - 1,
                 at=ctx.time, final=1)
        s.update(done=len(s["legs"]), leg=len(s["legs"]) - 1, remaining_m=0, at=ctx.time,
                 arrived=ctx.time)
    s["status"] = "delivered"
    if ctx.version >= 2:  # when a bound logger's readings stop concerning the shipment
        s["ended"] = ctx.time
    ctx.emit("delivered", shipment=s["id"], proof=a.get("proof", ""))
    track(ctx, s, "delivered")
    return _summary(s)


@method(roles=ANY_PARTICIPANT, args={**_SHIPMENT, "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState))
def close(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter, creator or platform: end an open shipment (cancelled before departure,
    or abandoned); a delivered one is already final. Rules v3: not dated before the
    shipment's last recorded time."""
    s = load(ctx, a["shipment"])
    _as(ctx, s, "transporter", "creator", "platform")
    if s["status"] in FINAL:
        raise InvalidState(f"shipment {s['id']} is already {s['status']}", current=s["status"])
    _not_before_last(ctx, s)
    s["status"] = "closed"
    if ctx.version >= 2:
        s["ended"] = ctx.time
    ctx.put(shipment_key(s["id"]), s)
    ctx.emit("closed", shipment=s["id"], reason=a.get("reason", ""))
    return _summary(s)


# -- projections --------------------------------------------------------------------------------

def _created(e: dict[str, Any], m: EventMeta) -> list[Op]:
    row = {**e, "tx": m.tx, "departed": None, "arrived": None, "pos_at": None, "lat": None,
           "lon": None, "ended": None}
    ops: list[Op] = [Upsert("shipments", tuple(row[c] for c in SHIPMENT_COLUMNS))]
    for i, leg in enumerate(e["legs"]):
        f, t = leg["frm"], leg["to"]
        ops.append(Upsert("shipment_legs", (
            e["id"], i, f["node"], f["lat"], f["lon"], t["node"], t["lat"], t["lon"],
            leg["distance_m"], leg["mode"], leg["vehicle_class"], leg["traffic"],
            leg["dwell_ms"], leg["speed"], leg["mass_kg"], leg["tonne_km"], leg["co2e_g"],
            None)))
    ops += [Upsert("shipment_orders", (e["id"], o["order"], o["mass_kg"], o["co2e_g"],
                                       o["leg"])) for o in e["orders"]]
    ops += [Upsert("shipment_batches", (e["id"], b)) for b in e["batches"]]
    return ops


def _departed(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("shipments", (e["shipment"],), (("departed", e["at"]), ("tx", m.tx)))]


def _lateness(late: int) -> Any:
    def project(e: dict[str, Any], m: EventMeta) -> list[Op]:
        return [Update("shipments", (e["shipment"],), (("late", late), ("eta", e["eta"])))]
    return project


def _leg_arrived(e: dict[str, Any], m: EventMeta) -> list[Op]:
    ops: list[Op] = [Update("shipment_legs", (e["shipment"], i), (("arrived_at", e["at"]),))
                     for i in range(e["first"], e["leg"] + 1)]
    if e["final"]:
        ops.append(Update("shipments", (e["shipment"],), (("arrived", e["at"]),)))
    return ops


def _traffic_set(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("shipment_legs", (e["shipment"], e["leg"]), (("traffic", e["traffic"]),))]


def _closed(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The events carry no time: deliver and close record theirs (``ended``, rules v2+) as
    # the transaction's, which the projector gets too (and v1 ledgers' ends alike).
    return [Update("shipments", (e["shipment"],), (("status", "closed"), ("tx", m.tx),
                                                   ("ended", m.time)))]


def _delivered(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # (the status follows in the ``shipment_tracked`` that deliver emits next)
    return [Update("shipments", (e["shipment"],), (("ended", m.time),))]


CONTRACT = Contract.of(
    "shipments", __doc__ or "",
    [create, depart, arrive_leg, report_position, set_traffic, deliver, close,
     *_shipments_plan.METHODS],
    tables=TABLES,
    projectors={
        "shipments.created": _created,
        "shipments.departed": _departed,
        "shipments.leg_arrived": _leg_arrived,
        "shipments.traffic_set": _traffic_set,
        "shipments.closed": _closed,
        "shipments.delivered": _delivered,
        "shipments.late": _lateness(1),
        "shipments.back_on_time": _lateness(0),
        "shipments.shipment_tracked": project_tracked,
        "shipments.order_dispatched": project_transition("dispatched"),
        "shipments.plan_recorded": _shipments_plan.project_plan,
    },
    versions=(1, 2, 3, 4),
)
