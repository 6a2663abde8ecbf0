"""Review 22, admission: refusals that need no state (a transfer or proposal to oneself, a
currency outside ISO 4217, a reversed delivery window ...), or only the transaction's own
signed time besides (a delivery window already over, a quote's ``until`` out of range, a
reading after the transaction, a shipment departing or a plan route out of bounds, a
position fix after the transaction), shown text identity's rules refuse (names, reasons)
and a member's unusable key are refused before execution from payments v5, orders v6,
custody v4, fx v3, customs v6, sensors v5, shipments v4 and identity v5 on: the submitter
gets the same error in the same words, and no block records it. Under the older rules the
same transaction is still recorded as a failed one, so old blocks re-execute unchanged; a
ledger that adopts the new rules midway audits clean, and a block forged at the new rules
that holds such a transaction does not."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from _rules import consortiums_start_at
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import CryptoError, SupplyLedgerError
from supplyledger.ledger.crypto import PublicKey
from supplyledger.node.audit import run_audit
from supplyledger.node.service import Node

from .conftest import DAY, T0, TickClock, gtin
from .test_customs import line

NEW = {"payments": 5, "orders": 6, "custody": 4, "fx": 3, "customs": 6, "sensors": 5,
       "shipments": 4, "identity": 5}
OLD = {name: v - 1 for name, v in NEW.items()}
G = gtin(22)
# The cases whose method body reaches the same check first under the older rules (the
# others fail there on something that needs state, e.g. an unknown batch or participant).
SAME_IN_BODY = {"deposit", "transfer_iso", "transfer_self", "place_iso", "place_self",
                "place_window", "reschedule", "propose", "quote", "exchange_iso",
                "exchange_self", "appoint", "appoint_rates", "set_tariff", "set_rate",
                "place_over", "reschedule_over", "quote_past", "quote_far",
                "hand_over_org_account", "hand_over_balance_reason", "hand_over_goods_reason",
                "register_org", "register_member", "revoke", "create_far", "plan_far",
                "plan_back", "position_after", "register_member_key"}
BIDI = "shop\u202egnippihs"
WH = {"node": "WH-BER", "lat": 52_520_000, "lon": 13_405_000}
HUB = {"node": "HUB-POT", "lat": 52_390_000, "lon": 13_065_000}
LEG = {"from": WH, "to": HUB, "distance_m": 30_000, "mode": "road",
       "vehicle_class": "van_diesel_avg"}
BAD_KEY = "A" * 44


def _world(c: Consortium) -> dict[str, Any]:
    """Parties, a batch of the maker's for sale, an order o1 of it placed by the shop and a
    shipment s1 of the carrier's on its way."""
    for org, roles in (("bank", ["settlement"]), ("shop", ["customer"]),
                       ("maker", ["manufacturer"]), ("de", ["customs"]),
                       ("logger", ["device"]), ("haul", ["transporter"]),
                       ("mall", ["platform"])):
        c.org(org, roles)
        c.member(org, org, roles)
    p = c.parties
    c.ok(p["maker"], "products", "create_product", {"gtin": G, "name": "thing"})
    batch = c.ok(p["maker"], "products", "create_batch", {"gtin": G, "lot": "L1"})["batch"]
    c.ok(p["maker"], "products", "declare_for_sale", {"id": batch})
    c.ok(p["bank"], "payments", "deposit", {"account": p["shop"].did, "currency": "EUR",
                                            "amount": 100_000})
    c.ok(p["shop"], "orders", "place", _order(p, "o1", batch))
    c.ok(p["haul"], "shipments", "create", {"id": "s1", "transporter": p["haul"].did,
                                            "mass_kg": 500, "legs": [LEG],
                                            "promised": T0 + DAY})
    c.ok(p["haul"], "shipments", "depart", {"shipment": "s1"})
    return {"batch": batch, **p}


def _plan(haul: Party, **route: Any) -> dict[str, Any]:
    return {"id": "p1", "warehouse": WH, "solver_distance_m": 1, "routes": [{
        "vehicle": "V1", "transporter": haul.did, "vehicle_class": "van_diesel_avg",
        "stops": [{"order": "o1", "mass_kg": 1, "distance_m": 1_000}], "return_m": 1_000,
        "load": 1, "departs_at": T0 + DAY, "promised": T0 + 2 * DAY, **route}]}


