"""Review 20: an order row offers each party every step the contract accepts from it, and no
other. The buyer had no "Reschedule" (only "Agree new window" once the seller proposed one),
and only the buyer had "Dispute", though the seller and the transporter may dispute too,
and the buyer also before delivery and once a return is asked for.

The API tests' world (current rules) served on loopback, with an arbiter, a financier and
the order's platform logged in as well: orders are taken through every state, and on each
one every login's buttons are held against the contract's own answer, each method run by
the executor over the committed state as that login would sign it (writes dropped).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from _serving import WorldServed, form_fields, row_buttons, served_older_world
from api.conftest import WHEAT
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.runtime import Call, execute_call, prepare_call
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.encoding import decode
from supplyledger.node.service import wall_clock_ms

DAY = 86_400_000
# The methods an order row's buttons call (ratings.rate aside: not one of these contracts).
STEPS = (*(("orders", m) for m in (
    "dispatch", "pickup", "deliver", "confirm", "release", "cancel", "reschedule", "dispute",
    "resolve", "request_return", "receive_return")), ("credit", "request_financing"))
# A pending financing request's row: the financier decides, the seller may withdraw it.
FINANCING_STEPS = (("credit", "decide"), ("credit", "withdraw_request"))
# mill sells, customer buys, driver carries, shop is the platform; the rest stand by.
LOGINS = ("customer", "mill", "driver", "shop", "arbiter", "financier", "inspector", "admin")


@dataclass
class Shop:
    """The served world, its web clients (one per login) and the lot of each order."""

    served: WorldServed
    web: dict[str, httpx.Client]
    lots: dict[str, str] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def did(self, login: str) -> str:
        return self.served.world.did(login)

    def ok(self, login: str, contract: str, method: str, args: dict[str, Any]) -> Any:
        return self.served.world.ok(login, contract, method, args)

    def place(self) -> str:
        """A new order of the customer's for wheat from the mill, through the shop, and
        the lot the mill will ship it in: its id."""
        oid, now = f"S20-{next(self.ids)}", wall_clock_ms()
        self.ok("customer", "orders", "place", {
            "id": oid, "seller": self.did("mill"), "product": WHEAT, "quantity": 1,
            "unit_price": 1850, "freight": 800, "currency": "CNY", "earliest": now,
            "latest": now + 3 * DAY, "platform": self.did("shop")})
        self.lots[oid] = self.ok("mill", "products", "create_batch", {
            "gtin": WHEAT, "lot": f"L{oid}", "quantity": "1", "uom": "KGM"})["batch"]
        return oid

    def advance(self, oid: str, *steps: str) -> None:
        """Take order ``oid`` through ``steps`` (dispatch, pickup, deliver) over the API."""
        for step in steps:
            login = "mill" if step == "dispatch" else "driver"
            self.ok(login, "orders", step, self.args("orders", step, oid))

    def args(self, contract: str, method: str, oid: str) -> dict[str, Any]:
        """Arguments ``method`` is signed with on order ``oid``: what its row fills in and
        an ordinary choice for what its form leaves to the user."""
        now = wall_clock_ms()
        chosen: dict[str, Any] = {
            "dispatch": {"transporter": self.did("driver"), "transport_no": f"T{oid}",
                         "batch": self.lots[oid]},
            "reschedule": {"earliest": now + DAY, "latest": now + 4 * DAY},
            "dispute": {"reason": "not as agreed"}, "request_return": {"reason": "damp"},
            "resolve": {"refund": 0, "freight_paid": 0, "at_fault": "none",
                        "ownership": "seller"},
            "request_financing": {"financier": self.did("financier"), "amount": 1000,
                                  "repay": 1100},
            "decide": {"approve": False},
        }
        return {"order": oid, **chosen.get(method, {})}

    def accepts(self, login: str, contract: str, method: str, oid: str) -> bool:
        """Whether the contract would take ``login``'s call now: the executor runs it over
        the committed state under the rules in force, its writes dropped."""
        svc = self.served.world.service
        read = svc.node.store.get_state
        raw = read(f"identity/{participant_key(self.did(login))}")
        assert raw is not None
        who = decode(raw)
        value, refused = prepare_call(svc.contracts, contract, method,
                                      self.args(contract, method, oid))
        assert refused is None, refused
        call = Call("0" * 64, self.did(login), contract, method, svc.node.clock(), "", b"",
                    value)
        return execute_call(svc.contracts, call, roles=frozenset(who["roles"]),
                            org=who.get("org"), read=read,
                            version=svc.rules_version(contract),
                            identity=svc.rules_version("identity")).ok

    def buttons(self, login: str, table: str, oid: str) -> dict[str, str]:
        """label -> link of the buttons ``login`` sees on order ``oid``'s row of ``table``."""
        key = "id" if table == "orders" else "order_id"
        page = self.web[login].get(f"/tables/{table}", params={key: oid}).text
        return row_buttons(page, lambda r: f">{oid}<" in r)

    def seen(self, oid: str) -> dict[str, list[str]]:
        """The labels each login sees on order ``oid``'s row (but "Request financing",
        which its seller sees on every order its escrow will pay)."""
        return {lg: sorted(set(self.buttons(lg, "orders", oid)) - {"Request financing"})
                for lg in LOGINS}

    def check(self, oid: str, table: str = "orders") -> None:
        """Every login's buttons on ``oid``'s row call exactly the steps the contract
        would accept from it now."""
        steps = STEPS if table == "orders" else FINANCING_STEPS
        for login in LOGINS:
            shown = {tuple(href.split("?", 1)[0].split("/")[2:4])
                     for href in self.buttons(login, table, oid).values()}
            for contract, method in steps:
                accepted = self.accepts(login, contract, method, oid)
                offered = (contract, method) in shown
                assert offered == accepted, (oid, self.state(oid), login, method, (
                    "a button the contract refuses" if offered else "accepted, no button"))

    def follow(self, login: str, oid: str, label: str, **chosen: str) -> dict[str, str]:
        """``login`` follows ``label`` on order ``oid``'s row: the method's form, prefilled
        with the order, signed with ``chosen`` added, commits. The form's fields."""
        web = self.web[login]
        href = self.buttons(login, "orders", oid)[label]
        path = href.split("?", 1)[0]
        fields = form_fields(web.get(href).text, path)
        assert fields.get("order") == oid and fields.get("csrf"), fields
        r = web.post(path, data={**fields, **chosen})
        assert r.status_code == 200 and "Committed" in r.text, r.text[-3000:]
        return fields

    def state(self, oid: str) -> str:
        [row] = self.served.world.service.reads.rows("orders", 1, None, {"id": oid}).items
        return str(row["state"])


