"""The orders contract's record, states, statistics and projections (no methods here).

An order lives at ``orders/o/{id}``. Its states and the actions that leave them
(:data:`TRANSITIONS` is the same table in code)::

    from              action (who)                           to
    -                 place (buyer)                          placed          money -> escrow
    placed            cancel (buyer, or unfinanced seller;   cancelled       full refund
                      v3: any seller once buyer revoked,
                      or an admin once both are)
    placed            dispatch (seller)                      dispatched
    dispatched        pickup (transporter)                   in_transit      custody -> carrier
    in_transit        deliver (transporter)                  in_transit while partial, then
                                                             delivered       custody -> buyer
    delivered         confirm (buyer)                        completed       escrow paid out,
    delivered         release (anyone, after the period)     completed       ownership -> buyer
    delivered         request_return (buyer)                 return_requested
    return_requested  receive_return (seller)                returned        refund, custody back
    dispatched .. return_requested  dispute (a party)        disputed        all frozen
    disputed          resolve (arbiter, not of a party)      resolved        escrow shared out

Per-participant statistics (``orders/st/{did}``) are kept up to date by the transitions,
because a contract can only read keys, never scan: the credit assessment reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.payments import MAX_AMOUNT
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import Ctx, StateReader
from supplyledger.contracts.schema import Str
from supplyledger.errors import Forbidden, InvalidState, NotFound, SupplyLedgerError
from supplyledger.ledger.encoding import decode

__all__ = [
    "DEFAULT_RELEASE_MS",
    "ORDER_ID",
    "TABLES",
    "TRANSITIONS",
    "about",
    "allows",
    "bump",
    "dispatch_too_late",
    "escrow_id",
    "expect",
    "load",
    "okey",
    "org_of",
    "own_rules",
    "party",
    "project_transition",
    "read_order",
    "read_stats",
    "release_after",
    "release_due",
    "renamed",
    "stats_key",
    "transition",
]

ORDER_ID = Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}",
               doc="order id chosen by the buyer (unique)")
DEFAULT_RELEASE_MS = 7 * 24 * 3_600_000  # escrow released a week after delivery if undisputed
# action -> (states it may start from, state it leads to); ``None`` target keeps the state.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "dispatch": (("placed",), "dispatched"),
    "pickup": (("dispatched",), "in_transit"),
    "deliver": (("in_transit",), None),
    "confirm": (("delivered",), "completed"),
    "release": (("delivered",), "completed"),
    "cancel": (("placed",), "cancelled"),
    "reschedule": (("placed", "dispatched", "in_transit"), None),
    "dispute": (("dispatched", "in_transit", "delivered", "return_requested"), "disputed"),
    "resolve": (("disputed",), "resolved"),
    "request_return": (("delivered",), "return_requested"),
    "receive_return": (("return_requested",), "returned"),
}


def okey(order_id: str) -> str:
    return f"o/{order_id}"


def stats_key(did: str) -> str:
    return f"st/{did}"


def escrow_id(order_id: str) -> str:
    return f"orders:{order_id}"


def load(ctx: Ctx, order_id: str) -> dict[str, Any]:
    o = ctx.read("orders", okey(order_id))
    if o is None:
        raise NotFound(f"no order {order_id}")
    return o  # type: ignore[no-any-return]


def allows(o: Mapping[str, Any], action: str) -> bool:
    """Whether ``action`` may start from the state order ``o`` is in."""
    return o["state"] in TRANSITIONS[action][0]


def expect(o: dict[str, Any], action: str) -> None:
    """Refuse an illegal transition, naming the state the order is in."""
    allowed, _ = TRANSITIONS[action]
    if not allows(o, action):
        raise InvalidState(f"order {o['id']} is {o['state']}: {action} needs "
                           f"{' or '.join(allowed)}", current=o["state"], action=action)


def transition(ctx: Ctx, o: dict[str, Any], event: str, state: str | None = None,
               **changed: Any) -> None:
    """Apply ``changed`` (and the new state), store the order and emit the ledger event
    that records the transition; the event carries exactly the changed columns."""
    if state is not None:
        o["state"] = state
    o.update(changed)
    # Explicit namespace: shipments.record_plan dispatches orders from its own contract.
    ctx.put_other("orders", okey(o["id"]), o)
    ctx.emit(event, order=o["id"], state=o["state"], **changed)


def party(ctx: Ctx, o: dict[str, Any], *roles: str) -> str:
    """Which of ``roles`` (buyer, seller, transporter) the signer plays in order ``o``."""
    for r in roles:
        if o.get(r) == ctx.signer:
            return r
    raise Forbidden(f"only the {' or '.join(roles)} of order {o['id']} may do this",
                    roles=list(roles))


def org_of(ctx: Ctx, did: str) -> str | None:
    """The organisation of participant ``did`` (also once revoked: a party's past does not
    change), or None if there is no such participant."""
    p = ctx.read("identity", participant_key(did))
    return None if p is None else p["org"] or None


def about(ctx: Ctx, order_id: str, message: str, since: int = 3) -> str:
    """``message``, naming the order it is about from orders rules ``since`` on (v3 named
    most refusals, v4 the rest), so a user with many open orders knows which one to act on.
    Older rules keep their exact words (receipts store them). Only under the orders
    contract's own rules: shipments dispatches orders through the same code under its own
    version."""
    return f"order {order_id}: {message}" if own_rules(ctx, since) else message


def renamed(ctx: Ctx, order_id: str, exc: SupplyLedgerError,
            arg: str | None = None) -> SupplyLedgerError:
    """The refusal ``exc`` of another contract's check run for order ``order_id`` (which that
    check does not know): under orders rules v4 the same error naming the order, with the
    same details (and ``arg``, the argument refused, unless they name one); under older
    rules ``exc`` itself, as its receipts store it."""
    if not own_rules(ctx, 4):
        return exc
    named = {} if arg is None else {"arg": arg}
    return type(exc)(f"order {order_id}: {exc.message}", **{**named, **exc.details})


def own_rules(ctx: Ctx, since: int) -> bool:
    """Whether orders rules ``since`` or later decide this call: the orders contract's own
    version, not that of shipments, which dispatches orders through the same code."""
    return ctx.contract == "orders" and ctx.version >= since


def release_after(ctx: Ctx) -> int:
    cfg = ctx.read("orders", "cfg")
    return DEFAULT_RELEASE_MS if cfg is None else int(cfg["release_after_ms"])


def release_due(ctx: Ctx, o: dict[str, Any]) -> int:
    """When a delivered order's dispute period ends and anyone may release it: as fixed at
    delivery (rules v2), else (delivered under v1) by the period configured now."""
    due = o.get("release_at")
    return int(due) if due is not None else int(o["delivered_at"]) + release_after(ctx)


def dispatch_too_late(o: Mapping[str, Any], now: int) -> bool:
    """Whether order ``o``'s delivery window closed before ``now``: it must be rescheduled
    before it is dispatched."""
    return now > int(o["latest"])


def bump(ctx: Ctx, did: str, ccy: str | None = None, value: int = 0, **counts: int) -> None:
    """Add ``counts`` to a participant's statistics (and ``value`` to its sales volume in
    ``ccy``, saturating at MAX_AMOUNT so the integer stays inside the ledger's range)."""
    st = ctx.get(stats_key(did)) or {"vol": {}}
    for k, n in counts.items():
        st[k] = st.get(k, 0) + n
    if ccy is not None:
        st["vol"][ccy] = min(MAX_AMOUNT, st["vol"].get(ccy, 0) + value)
    ctx.put(stats_key(did), st)


