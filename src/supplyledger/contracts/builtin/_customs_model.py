"""The customs contract's keys, argument types, integer rounding, versioned tables (tariffs
and exchange rates) and declaration state machine (no methods here).

State lives in the ``customs`` namespace:

* ``c/{CC}`` — a destination country: its authority (the organisation an admin appointed)
  and its currency; under rules v4 also ``tariffs_used``, the latest transaction time at
  which a declaration into it was assessed (its tariffs' high-water mark);
* ``t/{CC}/{prefix}`` and ``fx/{BASE}/{QUOTE}`` — versions of a tariff line and of an
  exchange rate, each in force from its ``from`` time until the next version's; under
  rules v4 a rate version an assessment converted at carries ``used``, the latest such
  transaction time (the pair's high-water mark is the greatest);
* ``d/{id}`` — a declaration with its assessment;
* ``o/{order}`` — the declaration an order's goods are under (the latest lodged);
* ``b/{batch}`` — the open declarations naming a batch (directly or as its order's): while
  there is one, custody of the batch stays under customs control (:func:`check_custody`);
* ``q/{CCY}`` — the organisation appointed to publish exchange rates into a currency.

A declaration's states and the actions that leave them (:data:`TRANSITIONS`)::

    from               action (who)                       to
    -                  declare (declarant)                assessed      assessment recorded
    assessed           pay (declarant)                    paid          duties + VAT -> escrow
    assessed, paid     hold (authority, with a reason)    held
    held               release (authority)                the state it was held from
    paid (or assessed  clear (authority)                  cleared       escrow -> authority
      if nothing due)
    assessed .. held   reject (authority, with a reason)  rejected      escrow -> declarant
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin.payments import iso_currency
from supplyledger.contracts.runtime import AdmitCheck, Ctx
from supplyledger.contracts.schema import Str
from supplyledger.errors import Forbidden, InvalidState, NotFound, ValidationError

__all__ = [
    "ADMIT_RULES",
    "BP",
    "COUNTRY",
    "DECL_ID",
    "INCOTERMS",
    "MAX_LINES",
    "MAX_VERSIONS",
    "RATE_SCALE",
    "ROUNDING",
    "TRANSITIONS",
    "admit_iso",
    "authority_account",
    "country_key",
    "decl_key",
    "escrow_of",
    "expect",
    "half_up",
    "hs_code",
    "in_force",
    "iso_money",
    "load",
    "mark_rate_used",
    "mark_tariffs_used",
    "money",
    "not_before",
    "rate_key",
    "rates_used",
    "require_authority",
    "require_current_authority",
    "schedule",
    "tariff_key",
    "tariffs_used",
    "transition",
]

BP = 10_000  # basis points in one
RATE_SCALE = 10**9  # an exchange rate of 1_085_000_000 is 1.085 quote minor units per base one
MAX_LINES = 50
MAX_OPEN_PER_BATCH = 16  # open declarations naming one batch (split consignments)
# Who may hold goods under an open declaration: they stay under customs control.
CUSTOMS_CONTROL = ("transporter", "warehouse", "customs")
MAX_VERSIONS = 8  # versions of one tariff line or rate kept (current + scheduled)
# A version superseded longer ago than this can no longer be in force for any admissible
# transaction (the node admits times within minutes of its clock), so it is dropped.
PRUNE_AFTER_MS = 24 * 3_600_000
ROUNDING = "half-up to the minor unit, per line, at each step (conversion, duty, VAT)"
INCOTERMS = ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")
COUNTRY = Str(min_len=2, max_len=2, pattern="[A-Z]{2}", doc="ISO 3166-1 alpha-2 code")
DECL_ID = Str(max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}",
              doc="declaration id chosen by the declarant (unique)")

# ISO 4217 exponents (digits of the minor unit) other than 2, for the words of rules v5's
# refusals: receipts store them, so the table is frozen with the rules (like ISO_4217).
_EXPONENTS = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                               "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
              **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
              "CLF": 4, "UYW": 4}


def money(minor: int, ccy: str) -> str:
    """Rules v5's words for an amount: its minor units, currency and unit, and the major
    amount, "1250 CNY minor units (12.50 CNY)" (v1 to v4 said "1250 CNY")."""
    e = _EXPONENTS.get(ccy, 2)
    whole, frac = divmod(abs(minor), 10**e)
    major = f"{'-' if minor < 0 else ''}{whole}{f'.{frac:0{e}d}' if e else ''}"
    return f"{minor} {ccy} minor units ({major} {ccy})"


# action -> (states it may start from, state it leads to); ``None``: back to ``held_from``.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "pay": (("assessed",), "paid"),
    "hold": (("assessed", "paid"), "held"),
    "release": (("held",), None),
    "clear": (("paid", "assessed"), "cleared"),
    "reject": (("assessed", "paid", "held"), "rejected"),
}


# -- keys (the one place they are spelled) ------------------------------------------------------

def country_key(cc: str) -> str:
    return f"c/{cc}"


def tariff_key(cc: str, prefix: str) -> str:
    return f"t/{cc}/{prefix}"


def rate_key(base: str, quote: str) -> str:
    return f"fx/{base}/{quote}"


def decl_key(decl_id: str) -> str:
    return f"d/{decl_id}"


def order_decl_key(order_id: str) -> str:
    """Key of the declaration an order's goods are under (the latest not rejected)."""
    return f"o/{order_id}"


