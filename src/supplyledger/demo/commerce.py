"""E-commerce on platforms A, B and C (paper 000) and flour sold to them (paper 001 Alg. 5).

Customers order their suppliers' products through the platforms; money waits in escrow;
the supplier dispatches with the platform's courier, who picks up and delivers; the buyer
confirms and rates, and escrow pays supplier and courier. Some orders go differently: a
cancellation before dispatch, a rescheduled delivery, a dispute settled by the arbitration
board, a return. The platforms also buy whole flour lots from the sales company, so
custody of those lots moves seller -> courier -> platform through the orders contract.
Alice shares her delivery address with her courier, encrypted; then the courier rotates
its key, as its key policy asks, and still reads her address (the data key is re-wrapped
for the new key). A financier, its lending capital deposited by the bank, assesses a
supplier's credit from its ledger history; a seller may ask it for an advance against an
order in escrow, paid from that capital and repaid from the escrow (``credit``). Last, the
laptop holding Highland Noodle Co.'s key is stolen just after the company asked the bank
to pay out its earnings: an admin revokes the key, so the instruction lapses and the
bank's pay-out is refused (payments rules v3); the company is registered again under a
new key, and the admin cancels the lapsed instruction and hands the balance over to it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from supplyledger.api.service import LedgerService
from supplyledger.api.web.rotate import rotate_account_key
from supplyledger.contracts.builtin.payments import read_balance
from supplyledger.demo.cast import DAY, HOUR, DemoError, Person, Sim
from supplyledger.demo.flour import gtin
from supplyledger.ledger.crypto import PrivateKey, PublicKey, generate

__all__ = ["Commerce", "assess_credit", "order_stories", "rotate_reader_key", "setup_commerce",
           "share_address", "stolen_key"]

CCY = "CNY"
# platform org -> (supplier person key, courier person key, product GTIN, name, unit price)
SHOPS = {
    "A": ("supplier-a", "courier", gtin("690123420001"), "Baking yeast, 500 g", 1850),
    "B": ("Highland Noodle Co.", "CargoLine dispatch", gtin("690123420002"),
          "Wheat noodles, 1 kg", 1290),
    "C": ("Orchard Oils", "LastMile dispatch", gtin("690123420003"), "Rapeseed oil, 5 L",
          6900),
}
PLATFORM = {"A": "platform-a", "B": "Platform B operations", "C": "Platform C operations"}
FINANCIER_CAPITAL = 200_000_000  # CNY 2,000,000: advances against orders in escrow
CUSTOMERS = ["customer", "Bo Chen", "Carmen Li", "Deng Hui", "Emma Xu", "Feng Lei", "Gao Yan",
             "Hu Jun", "Iris Ma"]


@dataclass
class Commerce:
    orders: int = 0
    disputed: str = ""
    cancelled: str = ""
    returned: str = ""
    flour_orders: list[str] = field(default_factory=list)
    shared_record: str = ""


def setup_commerce(sim: Sim, p: dict[str, Person]) -> None:
    for supplier, _, code, name, _ in SHOPS.values():
        sim.ok(p[supplier], "products", "create_product", {"gtin": code, "name": name})
        sim.ok(p[supplier], "products", "declare_for_sale", {"id": code})
    for who in CUSTOMERS:
        sim.ok(p["bank"], "payments", "deposit", {"account": p[who].did, "currency": CCY,
                                                  "amount": 800_000, "reference": "top-up"})
    for shop in "ABC":
        sim.ok(p["bank"], "payments", "deposit", {
            "account": p[PLATFORM[shop]].did, "currency": CCY, "amount": 400_000_000,
            "reference": "platform float"})
    # The financier's lending capital: ``credit.decide`` pays an approved advance from it.
    sim.ok(p["bank"], "payments", "deposit", {
        "account": p["financier"].did, "currency": CCY, "amount": FINANCIER_CAPITAL,
        "reference": "lending capital"})


def _place(sim: Sim, p: dict[str, Person], oid: str, buyer: str, shop: str, qty: int) -> None:
    supplier, _, code, _, price = SHOPS[shop]
    sim.ok(p[buyer], "orders", "place", {
        "id": oid, "seller": p[supplier].did, "product": code, "quantity": qty,
        "unit_price": price, "freight": 800, "currency": CCY, "earliest": sim.now(),
        "latest": sim.now() + 4 * DAY, "platform": p[PLATFORM[shop]].did})


def order_story(sim: Sim, p: dict[str, Person], n: int, at: int, shop: str, buyer: str,
                qty: int, score: int, c: Commerce) -> Iterator[int]:
    """One customer order from placing to rating; a few take another path."""
    oid = f"O{n:05d}"
    supplier, courier, *_ = SHOPS[shop]
    yield at
    _place(sim, p, oid, buyer, shop, qty)
    c.orders += 1
    if n == 9:
        yield at + 2 * HOUR
        sim.ok(p[buyer], "orders", "cancel", {"order": oid, "reason": "ordered twice"})
        c.cancelled = oid
        return
    if n % 17 == 0:
        yield at + HOUR
        sim.ok(p[buyer], "orders", "reschedule", {"order": oid, "earliest": at + DAY,
                                                  "latest": at + 6 * DAY})
    yield at + 3 * HOUR
    # Each parcel ships as its own lot, so custody and ownership move with it.
    parcel = sim.ok(p[supplier], "products", "create_batch", {
        "gtin": SHOPS[shop][2], "lot": f"P{oid}", "quantity": str(qty), "uom": "H87"})[
            "batch"]
    sim.ok(p[supplier], "orders", "dispatch", {"order": oid, "transporter": p[courier].did,
                                               "transport_no": f"T{oid}", "batch": parcel})
    yield at + 6 * HOUR
    sim.ok(p[courier], "orders", "pickup", {"order": oid})
    yield at + 30 * HOUR
    sim.ok(p[courier], "orders", "deliver", {"order": oid})
    yield at + 40 * HOUR
    if n == 23:
        sim.ok(p[buyer], "orders", "dispute", {"order": oid, "reason":
                                               "two bottles arrived broken"})
        yield at + 64 * HOUR
        sim.ok(p["arbiter"], "orders", "resolve", {
            "order": oid, "refund": SHOPS[shop][4] * min(qty, 2), "freight_paid": 800,
            "at_fault": "transporter", "ownership": "buyer",
            "note": "courier's photos show crushed cartons"})
        c.disputed = oid
        return
    if n == 41:
        sim.ok(p[buyer], "orders", "request_return", {"order": oid,
                                                      "reason": "wrong size delivered"})
        c.returned = oid
        return
    sim.ok(p[buyer], "orders", "confirm", {"order": oid})
    yield at + 44 * HOUR
    sim.ok(p[buyer], "ratings", "rate", {"order": oid, "score": score,
                                         "transporter_score": max(1, score - n % 2)})


def order_stories(sim: Sim, p: dict[str, Person], start: int, days: int, c: Commerce,
                  seed: int = 7) -> list[Iterator[int]]:
    """Two to four customer orders a day for ``days`` days from ``start``."""
    rng = random.Random(seed)
    out = []
    n = 0
    for d in range(days):
        for k in range(rng.randint(2, 4)):
            n += 1
            shop = rng.choice("AABBC")
            score = rng.choice([5, 5, 4, 4, 3]) if shop != "C" else rng.choice([4, 3, 3, 2])
            out.append(order_story(sim, p, n, start + d * DAY + (9 + 3 * k) * HOUR, shop,
                                   rng.choice(CUSTOMERS), rng.randint(1, 6), score, c))
    return out


def flour_sale(sim: Sim, p: dict[str, Person], c: Commerce) -> Any:
    """The continuation of a flour lot's story: a platform buys the whole lot, and custody
    travels seller -> courier -> platform with the order."""

    def sale(lot: str, n: int) -> Iterator[int]:
        shop = "ABC"[n % 3]
        oid = f"FL{n:04d}"
        sim.ok(p[PLATFORM[shop]], "orders", "place", {
            "id": oid, "seller": p["sales"].did, "batch": lot, "quantity": 600,
            "unit_price": 9500, "freight": 120_000, "currency": CCY, "earliest": sim.now(),
            "latest": sim.now() + 5 * DAY, "platform": p[PLATFORM[shop]].did})
        t = sim.now()
        yield t + 2 * HOUR
        sim.ok(p["sales"], "orders", "dispatch", {"order": oid, "transporter": p["driver"].did,
                                                  "transport_no": f"GWS{n:05d}"})
        yield t + 4 * HOUR
        sim.ok(p["driver"], "orders", "pickup", {"order": oid})
        yield t + 22 * HOUR
        sim.ok(p["driver"], "orders", "deliver", {"order": oid})
        yield t + 26 * HOUR
        sim.ok(p[PLATFORM[shop]], "orders", "confirm", {"order": oid})
        c.flour_orders.append(oid)

    return sale


def share_address(sim: Sim, p: dict[str, Person], private: Any, c: Commerce) -> None:
    """Alice's delivery details, readable by her courier and by nobody else."""
    if private is None:
        return
    c.shared_record = private.share(
        p["customer"].key, b"Alice Wang\n18 Jinli Road, Wuhou District, Chengdu 610041\n"
        b"+86 138 0000 1234 (call before delivery)", [p["courier"].did])


