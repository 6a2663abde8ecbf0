"""Where orders meet the products and custody contracts (read their state; move a batch).

Reads: ``products/t/{gtin}`` (product type: owner, for_sale), ``products/b/{batch}`` (batch:
gtin, for_sale), ``custody/h/{batch}`` (the holding: owner, custodian, open proposal) and,
when reserving a batch, its product's and own cold-chain rule (``sensors/r/...``).

Writes, outside its own namespace: only the holding, ``custody/h/{batch}`` — the key the
custody contract documents as the shared start of a batch's holding (products writes it on
creation) — and only at the moments the order itself has been signed for: custody to the
transporter at pickup, to the buyer at delivery, back to the seller when a return arrives;
ownership to the buyer when the escrow pays the seller (under orders rules v3 also a
buyer revoked since it paid). The same
``custody_holdings``/``custody_history`` rows the custody contract projects are projected
from our ``orders.custody_moved`` event, so the audit's rebuild matches. A hand-over
proposal left open on the batch blocks moving what it offers (the custody contract does not
re-check the proposer when a proposal is accepted, so moving under an open proposal could
let it hand over something its proposer no longer holds); an offer of custody alone does not
block moving ownership, or the buyer, custodian once delivered, could stall the payout.

A batch in an active order is locked (``orders/lk/{batch}``), so it cannot be sold twice
nor its title offered (custody reads the lock), and the version of its product's cold-chain
rule in force when the order was placed is pinned (``orders/rp/{batch}``; sensors reads it,
see ``_sensors_reserved``). Both go when the order settles.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._customs_model import batch_key as customs_batch_key
from supplyledger.contracts.builtin._customs_model import check_custody, hold_shipped
from supplyledger.contracts.builtin._orders_model import (
    about,
    dispatch_too_late,
    expect,
    org_of,
    own_rules,
    renamed,
    transition,
)
from supplyledger.contracts.builtin._sensors_reserved import (
    lot_rule_widens,
    pin_key,
    pinned_rule,
    rule_version,
)
from supplyledger.contracts.builtin.custody import holding_key, reservation_key
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.payments import require_participant
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import AlreadyExists, Forbidden, InvalidState, NotFound, ValidationError

__all__ = ["batch_keys", "check_held", "check_offer", "dispatch_order", "lock", "move",
           "take_batch", "transport_no_key", "unlock"]

_FIELD = {"custody": "custodian", "ownership": "owner"}


_lkey = reservation_key


def transport_no_key(number: str) -> str:
    """Key (in the orders namespace) of who uses a transport order number."""
    return f"tn/{number}"


def batch_keys(batch: str) -> list[str]:
    """The state keys an order reads about ``batch``, for read hints (its rule pin is read
    when the order settles, its customs control at each custody move; fetched with the
    rest, they are usually still cached by then)."""
    return [f"products/b/{batch}", f"orders/{_lkey(batch)}", f"custody/{holding_key(batch)}",
            f"orders/{pin_key(batch)}", f"customs/{customs_batch_key(batch)}"]


def _arg(ctx: Ctx, name: str) -> dict[str, str]:
    """The ``arg`` detail of a refusal that orders rules v4 first name the order in (older
    rules keep their exact receipts, details included)."""
    return {"arg": name} if own_rules(ctx, 4) else {}


def holding(ctx: Ctx, batch: str, order: str | None = None) -> dict[str, Any]:
    """The holding of ``batch`` (``order``, when given, is named by a refusal under orders
    rules v4)."""
    h = ctx.read("custody", holding_key(batch))
    if h is None:
        msg = f"no batch {batch}"
        raise NotFound(msg if order is None else about(ctx, order, msg, since=4))
    return h  # type: ignore[no-any-return]


def _batch_available(ctx: Ctx, batch: str, order: str) -> dict[str, Any]:
    b = ctx.read("products", f"b/{batch}")
    if b is None:
        raise NotFound(about(ctx, order, f"no batch {batch}", since=4), **_arg(ctx, "batch"))
    locked = ctx.read("orders", _lkey(batch))
    if locked is not None:
        raise InvalidState(about(ctx, order, f"batch {batch} is not available: reserved by "
                                 f"order {locked}"), current="reserved", order=locked)
    return b  # type: ignore[no-any-return]


def _owned_by(ctx: Ctx, batch: str, seller: str, order: str) -> dict[str, Any]:
    h = holding(ctx, batch, order)
    if h["owner"] != seller:
        raise Forbidden(about(ctx, order, f"the seller is fake: batch {batch} is owned by "
                              f"{h['owner']}, not {seller}"), owner=h["owner"])
    if h["open"]:
        raise InvalidState(about(ctx, order, f"batch {batch} has an open hand-over proposal "
                                 f"{h['open']}"), current="proposed", proposal=h["open"])
    return h


def check_offer(ctx: Ctx, *, order: str, seller: str, product: str | None,
                batch: str | None) -> str:
    """Paper 001 Alg. 5, lines 3-14: the thing exists, is available (declared for sale by
    its owner and not reserved by another order) and the seller owns it. Returns the GTIN.
    ``order`` is the id being placed, which refusals name (most under rules v3, all under
    v4)."""
    if batch is not None:
        b = _batch_available(ctx, batch, order)
        if not b["for_sale"]:
            raise InvalidState(about(ctx, order, f"batch {batch} is not available: not "
                                     "declared for sale"), current="not_for_sale")
        _owned_by(ctx, batch, seller, order)
        return str(b["gtin"])
    assert product is not None
    p = ctx.read("products", f"t/{product}")
    if p is None:
        raise NotFound(about(ctx, order, f"unknown GTIN {product}: no such product", since=4),
                       **_arg(ctx, "product"))
    if not p["for_sale"]:
        raise InvalidState(about(ctx, order, f"product {product} is not available: not "
                                 "declared for sale"), current="not_for_sale")
    if p["owner"] != seller:
        raise Forbidden(about(ctx, order, f"the seller is fake: product {product} is owned "
                              f"by {p['owner']}, not {seller}"), owner=p["owner"])
    return product


def take_batch(ctx: Ctx, o: dict[str, Any], batch: str) -> None:
    """At dispatch of a product order: the lot the seller ships must be of the ordered
    product, owned by the seller, held by its organisation and free."""
    b = _batch_available(ctx, batch, o["id"])
    if b["gtin"] != o["product"]:
        raise Forbidden(about(ctx, o["id"], f"batch {batch} is of product {b['gtin']}, the "
                              f"order is for {o['product']}"))
    _owned_by(ctx, batch, o["seller"], o["id"])


def check_held(ctx: Ctx, batch: str, seller: str, seller_org: str,
               order: str | None = None) -> None:
    """The seller (or a site of its organisation) physically holds what it dispatches
    (``order``, when given, is named by a refusal under rules v3)."""
    h = holding(ctx, batch, order)
    if h["custodian"] != seller and h["custodian_org"] != seller_org:
        msg = f"batch {batch} is held by {h['custodian']}, not by the seller"
        raise Forbidden(msg if order is None else about(ctx, order, msg))


def lock(ctx: Ctx, batch: str, order_id: str, *, placed_at: int | None = None,
         version: int | None = None) -> dict[str, Any] | None:
    """Reserve ``batch`` for the order and pin the version of its product's cold-chain rule
    in force when the order was placed -- ``version`` as the order recorded it, else the
    one in force at ``placed_at`` (None: now) -- which the batch stays held to (see
    ``_sensors_reserved``). Returns that rule."""
    ctx.put_other("orders", _lkey(batch), order_id)
    gtin = _gtin_of(ctx, batch)
    sold = (rule_version(ctx, gtin, version) if version is not None
            else pinned_rule(ctx, gtin, placed_at))
    if sold is not None:  # no pin: no rule then, and any later one tightens that
        ctx.put_other("orders", pin_key(batch), sold["v"])
    return sold


def _gtin_of(ctx: Ctx, batch: str) -> str:
    return str(ctx.read("products", f"b/{batch}")["gtin"])


def dispatch_order(ctx: Ctx, o: dict[str, Any], *, transporter: str, transport_no: str,
                   batch: str | None, seller_org: str, event: str = "dispatched",
                   claim_number: bool = True) -> None:
    """Turn a placed order into a transport order: the checks and writes of
    ``orders.dispatch`` after its caller check. Shared with ``shipments.record_plan``, where
    the order's platform (not the seller) signs a dispatch plan: every read and write names
    the ``orders`` namespace, and ``event`` is emitted under the running contract's name.
    ``orders/tn/{number}`` records who uses a transport order number (the order id); a plan
    claims its route's number once for all its orders (``claim_number=False`` here)."""
    expect(o, "dispatch")
    if dispatch_too_late(o, ctx.time):
        raise InvalidState(f"order {o['id']}'s delivery window closed at {o['latest']}: "
                           "reschedule it first", current=o["state"])
    try:
        require_participant(ctx, transporter, role="transporter")
    except NotFound:
        raise NotFound(about(ctx, o["id"], f"no registered transporter {transporter}: "
                             "reschedule the delivery", since=4),
                       transporter=transporter, action="reschedule",
                       **_arg(ctx, "transporter")) from None
    if transporter == o["seller"]:
        # The transporter's delivery starts the clock to an automatic payout.
        raise Forbidden(f"the seller of order {o['id']} cannot be its transporter: the "
                        "transporter attests the delivery the seller is paid for")
    if claim_number and ctx.read("orders", transport_no_key(transport_no)) is not None:
        raise AlreadyExists(about(ctx, o["id"], f"transport order number {transport_no} is "
                                  "already used", since=4), **_arg(ctx, "transport_no"))
    shipped = o["batch"]
    if shipped is None:
        if batch is None:
            raise ValidationError(f"order {o['id']} is for a product: name the batch it "
                                  "ships", arg="batch")
        shipped = batch
        take_batch(ctx, o, shipped)
        # (orders placed before rule versions were recorded have no "rule_v")
        check = lot_rule_widens(ctx, shipped, lock(ctx, shipped, o["id"],
                                                   placed_at=o["placed_at"],
                                                   version=o.get("rule_v")))
        if check is not None:
            raise InvalidState(f"batch {shipped}'s own cold-chain rule is looser than "
                               f"product {o['product']}'s when order {o['id']} was placed "
                               f"(its {check} check): ship another lot or tighten its rule",
                               current=o["state"], check=check)
        # Declared before its lot was chosen: the lot joins the customs hold now.
        hold_shipped(ctx, o["id"], shipped, o["buyer"], org_of(ctx, o["buyer"]))
    elif batch not in (None, shipped):
        raise ValidationError(f"order {o['id']} is for batch {shipped}", arg="batch")
    check_held(ctx, shipped, o["seller"], seller_org, o["id"])
    if claim_number:
        ctx.put_other("orders", transport_no_key(transport_no), o["id"])
    transition(ctx, o, event, "dispatched", transporter=transporter,
               transport_no=transport_no, batch=shipped)


