"""The customs contract's publishing half: a consortium admin appoints each country's
authority (``appoint``) and each quote currency's rate publisher (``appoint_rates``); the
authority publishes tariff lines (``set_tariff``) and the publisher exchange rates
(``set_rate``), each version in force from a time no earlier than its transaction (rules
v4: and later than any assessment that used the country's tariffs, or the rate). The
methods belong to ``customs.CONTRACT``; see ``customs`` for the design."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._customs_model import (
    BP,
    COUNTRY,
    RATE_SCALE,
    admit_iso,
    country_key,
    hs_code,
    iso_money,
    not_before,
    rate_key,
    rates_key,
    rates_used,
    schedule,
    tariff_key,
    tariffs_used,
)
from supplyledger.contracts.builtin.orders_schedule import TIME
from supplyledger.contracts.builtin.payments import CURRENCY, MAX_AMOUNT, Amount
from supplyledger.contracts.runtime import Ctx, method
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import (
    AmountError,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)

__all__ = ["appoint", "appoint_rates", "set_rate", "set_tariff"]


def _prepare_tariff(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "hs_prefix": hs_code(a["hs_prefix"], "hs_prefix", min_digits=2)}


@method(roles="admin", args={
    "country": COUNTRY,
    "org": Str(max_len=64, doc="the organisation (with the customs role) that is its authority"),
    "currency": CURRENCY,
}, errors=(NotFound, Forbidden, ValidationError), admit=admit_iso("currency"))
def appoint(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Consortium admin: name the customs authority of a country and the currency its
    tariffs are in. Appointing another organisation later hands the country over (its
    tariff lines stay in force until the new authority replaces them); the currency is
    fixed once set, since assessments and paid duties are in it (rules v2: an ISO 4217
    currency)."""
    cc = a["country"]
    iso_money(ctx, a["currency"], "currency")
    _appointee(ctx, a["org"], "customs")
    country = ctx.get(country_key(cc))
    if country is not None and country["currency"] != a["currency"]:
        raise ValidationError(f"the tariffs of {cc} are in {country['currency']}",
                              arg="currency")
    record = {"country": cc, "authority": a["org"], "currency": a["currency"],
              "since": ctx.time}
    if country is not None and "tariffs_used" in country:  # rules v4: the mark stays
        record["tariffs_used"] = country["tariffs_used"]
    ctx.put(country_key(cc), record)
    ctx.emit("authority_appointed", country=cc, authority=a["org"], currency=a["currency"])
    return {"country": cc, "authority": a["org"], "currency": a["currency"]}


@method(roles="customs", prepare=_prepare_tariff, args={
    "country": COUNTRY,
    "hs_prefix": Str(max_len=16, doc="HS code prefix, 2-10 digits (even), dots allowed"),
    "currency": CURRENCY,
    "duty_bp": Int(max=10 * BP, doc="duty rate in basis points (1250 = 12.5%)"),
    "vat_bp": Int(max=BP, doc="VAT rate in basis points"),
    "de_minimis": Amount(minimum=0, doc="no duty when the declaration's value is below it"),
    "effective_from": TIME,
}, errors=(NotFound, Forbidden, ValidationError, AmountError, InvalidState),
   admit=admit_iso("currency"))