def _join(served: WorldServed, login: str, org: str, role: str) -> None:
    """Register organisation ``org`` with member ``login`` holding ``role``, with a web
    login of that name."""
    w = served.world
    w.keys[login] = key = generate("ed25519")
    w.ok("admin", "identity", "register_org", {"id": org, "name": org.title(),
                                               "roles": [role]})
    w.ok("admin", "identity", "register_member", {
        "org": org, "public_key": key.public.b64, "name": login.title(), "roles": [role]})
    served.passwords[login] = f"{login}-pass-12"
    w.service.accounts.create(key.did, login, served.passwords[login], key)


@contextmanager
def _shop(tmp_path: Path) -> Iterator[Shop]:
    with served_older_world(tmp_path / "ledger", {}) as served, ExitStack() as stack:
        w = served.world
        _join(served, "arbiter", "court", "arbiter")
        _join(served, "financier", "fund", "financier")
        served.passwords["shop"] = "shop-pass-123"
        w.service.accounts.create(w.did("shop"), "shop", "shop-pass-123", w.keys["shop"])
        w.ok("bank", "payments", "deposit", {"account": w.did("customer"), "currency": "CNY",
                                             "amount": 100_000})
        w.ok("mill", "products", "declare_for_sale", {"id": WHEAT})
        web = {lg: stack.enter_context(served.web(lg)) for lg in LOGINS}
        yield Shop(served, web)


