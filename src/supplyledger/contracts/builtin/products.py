"""products — product types (GTIN), batches/lots (LGTIN), serialised items (SGTIN), logistic
units (SSCC), locations (GLN) and certifications (paper 001 Alg. 2; paper 004).

Only manufacturers create product types and batches; a product or batch is declared for sale
only by its owner (Alg. 2: anyone else is told the product owner is not correct). GS1 keys
are checked (length and check digit) in the prepare step, so the contract body only sees
valid, normalised ids: a batch's id is its canonical GS1 Digital Link
(``https://id.gs1.org/01/{gtin14}/10/{lot}``). Creating a batch also opens its custody
holding (creator owns and holds it), which the custody and trace contracts build on.
Dates are checked to be real calendar dates, in order. A certification attests a third
party's finding, so its issuer may not be of the organisation that owns or holds the batch.
A registered logistic unit is its organisation's: trace takes events on it only from that
organisation (or a holder of the goods packed in it), so a unit another organisation's events
already use cannot be registered. A batch's row shows its mass balance (consumed, packed,
remaining), which the trace contract keeps; its declared quantity is kept as canonical
decimal text (no leading or trailing zeros), as those are.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from supplyledger.contracts.builtin.custody import holding_key, initial_holding, initial_ops
from supplyledger.contracts.builtin.identity import check_prefix
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import List, Obj, Str
from supplyledger.epcis._common import canonical_number
from supplyledger.errors import (
    AlreadyExists,
    Forbidden,
    InvalidState,
    NotFound,
    PrefixOwned,
    ValidationError,
)
from supplyledger.gs1 import EPC, validate_gln, validate_gtin, validate_sscc

__all__ = ["CONTRACT", "batch_id", "item_id"]

_DEC = r"-?[0-9]+(\.[0-9]+)?"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_LOT = Str(max_len=20, pattern=r"[A-Za-z0-9!'()*+,\-.:;=_]+", doc="lot number (GS1 AI 10)")
_GTIN = Str(min_len=8, max_len=14, pattern="[0-9]+", doc="GTIN-8/12/13/14 with check digit")
_LIMIT = Obj(fields={"min": Str(optional=True, max_len=20, pattern=_DEC),
                     "max": Str(optional=True, max_len=20, pattern=_DEC),
                     "uom": Str(optional=True, max_len=3)})


def batch_id(gtin: str, lot: str) -> str:
    """Canonical id of a batch: the LGTIN's GS1 Digital Link."""
    return EPC("lgtin", validate_gtin(gtin), lot=lot).canonical


def item_id(gtin: str, serial: str) -> str:
    return EPC("sgtin", validate_gtin(gtin), serial=serial).canonical


def _date(args: dict[str, Any], name: str) -> str:
    """A real calendar date (the schema only checks its shape)."""
    try:
        date.fromisoformat(args[name])
    except ValueError:
        raise ValidationError(f"{name} {args[name]} is not a date", arg=name) from None
    return str(args[name])


def _dates_in_order(args: dict[str, Any], first: str, last: str) -> None:
    for name in (first, last):
        if name in args:
            _date(args, name)
    if first in args and last in args and args[last] < args[first]:
        raise ValidationError(f"{last} {args[last]} is before {first} {args[first]}", arg=last)


def _with_gtin(args: dict[str, Any]) -> dict[str, Any]:
    _dates_in_order(args, "produced", "expiry")
    out = dict(args)
    out["gtin"] = validate_gtin(args["gtin"])
    if "lot" in args:
        out["batch"] = batch_id(out["gtin"], args["lot"])
    if "quantity" in args:  # one spelling per value ("007.50" is "7.5"), as balances are
        out["quantity"] = canonical_number(args["quantity"])
    if "serials" in args:
        out["items"] = [item_id(out["gtin"], s) for s in args["serials"]]
    return out


def _product(ctx: Ctx, gtin: str) -> dict[str, Any]:
    p = ctx.get(f"t/{gtin}")
    if p is None:
        raise NotFound(f"unknown GTIN {gtin}: no such product type")
    return p  # type: ignore[no-any-return]


def _batch(ctx: Ctx, batch: str) -> dict[str, Any]:
    b = ctx.get(f"b/{batch}")
    if b is None:
        raise NotFound(f"no batch {batch}")
    return b  # type: ignore[no-any-return]