# -- queries ------------------------------------------------------------------------------------

def read_order(read: StateReader, order_id: str) -> dict[str, Any] | None:
    raw = read(f"orders/{okey(order_id)}")
    return None if raw is None else dict(decode(raw))


def read_stats(read: StateReader, did: str) -> dict[str, Any]:
    raw = read(f"orders/{stats_key(did)}")
    return {"vol": {}} if raw is None else dict(decode(raw))


# -- projections --------------------------------------------------------------------------------

_ORDER_COLS = (
    ("id", "TEXT"), ("buyer", "TEXT"), ("seller", "TEXT"), ("platform", "TEXT"),
    ("transporter", "TEXT"), ("product", "TEXT"), ("batch", "TEXT"), ("quantity", "INTEGER"),
    ("delivered", "INTEGER"), ("unit_price", "INTEGER"), ("freight", "INTEGER"),
    ("currency", "TEXT"), ("state", "TEXT"), ("transport_no", "TEXT"), ("earliest", "INTEGER"),
    ("latest", "INTEGER"), ("placed_at", "INTEGER"), ("delivered_at", "INTEGER"),
    ("settled_at", "INTEGER"), ("on_time", "INTEGER"), ("tx", "TEXT"))
ORDERS = Table("orders", _ORDER_COLS, ("id",), (("buyer",), ("seller",), ("state",)))
ORDER_EVENTS = Table(
    "order_events",
    (("order_id", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER"), ("event", "TEXT"),
     ("state", "TEXT"), ("signer", "TEXT"), ("time", "INTEGER")),
    ("order_id", "tx"), (("height",),))
_NAMES = tuple(c for c, _ in _ORDER_COLS)
_COLUMNS = frozenset(_NAMES)


def project_transition(event: str) -> Any:
    """Projector for ``orders.<event>``: the order row's changed columns, plus a history
    row. ``placed`` inserts the row from the (prepared) arguments of the transaction."""

    def project(e: dict[str, Any], m: EventMeta) -> list[Op]:
        hist = Upsert("order_events", (e["order"], m.tx, m.height, event, e["state"],
                                       m.signer, m.time))
        if event == "placed":
            row = {**m.args, **e, "id": e["order"], "buyer": m.signer, "delivered": 0,
                   "placed_at": m.time, "tx": m.tx}
            return [Upsert("orders", tuple(map(row.get, _NAMES))), hist]
        cols = sorted(_COLUMNS.intersection(e))  # the event's columns, in name order
        values = zip(cols, map(e.__getitem__, cols), strict=True)
        return [Update("orders", (e["order"],), (*values, ("tx", m.tx))), hist]

    return project


TABLES = (ORDERS, ORDER_EVENTS)