def customs_hold(ctx: Ctx, order_id: str) -> tuple[str, str] | None:
    """(declaration, state) when an order's goods are declared and not yet cleared: the
    transporter may not hand them to the buyer."""
    did = ctx.read("customs", order_decl_key(order_id))
    if did is None:
        return None
    d = ctx.read("customs", decl_key(did))
    return None if d is None or d["state"] == "cleared" else (str(did), str(d["state"]))


def batch_key(batch: str) -> str:
    return f"b/{batch}"


def rates_key(quote: str) -> str:
    return f"q/{quote}"


def check_custody(ctx: Ctx, batch: str, to: str, rec: dict[str, Any]) -> None:
    """Refuse custody of ``batch`` going to participant ``to`` (its identity record
    ``rec``) while a declaration naming the batch is open: the goods are under customs
    control, whatever their order's state. They may go only to a carrier, a (bonded)
    warehouse or customs, and never to the buyer, or its organisation, of an order
    declared with them. One read; the entries are written by ``declare`` and removed by
    ``clear`` and ``reject``."""
    for h in ctx.read("customs", batch_key(batch)) or ():
        buyer = to == h["buyer"] or (rec["org"] and rec["org"] == h["buyer_org"])
        if buyer or not set(rec["roles"]) & set(CUSTOMS_CONTROL):
            d = ctx.read("customs", decl_key(h["declaration"]))
            raise InvalidState(
                f"batch {batch} is under customs declaration {h['declaration']}, which is "
                f"{d['state']}: until it is cleared its custody goes only to a "
                f"{', '.join(CUSTOMS_CONTROL)} participant, not "
                f"{'the buyer' if buyer else to}", current=d["state"],
                declaration=h["declaration"], batch=batch)


def _hold(ctx: Ctx, d: dict[str, Any], batch: str, buyer: str | None,
          buyer_org: str | None) -> None:
    held = ctx.read("customs", batch_key(batch)) or []
    if len(held) >= MAX_OPEN_PER_BATCH:
        raise InvalidState(f"batch {batch} is already named by {len(held)} open "
                           f"declarations (at most {MAX_OPEN_PER_BATCH})",
                           current=f"{len(held)} open declarations")
    # put_other: also called from orders (hold_shipped); same namespace from customs.
    ctx.put_other("customs", batch_key(batch), [*held, {
        "declaration": d["id"], "order": d["order"], "buyer": buyer, "buyer_org": buyer_org}])


def hold_batches(ctx: Ctx, d: dict[str, Any], batches: list[str],
                 buyer: str | None, buyer_org: str | None) -> None:
    """Put ``batches`` under declaration ``d`` (see :func:`check_custody`)."""
    for b in batches:
        _hold(ctx, d, b, buyer, buyer_org)
    d["holds"] = batches


def hold_shipped(ctx: Ctx, order_id: str, batch: str, buyer: str,
                 buyer_org: str | None) -> None:
    """A product order's lot, chosen at dispatch after the order was declared, joins its
    open declaration's hold (else a ruling ending the reservation would free it)."""
    did = ctx.read("customs", order_decl_key(order_id))
    d = None if did is None else ctx.read("customs", decl_key(did))
    if d is None or d["state"] in ("cleared", "rejected") or batch in d.get("holds", ()):
        return
    _hold(ctx, d, batch, buyer, buyer_org)
    d["holds"] = sorted([*d.get("holds", ()), batch])
    ctx.put_other("customs", decl_key(did), d)