def _fingerprint(svc: LedgerService, did: str) -> str:
    p = svc.participant(did) or {}
    return PublicKey.from_b64(str(p["key"])).fingerprint


def rotate_reader_key(svc: LedgerService, login: str, password: str,
                      c: Commerce) -> dict[str, Any]:
    """The courier rotates its key on the account page ("Rotate my key": the same
    :func:`rotate_account_key` the page runs), so the ledger names the new key, Alice's data
    key is re-wrapped for it and the login keeps its password. What happened, for the
    demo's notes ({} with no private-data service)."""
    if not c.shared_record:
        return {}
    client = "demo-loader"
    sess = svc.login(login, password, client)
    try:
        who = svc.principal(sess, via_cookie=False)
        before = _fingerprint(svc, who.did)
        done = rotate_account_key(svc, who, password, client)
    finally:
        svc.accounts.logout(sess)
    if done.rewrapped != (c.shared_record,) or not done.complete:
        raise DemoError(f"{login}'s key rotation re-wrapped {list(done.rewrapped)}, not "
                        f"record {c.shared_record}")
    return {"login": login, "did": who.did, "old_key": before,
            "new_key": _fingerprint(svc, who.did), "record": c.shared_record}


def assess_credit(sim: Sim, p: dict[str, Person]) -> None:
    sim.ok(p["financier"], "credit", "assess", {"subject": p["supplier-a"].did})
    sim.ok(p["financier"], "credit", "assess", {"subject": p["Orchard Oils"].did})