def unlock(ctx: Ctx, batch: str | None, order_id: str) -> None:
    """Free ``batch`` (and its rule pin) if ``order_id`` holds its lock."""
    if batch is not None and ctx.get(_lkey(batch)) == order_id:
        ctx.delete(_lkey(batch))
        if ctx.exists(pin_key(batch)):
            ctx.delete(pin_key(batch))


def _offers(ctx: Ctx, pid: str, kind: str) -> bool:
    """Open proposal ``pid`` offers ``kind`` (custody or ownership). Only such an offer
    conflicts with moving it: an offer of custody alone must not block the payout (the
    buyer, custodian once delivered, could otherwise stall it for ever)."""
    p = ctx.read("custody", f"p/{pid}")
    return p is None or p["kind"] in (kind, "both")


def _recipient(ctx: Ctx, o: dict[str, Any], kind: str, to: str) -> dict[str, Any]:
    """The participant record of ``to``. Orders rules v3: title passes to a buyer revoked
    since it paid (a lost key, a member who left): v1 and v2 wanted it active, so the
    escrow of a delivered order whose buyer was revoked could never pay the seller once the
    dispute period was over. Its organisation still sees the goods, as its money
    (``payments.hand_over_balance``). Custody, a physical hand-over, needs an active one."""
    if kind == "ownership" and ctx.version >= 3:
        p = ctx.read("identity", participant_key(to))
        if p is None:
            raise NotFound(about(ctx, o["id"], f"no participant {to}", since=4))
        return p  # type: ignore[no-any-return]
    try:
        return require_participant(ctx, to)
    except NotFound:
        if ctx.version < 3:
            raise
        raise NotFound(f"custody of batch {o['batch']} (order {o['id']}, {o['state']}) "
                       f"cannot pass to {to}: no active participant; the order's other "
                       "parties may dispute it", current=o["state"], to=to) from None