def unhold_batches(ctx: Ctx, d: dict[str, Any]) -> None:
    """Decided (cleared or rejected): the declaration no longer holds its batches."""
    for b in d.get("holds", ()):
        rest = [h for h in ctx.get(batch_key(b)) or () if h["declaration"] != d["id"]]
        if rest:
            ctx.put(batch_key(b), rest)
        else:
            ctx.delete(batch_key(b))


def escrow_of(decl_id: str) -> str:
    """The payments escrow holding a declaration's duties until clearance or rejection."""
    return f"customs:{decl_id}"


def authority_account(org: str) -> str:
    """The payments account of a customs authority: its organisation's, not a member's, so
    it outlives any one officer's key."""
    return f"org:{org}"


# -- values -------------------------------------------------------------------------------------

def iso_money(ctx: Ctx, ccy: str, arg: str) -> None:
    """Rules v2: a currency must be ISO 4217 money (``payments.ISO_4217``), as payments v2
    creates no other; v1 took any three capitals (ValidationError naming ``arg``)."""
    if ctx.version >= 2:
        iso_currency(ccy, arg)


# From these customs rules on, a currency outside ISO 4217 is refused before execution.
ADMIT_RULES = 6


def admit_iso(*fields: str) -> tuple[int, AdmitCheck]:
    """The admission check (``method(admit=...)``) refusing, from :data:`ADMIT_RULES`, what
    :func:`iso_money` refuses of the argument ``fields``, in their order, needing no state;
    ``lines`` stands for each declaration line's currency."""
    def check(signer: str, a: dict[str, Any], version: int, time: int) -> None:
        for f in fields:
            if f == "lines":
                for i, ln in enumerate(a["lines"]):
                    iso_currency(ln["currency"], f"lines[{i}].currency")
            else:
                iso_currency(a[f], f)
    return ADMIT_RULES, check


def half_up(num: int, den: int) -> int:
    """``num / den`` rounded half-up to an integer (both non-negative): the one rounding
    rule of every customs amount."""
    return (2 * num + den) // (2 * den)


def hs_code(raw: str, arg: str, *, min_digits: int) -> str:
    """An HS code (or prefix) as digits only: dots and spaces dropped ("8471.30" ->
    "847130"); 2, 4, 6, 8 or 10 digits, at least ``min_digits``, chapter 01-99."""
    code = raw.replace(".", "").replace(" ", "")
    if (not code.isascii() or not code.isdigit() or len(code) % 2 or
            not min_digits <= len(code) <= 10 or code[:2] == "00"):
        raise ValidationError(f"{arg} {raw!r} is not an HS code of {min_digits}-10 digits "
                              "(an even number, chapter 01-99)", arg=arg)
    return code


def in_force(versions: list[dict[str, Any]] | None, now: int) -> dict[str, Any] | None:
    """The version in force at ``now``: the latest whose ``from`` is not after it."""
    best = None
    for v in versions or ():
        if v["from"] > now:
            break
        best = v
    return best


def not_before(start: int, now: int, used: int | None = None) -> int:
    """When a version published at ``now`` for ``start`` takes effect: never in the past,
    and (rules v4) never at or before ``used``, the table's high-water mark. Assessments
    already made used what was in force then; a back-dated version (or a "correction" of
    one in force) would make state and the tables say otherwise. ``now`` alone is not
    enough: a transaction's time is its signer's, anywhere in the node's window around
    its clock, so a declaration may already have been assessed at a later time."""
    return max(start, now) if used is None else max(start, now, used + 1)


# -- high-water marks (rules v4) ----------------------------------------------------------------
# Kept where the assessment reads anyway (the country record, the rate's versions), so the
# hot path adds no read, and a write only when the mark moves.

def tariffs_used(ctx: Ctx, country: dict[str, Any]) -> int | None:
    """Rules v4: the latest time a declaration into ``country`` was assessed, after which a
    new tariff version of the country (any prefix: a longer one would change the match)
    starts; None before v4."""
    used = country.get("tariffs_used") if ctx.version >= 4 else None
    return None if used is None else int(used)


