"""customs — import declarations assessed against published tariffs and exchange rates,
duties and VAT paid through the ledger, and the authority's decision (paper 004: customs
clearance, tariffs and taxes, multi-currency settlement of cross-border e-commerce).

A customs authority (an organisation whose members hold the ``customs`` role) publishes,
per destination country and HS code prefix, a duty rate and a VAT rate in basis points and
a de-minimis value, each effective from a time (never before it is published, so what was
in force when a declaration was assessed is never rewritten). A consortium admin appoints
each country's authority and the currency of its tariffs (``appoint``): nobody becomes an
authority by publishing first. Likewise an admin appoints, per quote currency, the
``settlement`` organisation (a bank) whose members publish exchange rates into it
(``appoint_rates``), as integers scaled by 10^9 — quote minor units per base
minor unit, so 1 EUR cent = 1.085 USD cents is 1_085_000_000 — ledger data, so every node
and the audit convert identically.

A seller, platform or transporter declares goods for import (as a party to the order if it
names one; then it must declare the order's transaction value, see ``_customs_assess``),
naming only batches it or its organisation owns or holds, besides the order's own lot: no
one puts another's goods under customs control.
The declaration is assessed at once, in integer arithmetic with one rounding
rule — half-up to the minor unit, per line, at each step; see ``_customs_assess`` — and the
assessment, line by line, is recorded with the tariff prefix matched, the rates, the
exchange rate and the amounts. The declarant pays duties + VAT into an escrow
(``escrow:customs:<id>``); clearing pays it to the authority organisation's account
(``org:<org>``, paid out by its bank with ``payments.withdraw``), rejecting refunds it.
Holding the money in escrow rather than paying the authority at once means a rejected
declaration is always refunded, whatever the authority has done with its account since.
Only members of the destination's authority clear, hold (with a reason), release or reject;
clearing needs the duties paid (unless nothing is due). Every transition is an event and a
``customs_history`` row; an illegal one fails with ``invalid_state`` naming the current
state. A declaration naming an order holds its goods until cleared (``customs_hold``:
``orders.deliver`` waits); an order has one declaration at a time, a new one only after a
rejection. The hold also follows the goods, whatever their order's state (a ruling may end
it): while a declaration naming a batch (or an order of it) is open, custody of the batch
goes only to carriers, warehouses or customs, never to the declared order's buyer side
(``check_custody``, one read keyed by batch, written at declare, removed at clear and
reject; a product order's lot chosen at dispatch after the declaration joins it then).

Rules v2 and later (new ledgers start at the newest; older ones after ``rules.adopt``):
every currency, of a country's tariffs (``appoint``, ``set_tariff``), an exchange rate
(``appoint_rates``, ``set_rate``) or a declaration's line, must be an ISO 4217 code
(``payments.ISO_4217``, the only money payments v2 creates), else ``validation_error``;
declaring into a country whose tariffs were appointed under v1 in another currency is
``invalid_state``. v1 took any three capitals.

Rules v3: a country's declarations are decided by its **current** authority. Appointing
another organisation (``appoint``) hands over the declarations still pending too: the new
authority holds, releases, clears or rejects them, and the one relieved gets ``forbidden``
naming the current one (details ``authority``), as does any other organisation. The first
decision of the new authority on such a declaration records the hand-over (its event, and
the ``customs_declarations`` row, name the new ``authority``), and clearing pays the duties
to the current authority's account: the money is the country's revenue, collected by
whoever answers for the country's customs when the goods are released, and until then it
sat in the declaration's escrow, never in the old authority's account, so there is nothing
to take back from it. Under v1 and v2 the authority named at declaration decides, whoever
was appointed since.

Rules v4: a tariff or exchange-rate version can no longer take effect behind an assessment
already made. A transaction's time is its signer's, anywhere in the node's window around
its clock, so under v1-v3 a version published with a time minutes in the past (each starts
at the later of its requested time and its transaction's) could be in force from before a
declaration already assessed with the previous one, and state and the tables would then
say another rate applied than the one the assessment used. Under v4 each assessment
raises a high-water mark: per country, the latest time a declaration into it was assessed
(``tariffs_used`` in ``c/<CC>``, read with the tariffs anyway), and per exchange rate, the
latest time an assessment converted at it (``used`` on the rate version). A new version
starts at the latest of its requested time, its transaction's and the mark + 1 ms; the
receipt (``effective_from``, ``time``), the event and the tables give the start used.
Marks start with the adoption: assessments made under v3 left none.

Rules v5 change only words: a refusal naming an amount (a
conversion, customs value or duty and VAT over the limit; a declared value that is not the
order's price; clearing before the duties are paid) gives its currency and unit and the
amount in major units, "1250 CNY minor units (12.50 CNY)", where v1 to v4 said "1250 CNY"
(ISO 4217's exponent: 2 digits unless the currency has 0, 3 or 4). Receipts store the
words, so v1 to v4 keep theirs.

Rules v6 (new ledgers start there) refuse a currency not in ISO 4217 (v2's check, which
needs no state) before execution (``runtime`` admission checks, ``admit_iso``): same error
and words, but the submitter gets them at once and no block records a failed transaction;
v2 to v5 ledgers record it, as they did. Declaring into a country whose tariffs are in a
v1 currency (``invalid_state``) reads the country, so a block still records that refusal.

Keys, states and the rounding helper are in ``_customs_model``; the appointing
and publishing methods in ``_customs_publish``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from supplyledger.contracts.builtin._customs_assess import (
    assess,
    check_transaction_value,
    prefixes,
)
from supplyledger.contracts.builtin._customs_model import (
    COUNTRY,
    DECL_ID,
    INCOTERMS,
    MAX_LINES,
    admit_iso,
    authority_account,
    batch_key,
    country_key,
    decl_key,
    escrow_of,
    expect,
    hold_batches,
    hs_code,
    iso_money,
    load,
    money,
    order_decl_key,
    require_authority,
    require_current_authority,
    tariff_key,
    transition,
    unhold_batches,
)
from supplyledger.contracts.builtin._customs_publish import (
    appoint,
    appoint_rates,
    set_rate,
    set_tariff,
)
from supplyledger.contracts.builtin._customs_tables import PROJECTORS, TABLES
from supplyledger.contracts.builtin._orders_model import ORDER_ID, org_of, party
from supplyledger.contracts.builtin._orders_model import load as load_order
from supplyledger.contracts.builtin.custody import holding_key, holds
from supplyledger.contracts.builtin.payments import CURRENCY, ISO_4217, Amount, pay_out
from supplyledger.contracts.builtin.payments import hold as hold_money
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Enum, Int, List, Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationError,
    ValueMismatch,
)
from supplyledger.gs1 import canonical_digital_link

__all__ = ["CONTRACT", "DECLARANTS"]

DECLARANTS = ("supplier", "manufacturer", "platform", "transporter")
_REASON = Str(max_len=500)
_DECL = {"declaration": DECL_ID}
# Order states in which its goods have not yet been handed to the buyer.
_DECLARABLE = ("placed", "dispatched", "in_transit")


# -- declaring ----------------------------------------------------------------------------------

_LINE = Obj(fields={
    "hs": Str(max_len=16, doc="HS code, 6, 8 or 10 digits, dots allowed"),
    "description": Str(max_len=200), "quantity": Int(min=1, max=10**9),
    "value": Amount(doc="in minor units of the line's currency"), "currency": CURRENCY})


def _prepare_declare(a: dict[str, Any]) -> dict[str, Any]:
    if a["origin"] == a["destination"]:
        raise ValidationError("origin and destination are the same country",
                              arg="destination")
    lines = [{**ln, "hs": hs_code(ln["hs"], f"lines[{i}].hs", min_digits=6)}
             for i, ln in enumerate(a["lines"])]
    # A batch's one spelling, the canonical Digital Link (as products keys it).
    batches = sorted({canonical_digital_link(b) or b for b in a.get("batches", [])})
    return {**a, "lines": lines, "batches": batches, "order": a.get("order")}


def _reads_declare(a: dict[str, Any]) -> list[str]:
    cc = a["destination"]
    keys = {f"customs/{decl_key(a['id'])}", f"customs/{country_key(cc)}"}
    if a["order"] is not None:
        keys.add(f"customs/{order_decl_key(a['order'])}")
    keys.update(f"customs/{batch_key(b)}" for b in a["batches"])
    keys.update(f"custody/{holding_key(b)}" for b in a["batches"])
    keys.update(f"customs/{tariff_key(cc, p)}" for ln in a["lines"] for p in prefixes(ln["hs"]))
    return sorted(keys)


@method(roles=DECLARANTS, prepare=_prepare_declare, reads=_reads_declare, args={
    "id": DECL_ID, "origin": COUNTRY, "destination": COUNTRY,
    "order": replace(ORDER_ID, optional=True, doc="the order shipped, if any"),
    "batches": List(optional=True, item=Str(max_len=300), max_items=20,
                    doc="batch ids (canonical LGTIN) of the goods"),
    "lines": List(item=_LINE, min_items=1, max_items=MAX_LINES),
    "incoterm": Enum(values=INCOTERMS, doc="Incoterms 2020 rule of the sale"),
}, errors=(AlreadyExists, NotFound, Forbidden, ValidationError, AmountError, ValueMismatch,
           InvalidState), admit=admit_iso("lines"))
def declare(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Seller, platform or transporter: declare goods for import; assessed at once, each
    line explained (HS prefix matched, rates, exchange rate, amounts). Naming an order
    (before delivery), declare its price (``value_mismatch`` otherwise). Until decided, the
    batches named and the order's stay under customs control (custody only to carriers,
    warehouses)."""
    if ctx.exists(decl_key(a["id"])):
        raise AlreadyExists(f"declaration {a['id']} already exists")
    country = ctx.get(country_key(a["destination"]))
    if country is None:
        raise NotFound(f"{a['destination']} has no customs authority on the ledger",
                       country=a["destination"])
    for i, ln in enumerate(a["lines"]):
        iso_money(ctx, ln["currency"], f"lines[{i}].currency")
    if ctx.version >= 2 and country["currency"] not in ISO_4217:  # appointed under v1
        raise InvalidState(f"the tariffs of {a['destination']} are in {country['currency']}, "
                           "not an ISO 4217 currency: no duties can be paid in it",
                           current=country["currency"], country=a["destination"])
    order = None if a["order"] is None else load_order(ctx, a["order"])
    if order is not None:
        party(ctx, order, "seller", "platform", "transporter")
        # Declaring an order names its lot without the ownership check below: only while
        # the goods are on their way, not once they reached (or went back from) the buyer.
        if order["state"] not in _DECLARABLE:
            raise InvalidState(f"order {a['order']} is {order['state']}: only an order on "
                               f"its way ({', '.join(_DECLARABLE)}) is declared",
                               current=order["state"], order=a["order"])
        earlier = ctx.get(order_decl_key(a["order"]))
        if earlier is not None and load(ctx, earlier)["state"] != "rejected":
            raise AlreadyExists(f"order {a['order']} is already declared in {earlier}",
                                order=a["order"], declaration=earlier)
        ctx.put(order_decl_key(a["order"]), a["id"])
    for b in a["batches"]:
        if ctx.read("products", f"b/{b}") is None:
            raise NotFound(f"no batch {b}")
        # Else anyone could freeze others' goods under customs control until decided.
        if (order is None or b != order["batch"]) and not holds(
                ctx, ctx.read("custody", holding_key(b))):
            raise Forbidden(f"batch {b} is neither owned nor held by {ctx.signer} or its "
                            "organisation, nor its order's: only goods one has are declared",
                            batch=b)
    res = assess(ctx, country, a["lines"])
    if order is not None:
        check_transaction_value(ctx, order, a["lines"], res)
    d = {"id": a["id"], "state": "assessed", "declarant": ctx.signer, "origin": a["origin"],
         "destination": a["destination"], "authority": country["authority"],
         "incoterm": a["incoterm"], "order": a["order"], "batches": a["batches"],
         "assessment": res, "due": res["due"], "currency": res["currency"], "paid": 0,
         "held_from": None, "declared_at": ctx.time}
    buyer = None if order is None else order["buyer"]
    held = sorted({*a["batches"], *([order["batch"]] if order and order["batch"] else [])})
    hold_batches(ctx, d, held, buyer, None if buyer is None else org_of(ctx, buyer))
    ctx.put(decl_key(a["id"]), d)
    ctx.emit("declared", declaration=a["id"], state="assessed", origin=a["origin"],
             destination=a["destination"], authority=country["authority"],
             incoterm=a["incoterm"], order=a["order"], batches=a["batches"], assessment=res)
    return {"declaration": a["id"], "state": "assessed", **res}