def test_every_party_sees_exactly_the_steps_the_contract_accepts_in_every_state(
        tmp_path: Path) -> None:
    with _shop(tmp_path) as s:
        placed, proposed, dispatched, in_transit, delivered, returning, disputed, done = (
            s.place() for _ in range(8))
        s.ok("mill", "orders", "reschedule", s.args("orders", "reschedule", proposed))
        s.advance(dispatched, "dispatch")
        s.ok("mill", "credit", "request_financing",
             s.args("credit", "request_financing", dispatched))
        s.advance(in_transit, "dispatch", "pickup")
        for oid in (delivered, returning, disputed, done):
            s.advance(oid, "dispatch", "pickup", "deliver")
        s.ok("customer", "orders", "request_return", s.args("orders", "request_return",
                                                            returning))
        s.ok("driver", "orders", "dispute", s.args("orders", "dispute", disputed))
        s.ok("customer", "orders", "confirm", {"order": done})
        # A delivery with no dispute period: anyone releases it, nobody disputes it.
        s.ok("admin", "orders", "configure", {"release_after_ms": 0})
        lapsed = s.place()
        s.advance(lapsed, "dispatch", "pickup", "deliver")

        # The new buttons, where the old rows had none (Rate is ratings', not checked).
        assert s.seen(placed) == {
            "customer": ["Cancel", "Reschedule"], "mill": ["Cancel", "Dispatch", "Reschedule"],
            "driver": [], "shop": [], "arbiter": [], "financier": [], "inspector": [],
            "admin": []}
        assert s.seen(in_transit) == {
            "customer": ["Dispute", "Reschedule"], "mill": ["Dispute", "Reschedule"],
            "driver": ["Deliver", "Dispute"], "shop": [], "arbiter": [], "financier": [],
            "inspector": [], "admin": []}
        assert s.seen(returning)["mill"] == ["Dispute", "Receive return"]
        assert s.seen(returning)["driver"] == s.seen(delivered)["driver"] == ["Dispute"]
        assert s.seen(disputed)["arbiter"] == ["Rule"]
        assert all(b == ["Release"] for lg, b in s.seen(lapsed).items() if lg != "customer")

        for oid in (placed, proposed, dispatched, in_transit, delivered, returning, disputed,
                    done, lapsed):
            s.check(oid)
        s.check(dispatched, "financing")  # a pending request: decide, withdraw


def test_the_buyer_reschedules_and_seller_and_transporter_dispute_from_the_row(
        tmp_path: Path) -> None:
    with _shop(tmp_path) as s:
        oid = s.place()
        now = wall_clock_ms()
        s.follow("customer", oid, "Reschedule", earliest=str(now + DAY),
                 latest=str(now + 5 * DAY))
        assert s.seen(oid)["mill"] == ["Agree new window", "Cancel", "Dispatch"]
        s.follow("mill", oid, "Agree new window")
        [row] = s.served.world.service.reads.rows("orders", 1, None, {"id": oid}).items
        assert (row["earliest"], row["latest"]) == (now + DAY, now + 5 * DAY)  # applied

        s.advance(oid, "dispatch")
        s.follow("mill", oid, "Dispute", reason="the carrier left with the wrong lot")
        assert s.state(oid) == "disputed"
        assert s.seen(oid)["arbiter"] == ["Rule"]

        other = s.place()
        s.advance(other, "dispatch", "pickup")
        s.follow("driver", other, "Dispute", reason="the buyer's dock refuses the goods")
        assert s.state(other) == "disputed"
        [dispute] = [e for e in s.served.world.service.reads.rows(
            "order_events", 10, None, {"order_id": other}).items if e["event"] == "disputed"]
        assert dispute["signer"] == s.did("driver")