def set_tariff(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Customs authority: publish the duty and VAT rates (and de-minimis value) for an HS
    prefix of its country, from a time (no earlier than the transaction's: what was in
    force is never rewritten; rules v4: also later than the latest declaration into the
    country already assessed). The reply gives the start used. The authority is the
    organisation an admin appointed."""
    cc = a["country"]
    iso_money(ctx, a["currency"], "currency")
    country = ctx.get(country_key(cc))
    if country is None:
        raise NotFound(f"{cc} has no customs authority: an admin appoints one first",
                       country=cc)
    if country["authority"] != ctx.org:
        raise Forbidden(f"{country['authority']} is the customs authority of {cc}",
                        authority=country["authority"])
    if a["currency"] != country["currency"]:
        raise ValidationError(f"the tariffs of {cc} are in {country['currency']}",
                              arg="currency")
    key = tariff_key(cc, a["hs_prefix"])
    start = not_before(a["effective_from"], ctx.time, tariffs_used(ctx, country))
    entry = {"from": start, "duty_bp": a["duty_bp"], "vat_bp": a["vat_bp"],
             "de_minimis": a["de_minimis"], "tx": ctx.tx_id}
    ctx.put(key, schedule(ctx.get(key), entry, ctx.time))
    ctx.emit("tariff_set", country=cc, prefix=a["hs_prefix"], currency=country["currency"],
             effective_from=start, duty_bp=a["duty_bp"], vat_bp=a["vat_bp"],
             de_minimis=a["de_minimis"], authority=ctx.org)
    return {"country": cc, "prefix": a["hs_prefix"], "authority": ctx.org,
            "effective_from": start}


def _prepare_rate(a: dict[str, Any]) -> dict[str, Any]:
    if a["base"] == a["quote"]:
        raise ValidationError("an exchange rate needs two different currencies", arg="quote")
    return a


def _appointee(ctx: Ctx, org_id: str, role: str) -> None:
    """Refuse appointing an unknown organisation or one without ``role``."""
    org = ctx.read("identity", f"o/{org_id}")
    if org is None:
        raise NotFound(f"no organisation {org_id}")
    if role not in org["roles"]:
        raise Forbidden(f"organisation {org_id} does not have the {role} role")


@method(roles="admin", args={
    "quote": CURRENCY,
    "org": Str(max_len=64, doc="the organisation (with the settlement role) publishing"),
}, errors=(NotFound, Forbidden, ValidationError), admit=admit_iso("quote"))
def appoint_rates(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Consortium admin: name the organisation whose members publish exchange rates into
    ``quote`` (as a central bank's reference rates). Appointing another hands it over;
    rates already published stay in force until replaced (rules v2: ``quote`` is an ISO
    4217 currency)."""
    iso_money(ctx, a["quote"], "quote")
    _appointee(ctx, a["org"], "settlement")
    ctx.put(rates_key(a["quote"]), {"quote": a["quote"], "publisher": a["org"],
                                    "since": ctx.time})
    ctx.emit("rate_publisher_appointed", quote=a["quote"], publisher=a["org"])
    return {"quote": a["quote"], "publisher": a["org"]}


@method(roles="settlement", prepare=_prepare_rate, args={
    "base": CURRENCY, "quote": CURRENCY,
    "rate": Int(min=1, max=MAX_AMOUNT, doc=f"quote minor units per base minor unit x "
                f"{RATE_SCALE}"),
    "time": TIME,
}, errors=(NotFound, Forbidden, ValidationError, InvalidState),
   admit=admit_iso("base", "quote"))
def set_rate(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Appointed rate publisher (``appoint_rates`` for the quote currency): publish an
    exchange rate, in force from ``time`` (no earlier than the transaction's; rules v4:
    also later than the latest assessment converted at the pair; the reply gives the
    start used; rules v2: both currencies ISO 4217)."""
    iso_money(ctx, a["base"], "base")
    iso_money(ctx, a["quote"], "quote")
    pub = ctx.get(rates_key(a["quote"]))
    if pub is None:
        raise NotFound(f"nobody publishes rates into {a['quote']}: an admin appoints "
                       "a publisher first", quote=a["quote"])
    if pub["publisher"] != ctx.org:
        raise Forbidden(f"{pub['publisher']} publishes the exchange rates into "
                        f"{a['quote']}", publisher=pub["publisher"], quote=a["quote"])
    key = rate_key(a["base"], a["quote"])
    versions = ctx.get(key)
    start = not_before(a["time"], ctx.time, rates_used(ctx, versions))
    entry = {"from": start, "rate": a["rate"], "by": ctx.signer, "tx": ctx.tx_id}
    ctx.put(key, schedule(versions, entry, ctx.time))
    ctx.emit("rate_set", base=a["base"], quote=a["quote"], time=start, rate=a["rate"],
             scale=RATE_SCALE)
    return {"pair": f"{a['base']}/{a['quote']}", "rate": a["rate"], "scale": RATE_SCALE,
            "time": start}