def move(ctx: Ctx, o: dict[str, Any], kind: str, to: str) -> None:
    """Move custody or ownership of the order's batch to ``to``. Ownership only ever moves
    from the seller. (custody.propose refuses to offer a reserved batch's title, so the
    seller cannot have given it away meanwhile; the check stays as the escrow's guard.)"""
    batch = o["batch"]
    h = holding(ctx, batch, o["id"])
    if h["open"] and _offers(ctx, h["open"], kind):
        raise InvalidState(about(ctx, o["id"], f"batch {batch} has an open hand-over "
                                 f"proposal {h['open']}: it must be answered or cancelled "
                                 "first"), current=o["state"], proposal=h["open"])
    field = _FIELD[kind]
    frm = h[field]
    if kind == "ownership" and frm != o["seller"]:
        raise InvalidState(about(ctx, o["id"], f"batch {batch} is no longer owned by the "
                                 f"seller but by {frm}; the buyer should dispute the "
                                 "order"), current=o["state"])
    if frm == to:
        return
    rec = _recipient(ctx, o, kind, to)
    if kind == "custody":  # goods under an open customs declaration (whatever the order)
        try:
            check_custody(ctx, batch, to, rec)
        except InvalidState as exc:
            raise renamed(ctx, o["id"], exc) from None
    h[field], h[f"{field}_org"] = to, rec["org"]
    h["since"] = ctx.time
    ctx.put_other("custody", holding_key(batch), h)
    ctx.emit("custody_moved", batch=batch, kind=kind, frm=frm, to=to, owner=h["owner"],
             owner_org=h["owner_org"], custodian=h["custodian"],
             custodian_org=h["custodian_org"])