@method(roles=ANY_PARTICIPANT, args=_DECL, errors=(NotFound, Forbidden, InvalidState,
                                                    InsufficientFunds))
def pay(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Declarant: pay the duties and VAT assessed, in the destination's currency, into the
    declaration's escrow (to the authority on clearance, back on rejection)."""
    d = load(ctx, a["declaration"])
    expect(d, "pay")
    if d["declarant"] != ctx.signer:
        raise Forbidden(f"only the declarant {d['declarant']} pays declaration {d['id']}")
    if d["due"] == 0:
        raise InvalidState(f"nothing is due on declaration {d['id']}: it can be cleared "
                           "without payment", current=d["state"])
    hold_money(ctx, escrow_of(d["id"]), ctx.signer, d["currency"], d["due"], "customs duties")
    transition(ctx, d, "paid", "paid", paid=d["due"])
    return {"declaration": d["id"], "state": "paid", "paid": d["due"],
            "currency": d["currency"]}


# -- the authority's decisions ------------------------------------------------------------------

def _decide(ctx: Ctx, a: dict[str, Any],
            action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The declaration ``action`` is about, once the signer is of its authority and the
    declaration's state allows the action, and the fields its transition event must carry
    beyond the action's own: rules v3 decide by the country's current authority, and a
    declaration passed to it records it (``authority``) at the first decision."""
    d = load(ctx, a["declaration"])
    if ctx.version < 3:
        require_authority(ctx, d)
        expect(d, action)
        return d, {}
    current = require_current_authority(ctx, d)
    expect(d, action)
    if current == d["authority"]:
        return d, {}
    d["authority"] = current  # clear pays the current authority's account
    return d, {"authority": current}


@method(roles="customs", args={**_DECL, "reason": _REASON},
        errors=(NotFound, Forbidden, InvalidState))
def hold(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Authority: hold a declaration (for inspection, documents...), with a reason."""
    d, passed = _decide(ctx, a, "hold")
    transition(ctx, d, "held", "held", held_from=d["state"], reason=a["reason"], **passed)
    return {"declaration": d["id"], "state": "held"}


@method(roles="customs", args=_DECL, errors=(NotFound, Forbidden, InvalidState))
def release(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Authority: lift a hold; the declaration returns to the state it was held in."""
    d, passed = _decide(ctx, a, "release")
    transition(ctx, d, "released", d["held_from"], held_from=None, **passed)
    return {"declaration": d["id"], "state": d["state"]}


@method(roles="customs", args=_DECL, errors=(NotFound, Forbidden, InvalidState))
def clear(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Authority: clear the goods; the duties paid go to the authority's account (rules v3:
    the country's current authority's)."""
    d, passed = _decide(ctx, a, "clear")
    if d["state"] == "assessed" and d["due"] > 0:
        due = (money(d["due"], d["currency"]) if ctx.version >= 5
               else f"{d['due']} {d['currency']}")
        raise InvalidState(f"declaration {d['id']} is assessed: {due} of duties and VAT "
                           "must be paid before clearance", current=d["state"], due=d["due"])
    pay_out(ctx, escrow_of(d["id"]), authority_account(d["authority"]), d["paid"],
            "customs duties")
    unhold_batches(ctx, d)
    transition(ctx, d, "cleared", "cleared", cleared_at=ctx.time, **passed)
    return {"declaration": d["id"], "state": "cleared", "collected": d["paid"],
            "account": authority_account(d["authority"])}


@method(roles="customs", args={**_DECL, "reason": _REASON},
        errors=(NotFound, Forbidden, InvalidState))
def reject(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Authority: refuse the goods, with a reason; anything paid is refunded."""
    d, passed = _decide(ctx, a, "reject")
    refund = d["paid"]
    pay_out(ctx, escrow_of(d["id"]), d["declarant"], refund, "customs refund")
    unhold_batches(ctx, d)
    transition(ctx, d, "rejected", "rejected", reason=a["reason"], refunded=refund, **passed)
    return {"declaration": d["id"], "state": "rejected", "refunded": refund}


CONTRACT = Contract.of(
    "customs", __doc__ or "",
    [appoint, appoint_rates, set_tariff, set_rate, declare, pay, hold, release, clear, reject],
    tables=TABLES, projectors=PROJECTORS, versions=(1, 2, 3, 4, 5, 6),
)