def mark_tariffs_used(ctx: Ctx, country: dict[str, Any]) -> None:
    """Rules v4: an assessment at ``ctx.time`` used the country's tariffs."""
    if ctx.version >= 4 and country.get("tariffs_used", -1) < ctx.time:
        country["tariffs_used"] = ctx.time
        ctx.put(country_key(country["country"]), country)


def rates_used(ctx: Ctx, versions: list[dict[str, Any]] | None) -> int | None:
    """Rules v4: the latest time an assessment converted at any version of a rate, after
    which a new version starts; None before v4 or when none was used."""
    if ctx.version < 4:
        return None
    return max((int(v["used"]) for v in versions or () if "used" in v), default=None)


def mark_rate_used(ctx: Ctx, key: str, versions: list[dict[str, Any]],
                   version: dict[str, Any]) -> None:
    """Rules v4: an assessment at ``ctx.time`` converted at ``version`` (an entry of
    ``versions``, the list under ``key``)."""
    if ctx.version >= 4 and version.get("used", -1) < ctx.time:
        version["used"] = ctx.time
        ctx.put(key, versions)


def schedule(versions: list[dict[str, Any]] | None, entry: dict[str, Any],
             now: int) -> list[dict[str, Any]]:
    """Add ``entry`` (replacing a version with the same ``from``: a correction of one not
    yet in force, since ``from`` is never before ``now``), keep the list sorted and drop
    versions no admissible transaction can see any more."""
    out = sorted([v for v in versions or () if v["from"] != entry["from"]] + [entry],
                 key=lambda v: int(v["from"]))
    out = [v for i, v in enumerate(out)
           if i + 1 == len(out) or out[i + 1]["from"] > now - PRUNE_AFTER_MS]
    if len(out) > MAX_VERSIONS:
        raise InvalidState(f"{len(out) - 1} versions are already current or scheduled (at "
                           f"most {MAX_VERSIONS}): correct one by publishing with its time",
                           current=f"{len(out) - 1} versions")
    return out


# -- declarations -------------------------------------------------------------------------------

def load(ctx: Ctx, decl_id: str) -> dict[str, Any]:
    d = ctx.get(decl_key(decl_id))
    if d is None:
        raise NotFound(f"no customs declaration {decl_id}")
    return d  # type: ignore[no-any-return]


def expect(d: dict[str, Any], action: str) -> None:
    """Refuse an illegal transition, naming the state the declaration is in."""
    allowed, _ = TRANSITIONS[action]
    if d["state"] not in allowed:
        raise InvalidState(f"declaration {d['id']} is {d['state']}: {action} needs "
                           f"{' or '.join(allowed)}", current=d["state"], action=action)


def require_authority(ctx: Ctx, d: dict[str, Any]) -> None:
    """Rules v1 and v2: only members of the customs authority named when the declaration was
    lodged decide on it (the method already requires the customs role)."""
    if ctx.org is None or ctx.org != d["authority"]:
        raise Forbidden(f"only the customs authority of {d['destination']} "
                        f"({d['authority']}) decides on declaration {d['id']}",
                        authority=d["authority"])


def require_current_authority(ctx: Ctx, d: dict[str, Any]) -> str:
    """Rules v3: only members of the destination country's current customs authority (the
    organisation last appointed) decide on a declaration, also one lodged under an earlier
    authority; the organisation relieved is told who decides now. Returns the current
    authority (the method already requires the customs role)."""
    country = ctx.get(country_key(d["destination"]))
    current: str = d["authority"] if country is None else country["authority"]
    if ctx.org is not None and ctx.org == current:
        return current
    if ctx.org is not None and ctx.org == d["authority"]:
        raise Forbidden(f"{ctx.org} is no longer the customs authority of {d['destination']}: "
                        f"{current} is, and decides on declaration {d['id']} (pending "
                        "declarations pass to the authority appointed)", authority=current)
    raise Forbidden(f"only the customs authority of {d['destination']} ({current}) decides "
                    f"on declaration {d['id']}", authority=current)


def transition(ctx: Ctx, d: dict[str, Any], event: str, state: str, **changed: Any) -> None:
    """Store the declaration in its new state and emit the event recording the transition;
    the event carries exactly the changed fields."""
    d["state"] = state
    d.update(changed)
    ctx.put(decl_key(d["id"]), d)
    ctx.emit(event, declaration=d["id"], state=state, **changed)
