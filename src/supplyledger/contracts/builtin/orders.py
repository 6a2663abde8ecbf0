"""orders — purchase with escrow, dispatch by a registered transporter, custody hand-over,
payment on delivery and ownership transfer (paper 001 Alg. 5; paper 000 §3.3.1 and eq. 7).

A buyer orders a quantity of a product (GTIN) or a batch from its owner at an agreed unit
price, freight and delivery window. Placing checks, as Alg. 5 does, that the product exists
and is available ("not available"), that the seller owns it ("the seller is fake") and that
the buyer's balance covers price and freight (``insufficient_funds``); the money then sits
in escrow. Buyer and seller must be of different organisations (an organisation trading
with itself would only inflate its credit and ratings). The seller dispatches under a
transport order number, naming a registered transporter other than itself, since the
transporter attests the delivery (none registered: the delivery must be rescheduled).
Custody moves seller -> transporter at pickup and transporter -> buyer at delivery. Payment
follows eq. 7, "if Received then Execute_Payment": the buyer's confirmation of receipt pays
out at once; if the buyer stays silent, anyone may ``release`` the escrow once the delivery
is ``release_after_ms`` old (default 7 days, set by an admin) with no dispute or return.
Either way the escrow pays the seller (first repaying any financing of the order) and the
transporter's freight, and ownership moves to the buyer. A delivery may be partial: the
transporter reports quantities until all has arrived or it declares the delivery final; the
seller is paid for what arrived and the buyer refunded the rest. Before dispatch either
side may cancel, except a seller advanced money against the escrow (``credit``): under
rules v3, only while the buyer is active; under v3 a consortium admin too, once neither
side is.

Rules v2 (older ledgers after ``rules.adopt``) close six gaps of v1, which its ledgers
still re-execute:

* the release time is fixed when the goods are delivered (``release_at``, as ``deliver``
  answers): an admin's later ``configure`` no longer shortens (or stretches) the dispute
  period of goods already delivered;
* the dispute period ends there: from ``release_at`` on, a delivered order can only be
  confirmed or released, no longer disputed or returned (in v1 whoever came first won the
  race), unless a cold-chain breach holds its payout for the buyer. Times are the
  transactions' own, which the node accepts within its clock window (``time_window_ms``),
  so a buyer should not leave a dispute to the last minutes of the period;
* an arbiter awards no freight to a transporter that never picked the goods up (a dispute
  opened while the order was ``dispatched``): there was no haul to pay for;
* a final delivery report names the quantity that arrived with it: v1 read ``final``
  without a quantity as "all the rest arrived" and paid the seller in full for a short
  delivery; quantity 0 closes a partial delivery when nothing more arrived;
* an order's currency must be an ISO 4217 code (``payments.ISO_4217``);
* a financier is made whole where the ledger can: when a settlement leaves an approved
  financing unpaid (a buyer's cancellation of a financed order pays the seller nothing;
  a return, a ruling or a short delivery may pay less than agreed), the rest is debited
  from the seller's balance, which holds the advance, as far as it goes, and paid to the
  financier (``financing recovery``; ``lien_settled`` names it ``recovered``). Only what
  remains unpaid closes the lien ``short``, as in v1, where the seller kept the advance.
  The buyer's right to cancel before dispatch, with a full refund, is unchanged.

Rules v3 let an order settle whose buyer was revoked after it paid (``identity.revoke``,
which a participant may sign for itself): v1 and v2 moved title only to an active
participant, so a release, or a ruling that gives the buyer title, failed with
``not_found``, and once the dispute period was over nobody could empty the escrow. The
title now passes to the buyer as recorded, its organisation seeing the goods as it sees the
buyer's money (``payments.hand_over_balance``). Custody still passes only to an active
participant: goods are not handed to a revoked buyer (its order's other parties dispute
it, and the refusal says so). Nor is a financed order whose buyer was revoked before
dispatch stuck any more: v1 and v2 let only the buyer cancel it, and once its delivery
window had closed nobody could dispatch it either, so escrow and lien stayed for good. Under
v3 its seller may cancel it too: the escrow is refunded to the revoked buyer in full (its
organisation's, as above) and the financier repaid from the seller's balance, as far as it
goes, exactly as when the buyer cancels. An order whose buyer and seller were both revoked
before dispatch had nobody left to cancel it: under v3 a consortium admin may, once neither
is an active participant (refused while one is, naming it), with the same refund and the
same settlement of a lien. Most of its refusals name the order they are about (v1 and v2
left more that did not); the buyer's ``insufficient_funds`` at placing also names the amount
the order needs in escrow and the buyer's balance, an arbiter's refused ruling its amounts.

Rules v4 change only words: every refusal v3 left without the order names it too, with
the argument at fault where there is one: a price x quantity + freight over the limit
(``quantity``), a delivery window reversed or over, an unknown batch or GTIN, an
unregistered transporter, a transport order number already used, and the refusals of
other contracts' checks an order runs (an inactive seller, platform or data recipient, a
currency not in ISO 4217, goods under a customs declaration). Receipts store the words, so
v1 to v3 keep theirs. Only the check that an order names exactly one of product or batch,
made before any rules are read (and the order id with them), does not.

Rules v5 change only words too: a price x quantity + freight
over the limit names the unit price, quantity, freight and currency that made it, in the
message and the details, so the receipt says what overflowed; a total past the exact
integer range (2^53 - 1) is given as a decimal string. (v4's details held the total as an
integer, which cannot be stored past that range: its receipt dropped them.)

Rules v6 (new ledgers start there) refuse before execution what needs no state to refuse
(``runtime`` admission checks): placing in a currency not in ISO 4217, from oneself,
with a reversed delivery window or one already over at the transaction's own signed time,
or a price x quantity + freight over the limit, and such a window in ``reschedule``. Same
error and words, but the submitter gets them at once and no block records a failed
transaction; v1 to v5 ledgers record it, as they did.

Every transition is a ledger event (``order_events``); an illegal one fails with
``invalid_state`` naming the order's current state. Disputes and returns are in
``orders_returns``, rescheduling in ``orders_schedule``; the order record and state diagram
in ``_orders_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from supplyledger.contracts.builtin import orders_returns, orders_schedule
from supplyledger.contracts.builtin._credit_model import lien_key, project_lien
from supplyledger.contracts.builtin._customs_model import customs_hold, order_decl_key
from supplyledger.contracts.builtin._orders_goods import (
    batch_keys,
    check_offer,
    dispatch_order,
    lock,
    move,
    transport_no_key,
)
from supplyledger.contracts.builtin._orders_model import (
    ORDER_ID,
    TABLES,
    about,
    bump,
    escrow_id,
    expect,
    load,
    okey,
    party,
    project_transition,
    release_after,
    release_due,
    renamed,
    transition,
)
from supplyledger.contracts.builtin._orders_settle import financed_by, settle
from supplyledger.contracts.builtin._sensors_breaches import hold_on_breach
from supplyledger.contracts.builtin._sensors_reserved import product_rule_version
from supplyledger.contracts.builtin.custody import project_transfer
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.orders_schedule import (
    ADMIT_RULES,
    TIME,
    admit_window,
    check_window,
)
from supplyledger.contracts.builtin.payments import (
    CURRENCY,
    MAX_AMOUNT,
    Amount,
    balance,
    escrow_key,
    hold,
    iso_currency,
    project_money,
    require_participant,
)
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Bool, Int, List, Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
)
from supplyledger.gs1 import canonical_digital_link, validate_gtin
from supplyledger.ledger.encoding import MAX_INT

__all__ = ["CONTRACT", "canceller", "seller_barred_by"]

T = TypeVar("T")
_DID = Str(max_len=128, doc="participant id")
_ORDER = {"order": ORDER_ID}


def _prepare_place(args: dict[str, Any]) -> dict[str, Any]:
    # Stateless, before ordering: exactly one of product/batch, and the GTIN's one spelling.
    if ("product" in args) == ("batch" in args):
        raise ValidationError("name exactly one of product (a GTIN) or batch", arg="product")
    out = {"platform": None, "customer_data": None, **args}
    out["product"] = validate_gtin(args["product"]) if "product" in args else None
    out["batch"] = _batch_id(args.get("batch"))
    return out


def _for(ctx: Ctx, oid: str, check: Callable[[], T], arg: str | None = None) -> T:
    """Run another contract's check for order ``oid``: under rules v4 its refusal names the
    order (the check does not know it) and the argument ``arg`` it refused."""
    try:
        return check()
    except (NotFound, ValidationError) as exc:
        raise renamed(ctx, oid, exc, arg) from None


def _covered(ctx: Ctx, oid: str, ccy: str, total: int) -> None:
    """Rules v3: refuse an order its buyer cannot pay for, naming the order, the amount it
    needs in escrow and the buyer's balance (v1 and v2 let ``payments`` refuse the escrow,
    naming neither the order nor what it costs)."""
    have = balance(ctx, ctx.signer, ccy)
    if have < total:
        raise InsufficientFunds(f"order {oid} needs {total} {ccy} in escrow (price x "
                                f"quantity + freight); the buyer {ctx.signer} holds {have} "
                                f"{ccy}", needed=total, available=have, currency=ccy)


def _overflow(oid: str, a: dict[str, Any], total: int) -> None:
    """Rules v5: refuse order ``oid`` whose price x quantity + freight (``total``) is over
    the limit, naming the amounts that made it. Each argument is at most MAX_AMOUNT, so only
    the total may lie past the exact integer range a receipt stores: it is then a decimal
    string (v4 gave the integer, and the receipt dropped the details)."""
    price, qty, freight, ccy = a["unit_price"], a["quantity"], a["freight"], a["currency"]
    raise AmountError(
        f"order {oid}: price x quantity + freight = {price} x {qty} + {freight} = {total} "
        f"{ccy} minor units, more than {MAX_AMOUNT}", arg="quantity",
        total=total if total <= MAX_INT else str(total), maximum=MAX_AMOUNT,
        unit_price=price, quantity=qty, freight=freight, currency=ccy)


def _batch_id(batch: str | None) -> str | None:
    """A batch's one spelling, the canonical Digital Link (as products keys it), also when
    given as an EPC URN or a non-canonical Digital Link."""
    return None if batch is None else canonical_digital_link(batch) or batch


def _prepare_dispatch(args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "batch": _batch_id(args["batch"])} if "batch" in args else args


# Read hints: the keys a step reads that no earlier step of the order has (absent orders,
# escrows and transport numbers; the batch; the financing lien), so the node fetches a
# block's worth in one query instead of one lookup each.
def _reads_place(a: dict[str, Any]) -> list[str]:
    keys = [f"orders/{okey(a['id'])}", f"payments/{escrow_key(escrow_id(a['id']))}"]
    return keys if a["batch"] is None else keys + batch_keys(a["batch"])


def _reads_dispatch(a: dict[str, Any]) -> list[str]:
    keys = [f"orders/{okey(a['order'])}", f"orders/{transport_no_key(a['transport_no'])}"]
    # a product order names its lot now, and the lot may join the order's customs hold
    return keys if a.get("batch") is None else keys + batch_keys(a["batch"]) + [
        f"customs/{order_decl_key(a['order'])}"]


def _reads_deliver(a: dict[str, Any]) -> list[str]:
    return [f"customs/{order_decl_key(a['order'])}"]


def _reads_payout(a: dict[str, Any]) -> list[str]:
    return [f"orders/{okey(a['order'])}", f"credit/{lien_key(a['order'])}"]


def _from_oneself(oid: str, seller: str, version: int) -> None:
    msg = "a participant cannot buy from itself"
    raise Forbidden(f"order {oid}: {seller} would be its buyer and its seller: {msg}"
                    if version >= 3 else msg)


def _admit_place(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    """``place``'s checks that need no state, in its order, in rules v4's words on."""
    oid = a["id"]
    try:
        iso_currency(a["currency"])
    except ValidationError as exc:  # as ``renamed`` words it under v4 on
        raise ValidationError(f"order {oid}: {exc.message}", **exc.details) from None
    if a["seller"] == signer:
        _from_oneself(oid, a["seller"], version)
    admit_window(oid, a["earliest"], a["latest"], time)
    total = a["unit_price"] * a["quantity"] + a["freight"]
    if total > MAX_AMOUNT:
        _overflow(oid, a, total)


@method(roles=ANY_PARTICIPANT, prepare=_prepare_place, reads=_reads_place,
        admit=(ADMIT_RULES, _admit_place), args={
    "id": ORDER_ID, "seller": _DID,
    "product": Str(optional=True, max_len=14, pattern="[0-9]{8,14}", doc="GTIN"),
    "batch": Str(optional=True, max_len=300, doc="batch id (canonical LGTIN)"),
    "quantity": Int(min=1, max=10**9), "unit_price": Amount(), "freight": Amount(minimum=0),
    "currency": CURRENCY, "earliest": TIME, "latest": TIME,
    "platform": Str(optional=True, max_len=128, doc="platform the order came through"),
    "customer_data": Obj(optional=True, doc="commitment to the encrypted delivery data",
                         fields={"commitment": Str(min_len=64, max_len=64,
                                                   pattern="[0-9a-f]{64}"),
                                 "recipients": List(item=_DID, min_items=1, max_items=8)}),
}, errors=(AlreadyExists, NotFound, InvalidState, Forbidden, AmountError, InsufficientFunds,
           ValidationError))
def place(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Order from the owner of a product or batch; price x quantity + freight go to escrow."""
    oid, seller = a["id"], a["seller"]
    if ctx.version >= 2:
        _for(ctx, oid, partial(iso_currency, a["currency"]))
    if ctx.exists(okey(oid)):
        raise AlreadyExists(f"order {oid} already exists")
    if seller == ctx.signer:
        _from_oneself(oid, seller, ctx.version)
    # Nor an organisation from itself: such a sale would only inflate its credit record.
    seller_org = _for(ctx, oid, partial(require_participant, ctx, seller), "seller")["org"]
    if ctx.org is not None and seller_org == ctx.org:
        raise Forbidden(about(ctx, oid, f"buyer and seller are both of organisation "
                              f"{ctx.org}: an organisation cannot buy from itself"),
                        org=ctx.org)
    check_window(ctx, a["earliest"], a["latest"], oid)
    if a["platform"] is not None:
        _for(ctx, oid, partial(require_participant, ctx, a["platform"], role="platform"),
             "platform")
    for did in (a["customer_data"] or {}).get("recipients", []):
        _for(ctx, oid, partial(require_participant, ctx, did), "customer_data")
    gtin = check_offer(ctx, order=oid, seller=seller, product=a["product"], batch=a["batch"])
    total = a["unit_price"] * a["quantity"] + a["freight"]
    if total > MAX_AMOUNT:
        if ctx.version >= 5:
            _overflow(oid, a, total)
        msg = f"price x quantity + freight = {total} exceeds {MAX_AMOUNT}"
        if ctx.version >= 4:  # the quantity is what a buyer would lower to fit the limit
            raise AmountError(f"order {oid}: {msg}", arg="quantity", total=total,
                              maximum=MAX_AMOUNT)
        raise AmountError(msg)
    if ctx.version >= 3:
        _covered(ctx, oid, a["currency"], total)
    hold(ctx, escrow_id(oid), ctx.signer, a["currency"], total, "order")
    if a["batch"] is not None:
        lock(ctx, a["batch"], oid)
    ctx.put(okey(oid), {
        "id": oid, "state": "placed", "buyer": ctx.signer, "seller": seller,
        "platform": a["platform"], "transporter": None, "product": gtin, "batch": a["batch"],
        "quantity": a["quantity"], "delivered": 0, "unit_price": a["unit_price"],
        "freight": a["freight"], "currency": a["currency"], "transport_no": None,
        "earliest": a["earliest"], "latest": a["latest"], "placed_at": ctx.time,
        "delivered_at": None, "settled_at": None, "on_time": None, "proposal": None,
        "customer_data": a["customer_data"],
        # A product order's lot is chosen at dispatch; the cold-chain rule it is held to is
        # the product's as the ledger had it when the order was placed.
        **({"rule_v": product_rule_version(ctx, gtin)} if a["batch"] is None else {})})
    # The arguments are in the transaction; the event adds only what placing decided.
    ctx.emit("placed", order=oid, state="placed", product=gtin)
    return {"order": oid, "escrow": total}