def _order(p: dict[str, Any], oid: str, batch: str, **kw: Any) -> dict[str, Any]:
    return {"id": oid, "seller": p["maker"].did, "batch": batch, "quantity": 1,
            "unit_price": 1_000, "freight": 0, "currency": "EUR", "earliest": T0,
            "latest": T0 + 5 * DAY, **kw}


def _cases(w: dict[str, Any], c: Consortium) -> dict[str, tuple[Party | Any, str, str,
                                                                 dict[str, Any]]]:
    """Each stateless refusal: (signer, contract, method, args)."""
    bank, shop, maker, de, haul = w["bank"], w["shop"], w["maker"], w["de"], w["haul"]
    late = {"earliest": T0 + 3 * DAY, "latest": T0 + 2 * DAY}
    over = {"earliest": T0 - 2 * DAY, "latest": T0 - DAY}  # before every transaction's time
    quote = {"pay": "EUR", "get": "USD", "rate": 10**9}
    return {
        "deposit": (bank, "payments", "deposit",
                    {"account": shop.did, "currency": "XYZ", "amount": 1}),
        "transfer_iso": (shop, "payments", "transfer",
                         {"to": bank.did, "currency": "XYZ", "amount": 1}),
        "transfer_self": (shop, "payments", "transfer",
                          {"to": shop.did, "currency": "EUR", "amount": 1}),
        "hand_over_balance": (c.admin, "payments", "hand_over_balance",
                              {"account": shop.did, "to": shop.did, "reason": "left"}),
        "place_iso": (shop, "orders", "place", _order(w, "o2", w["batch"], currency="XYZ")),
        "place_self": (maker, "orders", "place", _order(w, "o2", w["batch"])),
        "place_window": (shop, "orders", "place", _order(w, "o2", w["batch"], **late)),
        "place_overflow": (shop, "orders", "place",
                           _order(w, "o2", w["batch"], quantity=10**9, unit_price=10**9)),
        "reschedule": (shop, "orders", "reschedule", {"order": "o1", **late}),
        "propose": (maker, "custody", "propose",
                    {"batch": w["batch"], "to": maker.did, "kind": "custody"}),
        "hand_over_goods": (c.admin, "custody", "hand_over_goods",
                            {"batch": w["batch"], "account": maker.did, "to": maker.did,
                             "reason": "left"}),
        "quote": (bank, "fx", "quote", {"pay": "XYZ", "get": "EUR", "rate": 10**9,
                                        "until": T0 + DAY}),
        "exchange_iso": (shop, "fx", "exchange", {"dealer": bank.did, "pay": "EUR",
                                                  "amount": 1, "get": "XYZ", "min_get": 1}),
        "exchange_self": (bank, "fx", "exchange", {"dealer": bank.did, "pay": "EUR",
                                                   "amount": 1, "get": "USD", "min_get": 1}),
        "appoint": (c.admin, "customs", "appoint",
                    {"country": "DE", "org": "de", "currency": "XYZ"}),
        "appoint_rates": (c.admin, "customs", "appoint_rates", {"quote": "XYZ", "org": "bank"}),
        "set_tariff": (de, "customs", "set_tariff", {
            "country": "DE", "hs_prefix": "0101", "currency": "XYZ", "duty_bp": 1,
            "vat_bp": 1, "de_minimis": 0, "effective_from": T0 + DAY}),
        "set_rate": (bank, "customs", "set_rate", {"base": "EUR", "quote": "XYZ",
                                                   "rate": 10**9, "time": T0 + DAY}),
        "declare": (maker, "customs", "declare", {
            "id": "d1", "origin": "CN", "destination": "DE", "incoterm": "DAP",
            "lines": [line("0101.21", 100), line("0101.29", 100, "XYZ")]}),
        # needing only the transaction's own signed time besides the arguments
        "place_over": (shop, "orders", "place", _order(w, "o2", w["batch"], **over)),
        "reschedule_over": (shop, "orders", "reschedule", {"order": "o1", **over}),
        "quote_past": (bank, "fx", "quote", {**quote, "until": T0}),
        "quote_far": (bank, "fx", "quote", {**quote, "until": T0 + 30 * DAY}),
        "record": (w["logger"], "sensors", "record",
                   {"seq": 1, "readings": [{"t": T0 + DAY, "temp": 5000}]}),
        # shown text, and an organisation's account handed over
        "hand_over_org_account": (c.admin, "payments", "hand_over_balance",
                                  {"account": "org:shop", "to": shop.did, "reason": "left"}),
        "hand_over_balance_reason": (c.admin, "payments", "hand_over_balance",
                                     {"account": shop.did, "to": "org:shop", "reason": "\t"}),
        "hand_over_goods_reason": (c.admin, "custody", "hand_over_goods",
                                   {"batch": w["batch"], "account": maker.did,
                                    "to": shop.did, "reason": BIDI}),
        "register_org": (c.admin, "identity", "register_org",
                         {"id": "evil", "name": BIDI, "roles": ["customer"]}),
        "register_member": (c.admin, "identity", "register_member",
                            {"org": "shop", "public_key": "A" * 44, "name": "\u3000",
                             "roles": ["customer"]}),
        "revoke": (c.admin, "identity", "revoke", {"did": shop.did, "reason": "gone\x00"}),
        # a member's key, checked after its organisation and roles by the body
        "register_member_key": (c.admin, "identity", "register_member",
                                {"org": "shop", "public_key": BAD_KEY, "name": "Ann",
                                 "roles": ["customer"]}),
        "register_member_key_org": (c.admin, "identity", "register_member",
                                    {"org": "nowhere", "public_key": BAD_KEY, "name": "Ann",
                                     "roles": ["customer"]}),
        # shipments: a departure or route out of bounds, a fix after the transaction
        "create_far": (haul, "shipments", "create", {
            "id": "s2", "transporter": haul.did, "mass_kg": 500, "legs": [LEG],
            "promised": T0 + DAY, "departs_at": T0 + 400 * DAY}),
        "plan_far": (w["mall"], "shipments", "record_plan",
                     _plan(haul, departs_at=T0 + 400 * DAY, promised=T0 + 401 * DAY)),
        "plan_back": (w["mall"], "shipments", "record_plan",
                      _plan(haul, promised=T0 + DAY - 1)),
        "position_after": (haul, "shipments", "report_position",
                           {"shipment": "s1", "lat": 52_400_000, "lon": 13_100_000,
                            "at": T0 + DAY}),
    }