def stolen_key(sim: Sim, p: dict[str, Person], admin: PrivateKey) -> dict[str, Any]:
    """Highland Noodle Co.'s key is stolen with an instruction of its open: the instruction
    lapses with the revoked key, and its money passes to the company's new key. What
    happened, for the demo's notes ({} when it has earned nothing to pay out yet)."""
    assert sim.node is not None
    old = p["Highland Noodle Co."]
    earned = read_balance(sim.node.store.get_state, old.did, CCY)
    if earned <= 0:
        return {}
    iid = f"HNC-PAYOUT-{sim.now() // DAY}"
    sim.ok(old, "payments", "instruct_withdrawal", {
        "id": iid, "currency": CCY, "amount": earned // 2, "bank": "bank",
        "reference": "weekly payout to the company's bank account"})
    sim.tick(5)  # (the story ends within the hour before now: nothing is dated later)
    sim.ok(admin, "identity", "revoke", {"did": old.did, "reason": "office laptop holding "
                                         "the key was stolen"})
    sim.refused(p["bank"], "payments", "withdraw", {"instruction": iid}, "invalid_state")
    key = generate("ed25519")
    new = sim.ok(admin, "identity", "register_member", {
        "org": old.org, "public_key": key.public.b64, "name": old.name,
        "roles": list(old.roles)})["did"]
    sim.ok(admin, "payments", "cancel_withdrawal", {
        "instruction": iid, "reason": "lapsed: the instructing key was revoked (stolen)"})
    moved = sim.ok(admin, "payments", "hand_over_balance", {
        "account": old.did, "to": new, "reason": "the company's new key after the theft"})
    return {"revoked": old.did, "successor": new, "instruction": iid,
            "handed_over": moved["handed_over"]}