@method(roles="manufacturer", prepare=_with_gtin, args={
    "gtin": _GTIN, "name": Str(max_len=200),
    "limits": Obj(optional=True, doc="sensor limits per measurement type, e.g. "
                  '{"Temperature": {"min": "0", "max": "8", "uom": "CEL"}}'),
}, errors=(AlreadyExists,))
def create_product(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Create a product type; the signing manufacturer becomes its owner."""
    gtin = args["gtin"]
    if ctx.exists(f"t/{gtin}"):
        raise AlreadyExists(f"product {gtin} already exists")
    limits = args.get("limits", {})
    for name, lim in limits.items():
        _LIMIT.check(f"limits.{name}", lim)
    rec = {"gtin": gtin, "name": args["name"], "owner": ctx.signer, "org": ctx.org or "",
           "limits": limits, "for_sale": False, "since": ctx.time}
    ctx.put(f"t/{gtin}", rec)
    ctx.emit("product_created", gtin=gtin, name=args["name"], owner=ctx.signer)
    return {"gtin": gtin}


@method(roles="manufacturer", prepare=_with_gtin, args={
    "gtin": _GTIN, "lot": _LOT,
    "quantity": Str(optional=True, max_len=24, pattern=r"[0-9]+(\.[0-9]+)?",
                    doc="decimal text, not negative"),
    "uom": Str(optional=True, max_len=3, doc="UN/CEFACT unit, e.g. KGM"),
    "produced": Str(optional=True, max_len=10, pattern=_DATE),
    "expiry": Str(optional=True, max_len=10, pattern=_DATE),
}, errors=(NotFound, Forbidden, AlreadyExists))
def create_batch(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Create a batch/lot of a product type owned by the signer's organisation."""
    p = _product(ctx, args["gtin"])
    if p["org"] != (ctx.org or ""):
        raise Forbidden(f"product {p['gtin']} belongs to organisation {p['org']}")
    bid = args["batch"]
    if ctx.exists(f"b/{bid}"):
        raise AlreadyExists(f"batch {bid} already exists")
    rec = {"id": bid, "gtin": p["gtin"], "lot": args["lot"], "creator": ctx.signer,
           "quantity": args.get("quantity", ""), "uom": args.get("uom", ""),
           "produced": args.get("produced", ""), "expiry": args.get("expiry", ""),
           "for_sale": False, "since": ctx.time}
    ctx.put(f"b/{bid}", rec)
    holding = initial_holding(ctx.signer, ctx.org, ctx.time)
    ctx.put_other("custody", holding_key(bid), holding)
    ctx.emit("batch_created", id=bid, gtin=p["gtin"], lot=args["lot"],
             quantity=rec["quantity"], uom=rec["uom"], holding=holding)
    return {"batch": bid}


@method(roles=ANY_PARTICIPANT, args={
    "id": Str(max_len=300, doc="a GTIN (product type) or a batch id"),
}, errors=(NotFound, Forbidden, InvalidState))
def declare_for_sale(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Declare a product type or batch for sale: only its owner (paper 001 Alg. 2)."""
    ident = args["id"]
    if ident.isdigit():
        ident = ident.zfill(14)
        rec, key = _product(ctx, ident), f"t/{ident}"
        owner = rec["owner"]
    else:
        rec, key = _batch(ctx, ident), f"b/{ident}"
        owner = ctx.read("custody", holding_key(ident))["owner"]
    if owner != ctx.signer:
        raise Forbidden(f"product owner is not correct: {ident} is owned by {owner}, "
                        f"not {ctx.signer}")
    if rec["for_sale"]:
        raise InvalidState(f"{ident} is already for sale", current="for_sale")
    rec["for_sale"] = True
    ctx.put(key, rec)
    ctx.emit("for_sale", id=ident, kind="product" if key[0] == "t" else "batch")
    return {"id": ident, "for_sale": True}


def _owner_of(ctx: Ctx, batch: str) -> None:
    _batch(ctx, batch)
    h = ctx.read("custody", holding_key(batch))
    if h["owner_org"] != (ctx.org or ""):
        raise Forbidden(f"batch {batch} is owned by organisation {h['owner_org']}")


@method(roles="manufacturer", prepare=_with_gtin, args={
    "gtin": _GTIN, "lot": _LOT,
    "serials": List(item=Str(max_len=20, pattern=r"[A-Za-z0-9!'()*+,\-.:;=_]+"),
                    min_items=1, max_items=1000),
}, errors=(NotFound, Forbidden, AlreadyExists))
def commission_items(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register serialised items (SGTINs) of a batch, so events naming them reach it."""
    _owner_of(ctx, args["batch"])
    for item in args["items"]:
        if ctx.exists(f"i/{item}"):
            raise AlreadyExists(f"item {item} already exists")
        ctx.put(f"i/{item}", args["batch"])
    ctx.emit("items", batch=args["batch"], items=args["items"])
    return {"batch": args["batch"], "items": len(args["items"])}


def _place(args: dict[str, Any]) -> dict[str, Any]:
    out = dict(args)
    if "gln" in args:
        out["gln"] = validate_gln(args["gln"])
    if "sscc" in args:
        out["sscc"] = EPC("sscc", validate_sscc(args["sscc"])).canonical
    return out


@method(roles=ANY_PARTICIPANT, prepare=_place, args={
    "gln": Str(min_len=13, max_len=13, pattern="[0-9]+"), "name": Str(max_len=200),
}, errors=(AlreadyExists,))
def register_location(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register a location (GLN) of the signer's organisation."""
    if ctx.exists(f"l/{args['gln']}"):
        raise AlreadyExists(f"location {args['gln']} already exists")
    ctx.put(f"l/{args['gln']}", {"name": args["name"], "org": ctx.org or ""})
    ctx.emit("location", gln=args["gln"], name=args["name"], org=ctx.org or "")
    return {"gln": args["gln"]}


@method(roles=ANY_PARTICIPANT, prepare=_place, args={
    "sscc": Str(min_len=18, max_len=18, pattern="[0-9]+"),
}, errors=(AlreadyExists, PrefixOwned))
def register_unit(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register a logistic unit (SSCC) of the signer's organisation; trace aggregation
    events fill it with batches. Not one another organisation's trace events already use,
    nor one under a GS1 company prefix recorded for another organisation."""
    if ctx.exists(f"u/{args['sscc']}"):
        raise AlreadyExists(f"logistic unit {args['sscc']} already exists")
    check_prefix(ctx, args["sscc"])
    claim = ctx.read("trace", f"o/{args['sscc']}")
    if claim is not None and claim["org"] != (ctx.org or "") and claim["by"] != ctx.signer:
        raise AlreadyExists(f"logistic unit {args['sscc']} is already in use by organisation "
                            f"{claim['org'] or claim['by']}")
    ctx.put(f"u/{args['sscc']}", {"owner": ctx.signer, "org": ctx.org or ""})
    ctx.emit("unit", id=args["sscc"], owner=ctx.signer)
    return {"sscc": args["sscc"]}


_CERT = Str(max_len=100, pattern=r"[A-Za-z0-9._:/-]+", doc="certificate number")


def _cert_dates(args: dict[str, Any]) -> dict[str, Any]:
    _dates_in_order(args, "valid_from", "valid_until")
    return args


@method(roles=("inspector", "auditor", "customs"), prepare=_cert_dates, args={
    "batch": Str(max_len=300), "certificate": _CERT, "scheme": Str(max_len=100),
    "valid_from": Str(max_len=10, pattern=_DATE), "valid_until": Str(max_len=10, pattern=_DATE),
}, errors=(ValidationError, NotFound, Forbidden, AlreadyExists))
def certify(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Attach a certification (organic, halal, ISO 22000, …) to a batch; signer = issuer,
    a third party: not of the organisation that owns or holds the batch."""
    _batch(ctx, args["batch"])
    h = ctx.read("custody", holding_key(args["batch"]))
    if (ctx.org or "") in (h["owner_org"], h["custodian_org"]):
        raise Forbidden(f"a certification is a third party's: organisation {ctx.org} owns "
                        f"or holds batch {args['batch']}")
    key = f"c/{args['batch']}/{args['certificate']}"
    if ctx.exists(key):
        raise AlreadyExists(f"certificate {args['certificate']} is already attached")
    cert = {k: args[k] for k in ("certificate", "scheme", "valid_from", "valid_until")}
    cert |= {"issuer": ctx.signer, "status": "valid"}
    ctx.put(key, cert)
    ctx.emit("certified", batch=args["batch"], **cert)
    return {"batch": args["batch"], "certificate": args["certificate"]}


@method(roles=ANY_PARTICIPANT, args={
    "batch": Str(max_len=300), "certificate": _CERT, "reason": Str(max_len=500),
}, errors=(NotFound, Forbidden, InvalidState))
def revoke_certification(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Revoke a certification: only its issuer."""
    key = f"c/{args['batch']}/{args['certificate']}"
    cert = ctx.get(key)
    if cert is None:
        raise NotFound(f"no certificate {args['certificate']} on {args['batch']}")
    if cert["issuer"] != ctx.signer:
        raise Forbidden(f"certificate {args['certificate']} was issued by {cert['issuer']}")
    if cert["status"] == "revoked":
        raise InvalidState("certificate is already revoked", current="revoked")
    cert["status"] = "revoked"
    ctx.put(key, cert)
    ctx.emit("cert_revoked", batch=args["batch"], certificate=args["certificate"],
             reason=args["reason"])
    return {"certificate": args["certificate"], "status": "revoked"}


PRODUCTS = Table("products", (("gtin", "TEXT"), ("name", "TEXT"), ("owner", "TEXT"),
                              ("for_sale", "INTEGER"), ("since", "INTEGER"), ("tx", "TEXT")),
                 ("gtin",))
# consumed / packed / remaining: the lot's mass balance, kept by the trace contract (its
# ``balance`` events update these columns; "all"/"0" for a lot that declares no quantity).
BATCHES = Table("batches", (("id", "TEXT"), ("gtin", "TEXT"), ("lot", "TEXT"),
                            ("quantity", "TEXT"), ("uom", "TEXT"), ("consumed", "TEXT"),
                            ("packed", "TEXT"), ("remaining", "TEXT"), ("for_sale", "INTEGER"),
                            ("since", "INTEGER"), ("tx", "TEXT")), ("id",), (("gtin",),))
ITEMS = Table("serial_items", (("id", "TEXT"), ("batch", "TEXT"), ("tx", "TEXT")), ("id",),
              (("batch",),))
LOCATIONS = Table("gln_locations", (("gln", "TEXT"), ("name", "TEXT"), ("org", "TEXT")), ("gln",))
UNITS = Table("logistic_units", (("sscc", "TEXT"), ("owner", "TEXT"), ("tx", "TEXT")),
              ("sscc",))
CERTS = Table("certifications", (("batch", "TEXT"), ("certificate", "TEXT"), ("scheme", "TEXT"),
                                 ("issuer", "TEXT"), ("valid_from", "TEXT"),
                                 ("valid_until", "TEXT"), ("status", "TEXT"),
                                 ("reason", "TEXT")), ("batch", "certificate"))


def _batch_created(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("batches", (e["id"], e["gtin"], e["lot"], e["quantity"], e["uom"], "0", "0",
                               e["quantity"] or "all", 0, m.time, m.tx)),
            *initial_ops(e["id"], e["holding"], m)]


def _for_sale(e: dict[str, Any], m: EventMeta) -> list[Op]:
    table = "products" if e["kind"] == "product" else "batches"
    return [Update(table, (e["id"],), (("for_sale", 1),))]


CONTRACT = Contract.of(
    "products", __doc__ or "",
    [create_product, create_batch, declare_for_sale, commission_items, register_location,
     register_unit, certify, revoke_certification],
    tables=(PRODUCTS, BATCHES, ITEMS, LOCATIONS, UNITS, CERTS),
    projectors={
        "products.product_created": lambda e, m: [Upsert("products", (
            e["gtin"], e["name"], e["owner"], 0, m.time, m.tx))],
        "products.batch_created": _batch_created,
        "products.for_sale": _for_sale,
        "products.items": lambda e, m: [Upsert("serial_items", (i, e["batch"], m.tx))
                                        for i in e["items"]],
        "products.location": lambda e, m: [Upsert("gln_locations", (e["gln"], e["name"],
                                                                e["org"]))],
        "products.unit": lambda e, m: [Upsert("logistic_units", (e["id"], e["owner"], m.tx))],
        "products.certified": lambda e, m: [Upsert("certifications", (
            e["batch"], e["certificate"], e["scheme"], e["issuer"], e["valid_from"],
            e["valid_until"], "valid", ""))],
        "products.cert_revoked": lambda e, m: [Update("certifications", (
            e["batch"], e["certificate"]), (("status", "revoked"), ("reason", e["reason"])))],
    },
)