# The error each case gets, as the newest rules word it (the old bodies' words, where the
# body reaches the check).
def _expected(w: dict[str, Any]) -> dict[str, tuple[str, str]]:
    iso = "currency XYZ is not an ISO 4217 currency code"
    maker = w["maker"].did
    until = "until must be after the transaction's time and at most 7 days after it"
    misleads = "which would hide or reorder what people read"
    try:
        PublicKey.from_spki(base64.b64decode(BAD_KEY))
        raise AssertionError("BAD_KEY is a key")
    except CryptoError as exc:  # the key's fault in the crypto layer's words
        unusable = f"public_key is not a usable key: {exc}"
    far = f"{T0 + 400 * DAY} is more than 366 days after the transaction's time <t>"
    return {
        "deposit": ("validation_error", iso),
        "transfer_iso": ("validation_error", iso),
        "transfer_self": ("forbidden", "a transfer to oneself moves nothing"),
        "hand_over_balance": ("validation_error",
                              f"to is {w['shop'].did} itself: a hand-over goes to a successor"),
        "place_iso": ("validation_error", f"order o2: {iso}"),
        "place_self": ("forbidden", f"order o2: {maker} would be its buyer and its seller: a "
                                    "participant cannot buy from itself"),
        "place_window": ("validation_error", "order o2: the delivery window ends before it "
                                             "starts"),
        "place_overflow": ("invalid_amount", "order o2: price x quantity + freight = "
                                             "1000000000 x 1000000000 + 0 = "
                                             "1000000000000000000 EUR minor units, more "
                                             "than 1000000000000000"),
        "reschedule": ("validation_error", "order o1: the delivery window ends before it "
                                           "starts"),
        "propose": ("invalid_state", "a proposal to oneself changes nothing"),
        "hand_over_goods": ("validation_error",
                            f"to is {maker} itself: a hand-over goes to a successor"),
        "quote": ("validation_error", "pay XYZ is not an ISO 4217 currency code"),
        "exchange_iso": ("validation_error", "get XYZ is not an ISO 4217 currency code"),
        "exchange_self": ("forbidden", "a dealer does not exchange with itself"),
        "appoint": ("validation_error", iso),
        "appoint_rates": ("validation_error", "quote XYZ is not an ISO 4217 currency code"),
        "set_tariff": ("validation_error", iso),
        "set_rate": ("validation_error", "quote XYZ is not an ISO 4217 currency code"),
        "declare": ("validation_error",
                    "lines[1].currency XYZ is not an ISO 4217 currency code"),
        "place_over": ("validation_error", "order o2: the delivery window is already over"),
        "reschedule_over": ("validation_error",
                            "order o1: the delivery window is already over"),
        "quote_past": ("validation_error", until),
        "quote_far": ("validation_error", until),
        "record": ("validation_error",
                   f"reading time {T0 + DAY} is after the transaction's own time <t>"),
        "hand_over_org_account": ("validation_error",
                                  "org:shop is an organisation's account, which its members "
                                  "instruct for: only a revoked participant's own balance "
                                  "is handed over"),
        "hand_over_balance_reason": ("validation_error", "reason holds the control character "
                                     f"U+0009, {misleads}"),
        "hand_over_goods_reason": ("validation_error",
                                   f"reason holds the bidi control U+202E, {misleads}"),
        "register_org": ("validation_error", f"name holds the bidi control U+202E, {misleads}"),
        "register_member": ("validation_error", "name is only whitespace"),
        "revoke": ("validation_error", f"reason holds the control character U+0000, {misleads}"),
        "register_member_key": ("validation_error", unusable),
        "register_member_key_org": ("validation_error", unusable),
        "create_far": ("validation_error", f"departs_at {far}"),
        "plan_far": ("validation_error", f"routes[0].departs_at {far}"),
        "plan_back": ("validation_error", f"plan p1: route V1: promised {T0 + DAY - 1} (the "
                                          f"planned return) is before departs_at {T0 + DAY}"),
        "position_after": ("validation_error",
                           f"position time {T0 + DAY} is after the transaction's <t>"),
    }