@method(roles=ANY_PARTICIPANT, prepare=_prepare_dispatch, reads=_reads_dispatch, args={
    **_ORDER, "transporter": _DID,
    "transport_no": Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}",
                        doc="transport order number the seller issues"),
    "batch": Str(optional=True, max_len=300, doc="the lot shipped (product orders)"),
}, errors=(NotFound, Forbidden, InvalidState, AlreadyExists, ValidationError))
def dispatch(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Seller: hand the goods to a registered transporter under a new transport order
    number. With no registered transporter nothing changes: reschedule the delivery."""
    o = load(ctx, a["order"])
    expect(o, "dispatch")
    party(ctx, o, "seller")
    dispatch_order(ctx, o, transporter=a["transporter"], transport_no=a["transport_no"],
                   batch=a.get("batch"), seller_org=ctx.org or "")
    return {"order": o["id"], "transport_no": a["transport_no"]}


@method(roles=ANY_PARTICIPANT, args=_ORDER, errors=(NotFound, Forbidden, InvalidState))
def pickup(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: take the goods; custody moves from the seller to the transporter."""
    o = load(ctx, a["order"])
    expect(o, "pickup")
    party(ctx, o, "transporter")
    move(ctx, o, "custody", o["transporter"])
    transition(ctx, o, "picked_up", "in_transit")
    return {"order": o["id"], "state": o["state"]}


@method(roles=ANY_PARTICIPANT, reads=_reads_deliver, args={
    **_ORDER, "quantity": Int(optional=True, min=0, max=10**9,
                              doc="default: all the rest; 0 only to close a short delivery"),
    "final": Bool(optional=True, doc="no more will come (a short delivery; v2: name the "
                  "quantity, 0 if nothing more arrived)"),
    "proof": Str(optional=True, max_len=128, doc="proof-of-delivery reference or hash"),
}, errors=(NotFound, Forbidden, InvalidState, ValidationError))
def deliver(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Transporter: report goods handed to the buyer. Once all (or, if final, the last
    part) arrived, custody moves to the buyer and the release period starts. Goods under a
    customs declaration are handed over only once it is cleared."""
    o = load(ctx, a["order"])
    expect(o, "deliver")
    party(ctx, o, "transporter")
    held = customs_hold(ctx, o["id"])
    if held is not None:
        raise InvalidState(f"order {o['id']}'s goods are under customs declaration {held[0]}, "
                           f"which is {held[1]}, not cleared", current=o["state"],
                           declaration=held[0], customs=held[1])
    remaining = o["quantity"] - o["delivered"]
    q = _delivered_now(ctx, o, a.get("quantity"), a.get("final", False))
    q = remaining if q is None else q
    if q > remaining:
        raise ValidationError(f"only {remaining} of order {o['id']} are undelivered",
                              arg="quantity")
    delivered = o["delivered"] + q
    if delivered < o["quantity"] and not a.get("final", False):
        transition(ctx, o, "partially_delivered", delivered=delivered)
        return {"order": o["id"], "state": o["state"], "delivered": delivered}
    on_time = int(ctx.time <= o["latest"])
    move(ctx, o, "custody", o["buyer"])
    bump(ctx, o["seller"], deliveries=1, on_time=on_time)
    bump(ctx, o["transporter"], hauls=1, hauls_on_time=on_time)
    due = ctx.time + release_after(ctx)
    # v2 fixes the release time now; v1 read the period again at release
    fixed = {"release_at": due} if ctx.version >= 2 else {}
    transition(ctx, o, "delivered", "delivered", delivered=delivered, delivered_at=ctx.time,
               on_time=on_time, proof=a.get("proof"), **fixed)
    return {"order": o["id"], "state": o["state"], "delivered": delivered, "release_at": due}


def _delivered_now(ctx: Ctx, o: dict[str, Any], q: int | None, final: bool) -> int | None:
    """The quantity a delivery report adds (None: all the rest). v1 read a final report
    without a quantity as "all the rest arrived", so a transporter closing a short delivery
    that way had the seller paid in full: v2 wants the quantity named, and 0 closes a
    partial delivery with nothing more (nothing at all arrived: that is a dispute)."""
    if ctx.version < 2:
        if q == 0:  # (the schema of v1 took 1 and up)
            raise ValidationError("quantity must be between 1 and 1000000000", arg="quantity")
        return q
    if final and q is None:
        raise ValidationError(f"a final delivery of order {o['id']} names the quantity that "
                              "arrived with it (0 if none)", arg="quantity")
    if q == 0 and not (final and o["delivered"] > 0):
        raise ValidationError(f"quantity 0 only closes a partial delivery of order {o['id']} "
                              "as final (if nothing arrived, dispute the order)",
                              arg="quantity", delivered=o["delivered"])
    return q


def _pay(ctx: Ctx, o: dict[str, Any], event: str, lapsed: int) -> dict[str, Any]:
    """Execute_Payment(): ownership to the buyer; the escrow pays the seller for what was
    delivered (after repaying any financing), the transporter its freight and the buyer
    back for any undelivered part."""
    move(ctx, o, "ownership", o["buyer"])
    goods = o["unit_price"] * o["delivered"]
    paid = settle(ctx, o, seller=goods, transporter=o["freight"],
                  buyer=o["unit_price"] * (o["quantity"] - o["delivered"]))
    bump(ctx, o["seller"], o["currency"], goods, sales=1)
    bump(ctx, o["buyer"], purchases=1, lapsed=lapsed)
    bump(ctx, o["transporter"], hauled=1)
    transition(ctx, o, event, "completed", settled_at=ctx.time, lapsed=lapsed)
    return {"order": o["id"], "state": o["state"], "paid": paid}


@method(roles=ANY_PARTICIPANT, reads=_reads_payout, args=_ORDER,
        errors=(NotFound, Forbidden, InvalidState))
def confirm(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer: confirm receipt; the escrow pays out at once (eq. 7: if Received = True then
    Execute_Payment) and ownership moves to the buyer."""
    o = load(ctx, a["order"])
    expect(o, "confirm")
    party(ctx, o, "buyer")
    return _pay(ctx, o, "confirmed", 0)


@method(roles=ANY_PARTICIPANT, reads=_reads_payout, args=_ORDER,
        errors=(NotFound, InvalidState))
def release(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Anyone, once a delivery is ``release_after_ms`` old with neither confirmation nor
    dispute nor return: pay out as confirmation would (the buyer's silence is consent)."""
    o = load(ctx, a["order"])
    expect(o, "release")
    due = release_due(ctx, o)
    if ctx.time < due:
        raise InvalidState(f"order {o['id']} is delivered but unconfirmed: it may be "
                           f"released from {due}", current=o["state"], release_at=due)
    hold_on_breach(ctx, o)  # a cold-chain breach holds the payout for confirmation/dispute
    return _pay(ctx, o, "released", 1)


@method(roles=ANY_PARTICIPANT, args={**_ORDER, "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState))
def cancel(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer or seller, before dispatch: the escrow is refunded to the buyer in full. Not
    the seller once it was advanced money against the escrow (the financier's collateral),
    unless (rules v3) the buyer has been revoked since. Rules v3: a consortium admin too,
    once neither buyer nor seller is an active participant (refused naming who still is).
    Rules v2: the cancellation of a financed order repays the financier from the seller's
    balance, as far as it goes (answered as ``financing``)."""
    o = load(ctx, a["order"])
    expect(o, "cancel")
    financier = financed_by(ctx, o)
    if canceller(ctx, o) == "seller" and seller_barred_by(ctx, o) is not None:
        raise Forbidden(f"order {o['id']} is financed by {financier} against its "
                        "escrow: only the buyer may cancel it now", financier=financier)
    total = o["unit_price"] * o["quantity"] + o["freight"]
    paid = settle(ctx, o, seller=0, buyer=total, transporter=0)
    transition(ctx, o, "cancelled", "cancelled", settled_at=ctx.time,
               reason=a.get("reason", ""))
    out = {"order": o["id"], "state": o["state"], "paid": paid}
    if financier is not None and ctx.version >= 2:
        lien = ctx.read("credit", lien_key(o["id"]))
        out["financing"] = {k: lien[k] for k in ("state", "repaid", "recovered")}
    return out


def seller_barred_by(ctx: Ctx, o: dict[str, Any]) -> str | None:
    """The financier whose advance against order ``o``'s escrow bars its seller from
    cancelling it (the escrow is its collateral), or None: no advance, or (rules v3) the
    buyer is no longer an active participant. (The web's row buttons ask it too.)"""
    financier = financed_by(ctx, o)
    if financier is None or (ctx.version >= 3 and _gone(ctx, o["buyer"])):
        return None
    return financier


def canceller(ctx: Ctx, o: dict[str, Any]) -> str:
    """Who cancels order ``o``: its buyer or seller, or (rules v3) a consortium admin once
    neither is an active participant. An order both of whose parties were revoked could
    otherwise never be cancelled (nor dispatched, nor delivered to its buyer), and its
    escrow would stay for good. An admin still meets a party able to act for itself with a
    refusal naming it. (The web's row buttons ask it too, for an admin.)"""
    if ctx.version < 3 or ctx.signer in (o["buyer"], o["seller"]) or not ctx.has_role(
            "admin"):
        return party(ctx, o, "buyer", "seller")
    active = [r for r in ("buyer", "seller") if not _gone(ctx, o[r])]
    if active:
        who = " and its ".join(f"{r} {o[r]}" for r in active)
        raise Forbidden(f"order {o['id']}'s {who} {'is' if len(active) == 1 else 'are'} "
                        "still active: a consortium admin cancels an order only once "
                        "neither its buyer nor its seller is; ask them to", active=active)
    return "admin"


def _gone(ctx: Ctx, did: str) -> bool:
    """Whether party ``did`` is no longer an active participant. Rules v3 let the seller
    cancel a financed order whose buyer is gone (the buyer can neither cancel it nor agree a
    new window once the old one closed, nor receive the goods, so escrow and lien would stay
    stuck), and an admin an order whose buyer and seller both are. The refund goes to the
    revoked buyer's account, for its organisation (``payments.hand_over_balance``); the lien
    is settled as for the buyer's cancellation."""
    p = ctx.read("identity", participant_key(did))
    return p is None or p["status"] != "active"


_EVENTS = ("placed", "dispatched", "picked_up", "partially_delivered", "delivered",
           "confirmed", "released", "cancelled", *orders_schedule.EVENTS,
           *orders_returns.EVENTS)

CONTRACT = Contract.of(
    "orders", __doc__ or "",
    [place, dispatch, pickup, deliver, confirm, release, cancel, *orders_schedule.METHODS,
     *orders_returns.METHODS],
    tables=TABLES, versions=(1, 2, 3, 4, 5, 6),
    projectors={
        **{f"orders.{e}": project_transition(e) for e in _EVENTS},
        "orders.money": project_money,
        "orders.custody_moved": project_transfer,
        "orders.lien_settled": project_lien,
    },
)