def _words(message: str) -> str:
    """A refusal's words, the transaction's time (the clock's, shared with the node) as
    <t>."""
    return re.sub(r"(transaction's(?: own)?(?: time)?) \d+", r"\1 <t>", message)


def _refused(c: Consortium, w: dict[str, Any]) -> dict[str, SupplyLedgerError]:
    """Submit every case; each must be refused with nothing written."""
    out = {}
    for name, (who, contract, method, args) in _cases(w, c).items():
        height, state = c.node.height, c.rows("SELECT key, value FROM state ORDER BY key")
        txs = c.rows("SELECT COUNT(*) FROM txs")
        with pytest.raises(SupplyLedgerError) as exc:
            c.call(who, contract, method, args)
        out[name] = exc.value
        assert (c.node.height, c.rows("SELECT COUNT(*) FROM txs")) == (height, txs), name
        assert c.rows("SELECT key, value FROM state ORDER BY key") == state, name
    return out


def _recorded(c: Consortium, w: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Submit every case; each must be recorded as a failed transaction."""
    out = {}
    for name, (who, contract, method, args) in _cases(w, c).items():
        r = c.call(who, contract, method, args)
        assert not r.ok and r.error is not None, (name, r)
        out[name] = dict(r.error)
    return out


@pytest.fixture
def older_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledgers made in this test start at the rules before this review's."""
    consortiums_start_at(monkeypatch, OLD)


@pytest.fixture
def new_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ledgers made in this test start at this review's rules (identity v6, newer, words
    an unusable key in its own terms: tests/core/test_review24_key_words.py)."""
    consortiums_start_at(monkeypatch, NEW)


def test_a_new_ledger_refuses_them_at_submission_and_writes_nothing(
        tmp_path: Path, new_ledger: None) -> None:
    with Consortium(tmp_path / "ledger", chain="commerce", clock=TickClock()) as c:
        rules = dict(c.rows("SELECT contract, MAX(version) FROM rules_adopted GROUP BY 1"))
        assert {n: rules.get(n) for n in NEW} == NEW
        w = _world(c)
        refused = _refused(c, w)
        assert c.rows("SELECT COUNT(*) FROM txs WHERE ok = 0") == [(0,)]
    expected = _expected(w)
    assert {n: (e.code, _words(e.message)) for n, e in refused.items()} == expected
    assert refused["transfer_iso"].details == {"arg": "currency", "value": "XYZ"}
    assert refused["place_iso"].details == {"arg": "currency", "value": "XYZ"}
    assert refused["reschedule"].details == {"arg": "latest"}
    assert refused["propose"].details == {"current": "held"}
    # Judged by the transaction's own signed time, which the refusal names where the
    # body's check does (the node's clock is the signer's here).
    assert refused["place_over"].details == {"arg": "latest"}
    quoted = refused["quote_past"].details
    assert quoted == {"arg": "until", "time": quoted["time"]} and T0 < quoted["time"] < T0 + DAY
    assert refused["record"].details == {"arg": "readings"}
    assert T0 < int(refused["record"].message.rsplit(" ", 1)[1]) < T0 + DAY
    assert refused["register_member"].details == {"arg": "name"}
    assert refused["register_member_key"].details == {"arg": "public_key"}
    assert refused["position_after"].details == {"arg": "at"}
    signed = int(refused["position_after"].message.rsplit(" ", 1)[1])
    assert T0 < signed < T0 + DAY
    # A year ahead of the refused transaction's own time, as the message names it.
    far = refused["create_far"]
    signed = int(re.findall(r"time (\d+)$", far.message)[0])
    assert far.details == {"arg": "departs_at", "latest": signed + 366 * DAY}
    assert T0 < signed < T0 + DAY
    assert refused["plan_back"].details == {"arg": "routes[0].promised"}
    assert run_audit(c.dir, workers=0).ok


def test_an_older_ledger_still_records_them_and_audits_clean_after_the_upgrade(
        tmp_path: Path, older_ledger: None) -> None:
    with Consortium(tmp_path / "ledger", chain="commerce", clock=TickClock()) as c:
        w = _world(c)
        before = _recorded(c, w)
        failed = c.rows("SELECT COUNT(*) FROM txs WHERE ok = 0")
        for name, version in NEW.items():
            c.ok(c.admin, "rules", "adopt", {"contract": name, "version": version})
        after = _refused(c, w)
        assert c.rows("SELECT COUNT(*) FROM txs WHERE ok = 0") == failed
    assert failed == [(len(before),)]
    # The old body's refusal where it reaches the check first: the very words given now.
    expected = _expected(w)
    assert {n: (e["code"], _words(e["message"])) for n, e in before.items()
            if n in SAME_IN_BODY} == {n: v for n, v in expected.items() if n in SAME_IN_BODY}
    # The body reads the organisation before the key; the admission, first, names the key.
    assert before["register_member_key_org"]["code"] == "not_found"
    assert {n: (e.code, _words(e.message)) for n, e in after.items()} == expected
    report = run_audit(c.dir, workers=0)
    assert report.ok, report.findings[:3]


def _without_admission(name: str, method: str) -> dict[str, Contract]:
    """The built-in contracts, ``name.method`` made without its admission check, as a
    forger's node would run them."""
    cs = load_builtin()
    c = cs[name]
    return {**cs, name: replace(c, methods={**c.methods,
                                            method: replace(c.methods[method], admit=None)})}


def test_the_audit_finds_a_block_at_the_new_rules_that_records_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forged = _without_admission("payments", "transfer")
    monkeypatch.setattr(consortium, "Node", partial(Node, contracts=forged))
    with Consortium(tmp_path / "ledger", chain="commerce", clock=TickClock()) as c:
        c.org("shop", ["customer"])
        shop = c.member("shop", "shop", ["customer"])
        r = c.call(shop, "payments", "transfer", {"to": shop.did, "currency": "EUR",
                                                  "amount": 1})
        assert r.error == {"code": "forbidden", "message": "a transfer to oneself moves nothing"}
    findings = run_audit(c.dir, workers=0).findings
    assert [(f.kind, f.height, f.tx) for f in findings] == [
        ("inadmissible_tx", r.height, r.tx_id)]
    assert findings[0].detail == "forbidden: a transfer to oneself moves nothing"
