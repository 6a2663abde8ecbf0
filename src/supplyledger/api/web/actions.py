"""Buttons on table rows that open a method's form filled in from the row: "Order" on a
product for sale, "Pay out" on a withdrawal instruction addressed to the user's bank,
"Cancel" on the user's own open instruction, and on a lapsed one for a consortium admin;
"Erase" on a private record for a consortium admin once its author is no longer active;
"Hand over" on a revoked participant's batch or balance for a consortium admin.
"Order" shows only where ``orders.place`` would take the seller: an active participant of
another organisation than the user's (:func:`product_rows`; a revoked supplier's products
stay listed "for sale").

A button shows only where the contract would accept the call from this user, so a table
never offers what ends as a refused transaction on the ledger (nobody buys from
themselves; only the instruction's bank pays it out, and not once it has lapsed; only its
holder cancels it, or an admin a lapsed one). Whether an instruction has lapsed is the
row's ``lapsed`` (``money.shown_rows`` adds it from the contract's own rule). The form
it opens is the method's ordinary one (CSRF token, sent once), so the user sees and may
change every argument before signing. Nor does any button offer a method the user's roles
may not sign: under identity rules v3 a machine key (only ``device`` or ``node`` roles)
signs only methods naming its role or open to machines (``runtime.role_refusal``, asked
with the version in force that :func:`signing_rows` notes on each row, read once a page).

An order row offers each party the steps the contract would accept from it: the seller
"Dispatch" (placed, its delivery window still open, a batch order's goods held by the seller
or its organisation), "Cancel" (placed, no financier's advance against its escrow) and
"Receive return" (return requested, the goods' custody free to come back); the transporter
"Pick up" (dispatched) and "Deliver" (picked up, not under a customs declaration that is
not cleared; where the goods cannot pass to the buyer, a revoked one say, only while a
partial report is possible, which its form then asks for: :func:`narrow_fields`); the buyer
"Confirm receipt" and, within the dispute period, "Return" (delivered), "Rate" (delivered
at some point, whatever came after, and not rated yet) and "Cancel" (placed); buyer or seller
"Reschedule" (placed or on its way), or instead "Agree new window" where the other
proposed one that is not over yet (prefilled with it: the same window from both applies
it; changed, it is a counter-proposal); buyer, seller or transporter "Dispute" (from
dispatch until payment: on its way, return requested, or delivered and within the dispute
period); anyone "Release" (delivered, the period over, no cold-chain breach holding the
payout); an arbiter "Rule" (disputed, the arbiter neither a party, nor the financier of an
advance, nor of one's organisation: ``orders.resolve``); and the seller "Request financing"
(an order whose escrow will pay it, no request pending or approved: ``credit``). A pending
financing row offers its financier "Approve or decline" and its seller "Withdraw
request". A ruling's and a financing request's forms say what the escrow holds. Under
orders rules v3 the seller's "Cancel" shows on a financed order too once its buyer is no
longer active, and a consortium admin who is neither party sees "Cancel" (placed) once
neither buyer nor seller is. What the row does not show -- the order's release time,
customs holds, the batch's holding and open hand-over proposals, breaches, ratings,
financing, a proposed window, whether its parties are active -- :func:`order_rows` reads
from the committed state and decides with the contracts' own functions (``expect``'s
:func:`allows`, ``move``, ``customs_hold``, ``release_due``, ``hold_on_breach``,
``within_period``, ``seller_barred_by``, ``canceller``, ``check_window``), in a few
queries per page whatever its number of rows. Likewise :func:`record_rows` asks
``privacy.erasable`` whether an admin may erase a private record (rules v2), under the
rules version in force, so a ledger on older rules shows none of these, and
:func:`holding_rows` asks ``custody.hand_over_kind`` whether an admin may hand a revoked
owner's or custodian's rights in a batch to a successor (custody rules v3): "Hand over"
shows only where some active member of its organisation would be accepted (with "Hand
over custody" beside it when owner and custodian are two revoked accounts), and the form
it opens offers just those members (:func:`narrow_fields`); :func:`balance_rows` asks
``payments.balance_hand_over_checks`` the same of a revoked participant's balance in a
currency (payments rules v3), whose form offers its organisation's account and the
active members the contract accepts. Arguments the
user still chooses (the transporter and transport number a seller dispatches under, a new
delivery window, a dispute's or a return's reason, a rating's score) are the form's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any
from urllib.parse import urlencode

from supplyledger.api.routers.credit import exposure
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web import zones
from supplyledger.api.web.forms import Field, batch_id
from supplyledger.api.web.names import participant_names
from supplyledger.contracts.builtin._credit_model import lien_key
from supplyledger.contracts.builtin._customs_model import customs_hold
from supplyledger.contracts.builtin._orders_goods import check_held, move
from supplyledger.contracts.builtin._orders_model import (
    allows,
    dispatch_too_late,
    okey,
    org_of,
    release_due,
)
from supplyledger.contracts.builtin._orders_settle import financed_by
from supplyledger.contracts.builtin._sensors_breaches import hold_on_breach
from supplyledger.contracts.builtin.credit import CLOSED_REQUESTS, FINANCEABLE
from supplyledger.contracts.builtin.custody import hand_over_kind
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.orders import canceller, seller_barred_by
from supplyledger.contracts.builtin.orders_returns import within_period
from supplyledger.contracts.builtin.orders_schedule import check_window
from supplyledger.contracts.builtin.payments import MACHINE_ROLES, balance_hand_over_checks
from supplyledger.contracts.builtin.privacy import erasable
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import MACHINE_RULES, Ctx, Method, role_refusal
from supplyledger.contracts.schema import validate_args
from supplyledger.errors import SupplyLedgerError
from supplyledger.ledger.encoding import decode
from supplyledger.logistics.kpi_format import money

__all__ = ["ERASABLE", "FACTS", "HANDED_OVER", "HAND_OVER", "HAND_OVER_CUSTODY",
           "IDENTITY_RULES", "PROPOSED", "ROW_ACTIONS", "RULING_PARTIES", "SELLER_ORG",
           "RowAction", "actions_for", "balance_rows", "balance_successors", "holding_rows",
           "holds_account", "narrow_fields", "order_rows", "pays_for", "product_rows",
           "record_rows", "refuse_before_signing", "signing_rows", "successors"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowAction:
    label: str
    contract: str
    method: str
    args: tuple[tuple[str, str], ...]  # (method argument, row column that fills it in)
    applies: Callable[[Row, Principal], bool]

    def href(self, row: Row) -> str:
        # (a column without a value leaves its argument for the user: a product order's lot)
        query = urlencode([(arg, str(row[col])) for arg, col in self.args
                           if row[col] is not None])
        return f"/contracts/{self.contract}/{self.method}?{query}"


def holds_account(who: Principal, account: Any) -> bool:
    """Whether ``who`` instructs for ``account``: their own, or their organisation's
    ``org:<org>`` unless they are only a machine key, a device or node (as ``payments``
    decides)."""
    return account == who.did or (who.org is not None and account == f"org:{who.org}"
                                  and not who.roles <= MACHINE_ROLES)


def pays_for(who: Principal, bank: Any) -> bool:
    """Whether ``who`` pays out what names ``bank``: a settlement participant named
    itself or through its organisation."""
    return who.has("settlement") and bank in (who.did, who.org)


# -- orders: what the row does not show, read from the committed state ---------------------------

FACTS = "next_steps"  # the key of an order row holding the steps the ledger's state allows
# Keys of an order row holding the delivery window one party proposed, when the other may
# still agree to it: who proposed, and its ends as the form reads them back exactly.
PROPOSED = ("proposed_by", "proposed_earliest", "proposed_latest")
# Key of a disputed order's row: [did, organisation] of those its arbiter may be none of.
RULING_PARTIES = "ruling_parties"
ROUNDS = 4  # state queries a page of orders makes at most before reading key by key


class _Prefetch:
    """The committed state as a contract reads it, fetched a round of keys at a time: a
    key not fetched yet reads as absent and is noted, and the caller runs again once the
    noted keys are fetched, all in one query (a round per link of a chain of reads, e.g.
    an order's declaration, then the declaration)."""

    def __init__(self, svc: LedgerService) -> None:
        self.store = svc.node.store
        self.known: dict[str, bytes | None] = {}
        self.missing: set[str] = set()
        self.last = False  # the last round: read what is still missing key by key

    def __call__(self, key: str) -> bytes | None:
        if key in self.known:
            return self.known[key]
        if self.last:
            self.known[key] = self.store.get_state(key)
            return self.known[key]
        self.missing.add(key)
        return None

    def fetch(self) -> None:
        keys = sorted(self.missing)
        found = self.store.get_states(keys)
        self.known.update((k, found.get(k)) for k in keys)
        self.missing.clear()


def _passes(check: Callable[[Ctx], object], new_ctx: Callable[[], Ctx]) -> bool:
    """Whether ``check`` runs on a fresh scratch context (its writes are never kept) without
    the contract refusing."""
    try:
        check(new_ctx())
    except SupplyLedgerError:
        return False
    return True


def _as_admin(new_ctx: Callable[[], Ctx]) -> Callable[[], Ctx]:
    """``new_ctx`` signed by a consortium admin who is no party to anything (signer "")."""
    def admin() -> Ctx:
        c = new_ctx()
        c.roles = frozenset({"admin"})
        return c
    return admin


def _partial_only(o: Mapping[str, Any]) -> bool:
    """Whether ``orders.deliver`` may report a part of order ``o`` (at least 1, fewer than
    remain, without ``final``): two or more units not delivered yet."""
    return int(o["quantity"]) - int(o["delivered"]) >= 2


def _steps(o: dict[str, Any], new_ctx: Callable[[], Ctx], now: int) -> dict[str, bool]:
    """The steps of order ``o`` (its state record) that its state allows whoever takes
    them, decided by the contract's own functions; only those of its current state."""
    state, out = o["state"], {}
    if allows(o, "dispatch"):
        # a product order's lot is the seller's choice; a batch order's must be held
        out["dispatch"] = not dispatch_too_late(o, now) and (o["batch"] is None or _passes(
            lambda c: check_held(c, o["batch"], o["seller"], org_of(c, o["seller"]) or ""),
            new_ctx))
    if allows(o, "pickup"):
        out["pickup"] = _passes(lambda c: move(c, o, "custody", o["transporter"]), new_ctx)
    if allows(o, "deliver"):
        # All the rest (the form's default) hands the goods to the buyer, never to a revoked
        # one; a partial report (fewer than remain, not final) moves nothing, so it is
        # accepted whatever custody's check says while two or more remain (the form then
        # says so: :func:`_deliver_fields`).
        out["deliver"] = customs_hold(new_ctx(), o["id"]) is None and (
            _partial_only(o) or _passes(lambda c: move(c, o, "custody", o["buyer"]), new_ctx))
    if state == "delivered":
        pay = _passes(lambda c: move(c, o, "ownership", o["buyer"]), new_ctx)
        out["confirm"] = pay
        out["release"] = pay and now >= release_due(new_ctx(), o) and _passes(
            lambda c: hold_on_breach(c, o), new_ctx)
        out["return"] = _passes(lambda c: within_period(c, o, "return it"), new_ctx)
    if allows(o, "dispute"):
        # from dispatch until payment; a delivered order only within its dispute period
        out["dispute"] = _passes(lambda c: within_period(c, o, "dispute it"), new_ctx)
    if allows(o, "receive_return"):
        out["receive_return"] = _passes(lambda c: move(c, o, "custody", o["seller"]), new_ctx)
    if allows(o, "cancel"):
        # the buyer always; the seller not once a financier advanced money on the escrow
        # (rules v3: unless the buyer is gone); an admin who is neither party (rules v3)
        # once both are gone -- asked as one with no part in the order
        out["cancel"] = True
        out["seller_cancel"] = seller_barred_by(new_ctx(), o) is None
        out["admin_cancel"] = _passes(lambda c: canceller(c, o), _as_admin(new_ctx))
    if allows(o, "reschedule"):
        out["reschedule"] = True  # (the new window is the form's: checked on signing)
    if o["delivered_at"] is not None:
        out["rate"] = new_ctx().read("ratings", f"r/{o['id']}") is None  # (ratings.rate)
    if o["state"] in FINANCEABLE:
        # credit.request_financing: none asked yet, or the last one declined or withdrawn
        lien = new_ctx().read("credit", lien_key(o["id"]))
        out["finance"] = lien is None or lien["state"] in CLOSED_REQUESTS
    return out


def _ruling_parties(o: dict[str, Any], new_ctx: Callable[[], Ctx]) -> list[list[str | None]]:
    """[did, organisation] of each party a ruling on disputed order ``o`` must be neutral
    to (``orders.resolve``: buyer, seller, transporter, the financier of an advance); an
    empty list for an order not disputed."""
    if not allows(o, "resolve"):
        return []
    dids = (o["buyer"], o["seller"], o["transporter"], financed_by(new_ctx(), o))
    return [[d, org_of(new_ctx(), d)] for d in dids if d is not None]


def _form_time(ms: int) -> str:
    """Epoch milliseconds as a method form's time field reads them back to the same value
    (``forms._when``): a date and time in the viewer's zone where that is exact, else the
    number."""
    return zones.typed(ms)


def _proposed(o: dict[str, Any], new_ctx: Callable[[], Ctx]) -> dict[str, str | None]:
    """:data:`PROPOSED` of order ``o``: the window one party proposed, while the other may
    still agree to it (``reschedule`` takes it only while it is not over); else Nones."""
    p = o.get("proposal")
    if not allows(o, "reschedule") or p is None or not _passes(
            lambda c: check_window(c, p["earliest"], p["latest"]), new_ctx):
        return dict.fromkeys(PROPOSED)
    window: tuple[str | None, ...] = (str(p["by"]), _form_time(int(p["earliest"])),
                                      _form_time(int(p["latest"])))
    return dict(zip(PROPOSED, window, strict=True))


def order_rows(svc: LedgerService, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Order ``rows`` with :data:`FACTS`: which next steps the ledger's state allows."""
    out = [dict(r) for r in rows]
    reader, now = _Prefetch(svc), svc.node.clock()
    version = svc.rules_version("orders")

    def new_ctx() -> Ctx:
        return Ctx(contract="orders", signer="", roles=frozenset(), org=None, time=now,
                   tx_id="", read=reader, version=version)

    for n in range(ROUNDS + 1):
        reader.last = n == ROUNDS
        for r in out:
            raw = reader(f"orders/{okey(str(r['id']))}")
            try:
                o = None if raw is None else dict(decode(raw))
                r[FACTS] = {} if o is None else _steps(o, new_ctx, now)
                r.update(dict.fromkeys(PROPOSED) if o is None else _proposed(o, new_ctx))
                r[RULING_PARTIES] = [] if o is None else _ruling_parties(o, new_ctx)
            except (LookupError, TypeError):  # a record not fetched yet, read as absent
                r[FACTS] = {}
                r.update(dict.fromkeys(PROPOSED))
                r[RULING_PARTIES] = []
        if not reader.missing:
            break
        reader.fetch()
    return out


ERASABLE = "admin_erasable"  # the key of a private record's row: an admin may erase it


def record_rows(svc: LedgerService, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Private record ``rows`` with :data:`ERASABLE`: whether ``privacy.erase`` would accept
    the call from a consortium admin who is not the record's author (rules v2: its author
    is no longer active), as the contract decides (``privacy.erasable``). The state is read
    as for order rows, a round of keys at a time (the records, then their authors)."""
    out = [dict(r) for r in rows]
    version, now, reader = svc.rules_version("privacy"), svc.node.clock(), _Prefetch(svc)

    def new_ctx() -> Ctx:
        return Ctx(contract="privacy", signer="", roles=frozenset({"admin"}), org=None,
                   time=now, tx_id="", read=reader, version=version)

    for n in range(ROUNDS + 1):
        reader.last = n == ROUNDS
        for r in out:  # a key not fetched yet reads as absent: refused, asked again
            r[ERASABLE] = _passes(partial(erasable, rid=str(r["id"])), new_ctx)
        if not reader.missing:
            break
        reader.fetch()
    return out


# Key of a holding's or balance's row: the revoked holder (account) to hand over for.
HAND_OVER = "admin_hand_over"
# A holding's row whose owner is HAND_OVER: its custodian, another account also revoked.
HAND_OVER_CUSTODY = "admin_hand_over_custody"


def _admin_ctx(svc: LedgerService, contract: str) -> Callable[[], Ctx]:
    """Scratch contexts over the committed state as ``contract`` reads it, signed by a
    consortium admin, under the rules version in force."""
    version, now = svc.rules_version(contract), svc.node.clock()
    return lambda: Ctx(contract=contract, signer="", roles=frozenset({"admin"}), org=None,
                       time=now, tx_id="", read=svc.node.store.get_state, version=version)


def _revoked(svc: LedgerService, dids: Iterable[str]) -> set[str]:
    """Those of ``dids`` that are revoked participants, their records read in one query."""
    ids = sorted(set(dids))
    found = svc.node.store.get_states([f"identity/{participant_key(d)}" for d in ids])
    records = (found.get(f"identity/{participant_key(d)}") for d in ids)
    return {d for d, raw in zip(ids, records, strict=True)
            if raw is not None and decode(raw)["status"] == "revoked"}


def _members(svc: LedgerService, new_ctx: Callable[[], Ctx], account: str) -> Sequence[Row]:
    """The active members of ``account``'s organisation (the first ``page_max``)."""
    rec = new_ctx().read("identity", participant_key(account))
    return svc.reads.rows("participants", svc.settings.page_max, None,
                          {"org": str(rec["org"]), "status": "active"}).items


def successors(svc: LedgerService, batch: str, account: str) -> list[tuple[str, str]]:
    """(id, "name (roles)") of the active members of revoked ``account``'s organisation
    to whom ``hand_over_goods`` would hand its rights in ``batch`` (none if it would refuse
    whoever they went to); the first ``page_max`` members only."""
    new_ctx = _admin_ctx(svc, "custody")
    if not _passes(lambda c: hand_over_kind(c, batch, account), new_ctx):
        return []
    members = _members(svc, new_ctx, account)

    def takes(to: str) -> bool:
        return _passes(lambda c: hand_over_kind(c, batch, account, to), new_ctx)

    return [(str(m["did"]), f"{m['name']} ({m['roles']})") for m in members
            if takes(str(m["did"]))]


def holding_rows(svc: LedgerService, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Batch holding ``rows`` with :data:`HAND_OVER`: the revoked owner or else custodian
    whose rights a consortium admin may hand over to one of its organisation's members
    (``custody.hand_over_goods``, rules v3), or None. Holders' records are read in one
    query; only a row naming a revoked one asks the contract."""
    out = [dict(r) for r in rows]
    revoked = _revoked(svc, (str(r[c]) for r in out for c in ("owner", "custodian") if r[c]))
    for r in out:
        # Owner and custodian revoked both (two accounts): a button each, rather than the
        # custodian's showing only once the owner's hand-over is done.
        takes = [a for a in dict.fromkeys((r["owner"], r["custodian"]))
                 if a in revoked and successors(svc, str(r["batch"]), a)]
        r[HAND_OVER] = takes[0] if takes else None
        r[HAND_OVER_CUSTODY] = takes[1] if len(takes) > 1 else None
    return out


def balance_successors(svc: LedgerService, account: str,
                       currency: str | None) -> list[tuple[str, str]]:
    """(id, words) of the successors to whom ``hand_over_balance`` would move revoked
    ``account``'s balance in ``currency`` (None: in every ISO 4217 one): its
    organisation's account, then the active members of it the contract accepts (the
    first ``page_max``); none if it would refuse whoever it went to."""
    new_ctx = _admin_ctx(svc, "payments")
    if not _passes(lambda c: balance_hand_over_checks(c, account, None, currency), new_ctx):
        return []
    org = str(new_ctx().read("identity", participant_key(account))["org"])
    rec = new_ctx().read("identity", f"o/{org}") or {}
    offered = [(f"org:{org}", f"{rec.get('name', org)} (the organisation's account)"),
               *((str(m["did"]), f"{m['name']} ({m['roles']})")
                 for m in _members(svc, new_ctx, account))]

    def takes(to: str) -> bool:
        return _passes(lambda c: balance_hand_over_checks(c, account, to, currency), new_ctx)

    return [(d, words) for d, words in offered if takes(d)]


def balance_rows(svc: LedgerService, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Balance ``rows`` with :data:`HAND_OVER`: the account, where it is a revoked
    participant's whose balance in the row's currency a consortium admin may hand to a
    successor (``payments.hand_over_balance``, rules v3), else None. Account holders'
    records are read in one query; only a row of a revoked one asks the contract."""
    out = [dict(r) for r in rows]
    revoked = _revoked(svc, (str(r["account"]) for r in out if r["kind"] == "participant"))
    for r in out:
        a = str(r["account"])
        r[HAND_OVER] = a if (a in revoked and r["kind"] == "participant"
                             and balance_successors(svc, a, str(r["currency"]))) else None
    return out


SELLER_ORG = "seller_org"  # a product row's key: its owner's organisation, if it may sell


def product_rows(svc: LedgerService, rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Product ``rows`` with :data:`SELLER_ORG`: the organisation of the owner where
    ``orders.place`` would accept it as the seller (``require_participant``: an active
    participant), else None; the owners' records read in one query. (Whether the buyer is
    of that organisation is the row button's to decide: it knows who asks.)"""
    out = [dict(r) for r in rows]
    owners = sorted({str(r["owner"]) for r in out if r.get("owner")})
    found = svc.node.store.get_states([f"identity/{participant_key(d)}" for d in owners])
    orgs: dict[str, str] = {}
    for d in owners:
        raw = found.get(f"identity/{participant_key(d)}")
        rec = None if raw is None else decode(raw)
        if rec is not None and rec["status"] == "active":
            orgs[d] = str(rec["org"])
    for r in out:
        r[SELLER_ORG] = orgs.get(str(r.get("owner")))
    return out


def _may_order(r: Row, who: Principal) -> bool:
    """``who`` may order the row's product: it is for sale by an active participant that is
    neither ``who`` nor of ``who``'s organisation (``orders.place`` refuses both)."""
    org = r.get(SELLER_ORG)
    return (bool(r["for_sale"]) and org is not None and r["owner"] != who.did
            and (who.org is None or org != who.org))


# The admin's hand-overs of a revoked participant's goods and money, whose forms a row
# button opens (:func:`narrow_fields`) and which are refused before signing.
HANDED_OVER = (("custody", "hand_over_goods"), ("payments", "hand_over_balance"))


def _offer(to: Field, choices: list[tuple[str, str]], none_left: str) -> None:
    """Make ``to`` a choice among ``choices`` (id, words), or say ``none_left`` if none."""
    to.kind, to.options, to.labels, to.suggest = "select", tuple(d for d, _ in choices), \
        dict(choices), None
    if not choices:
        to.hint = f"{to.hint} — {none_left}"


def narrow_fields(svc: LedgerService, contract: str, method: str, fields: list[Field],
                  values: Mapping[str, Any]) -> None:
    """Fill in what a form opened by a row button can know: ``hand_over_goods``'s
    successor becomes a choice among the members :func:`successors` finds for the batch
    and account given, ``hand_over_balance``'s among those :func:`balance_successors`
    finds for the account and currency given; or its hint says why the contract refuses.
    (An empty form is the generic one: nothing to say yet.) A ruling's or a financing
    request's amounts get the order's figures in their hints (:func:`_order_figures`), and
    a delivery report the part it is limited to (:func:`_deliver_fields`)."""
    if (contract, method) in _ORDER_FIGURES:
        _order_figures(svc, method, fields, str(values.get("order") or ""))
        return
    if (contract, method) == ("orders", "deliver"):
        _deliver_fields(svc, fields, str(values.get("order") or ""))
        return
    if (contract, method) not in HANDED_OVER:
        return
    account, to = str(values.get("account") or ""), next(f for f in fields if f.name == "to")
    if contract == "payments":
        currency = str(values.get("currency") or "") or None
        try:
            balance_hand_over_checks(_admin_ctx(svc, "payments")(), account, None, currency)
        except SupplyLedgerError as exc:
            if account:
                to.hint = f"{to.hint} — refused for this account: {exc.message}"
            return
        _offer(to, balance_successors(svc, account, currency),
               "neither its organisation's account nor any of its active members may take "
               "it now")
        return
    try:
        batch = batch_id(str(values.get("batch") or ""), svc.resolve_batch, "batch")
        hand_over_kind(_admin_ctx(svc, "custody")(), batch, account)
    except SupplyLedgerError as exc:
        if account:
            to.hint = f"{to.hint} — refused for this batch and account: {exc.message}"
        return
    _offer(to, successors(svc, batch, account),
           "none of its organisation's active members may take them now (a successor is a "
           "member that is not only a device or node)")


# Forms whose amounts are shares of an order's escrow, read with the order's figures (a
# financier's decision with the request's too).
_ORDER_FIGURES = (("orders", "resolve"), ("credit", "request_financing"), ("credit", "decide"))


def _order_figures(svc: LedgerService, method: str, fields: list[Field], oid: str) -> None:
    """Say in the amount fields' hints what order ``oid``'s escrow holds (in minor units and
    in its currency), and for a ruling who disputed it and why: the arbiter and the seller
    share out or borrow against figures the form does not otherwise show."""
    raw = svc.node.store.get_state(f"orders/{okey(oid)}") if oid else None
    if raw is None:
        return
    o = decode(raw)
    ccy, goods, freight = str(o["currency"]), int(o["unit_price"] * o["quantity"]), \
        int(o["freight"])

    def amount(minor: int) -> str:
        return f"{minor} ({money(minor, ccy)})"

    by_name = {f.name: f for f in fields}
    held = f"order {oid}'s escrow holds {amount(goods + freight)}: goods {amount(goods)}, " \
           f"freight {amount(freight)}"
    if method == "request_financing":
        by_name["repay"].hint += f" — at most the goods' {amount(goods)} ({held})"
        return
    if method == "decide":
        _request_figures(svc, by_name["approve"], o, goods)
        return
    d = o.get("dispute") or {}
    if d:
        who = participant_names(svc, [str(d["by"])]).get(str(d["by"]), str(d["by"]))
        held += f"; disputed by {who} ({d['role']}): \u201c{d['reason']}\u201d"
    by_name["refund"].hint += f" — {held}; the seller gets what refund and freight leave"
    by_name["freight_paid"].hint += f" — at most {amount(freight)}"


def _request_figures(svc: LedgerService, approve: Field, o: Mapping[str, Any],
                     goods: int) -> None:
    """A financier decides on what the request says and the ledger holds, none of which
    the form's fields show: the advance, the repayment and its fee against the goods in
    escrow, the seller's assessment recorded with the request (factor by factor), and what
    the financier has at risk with that seller already."""
    raw = svc.node.store.get_state(f"credit/{lien_key(str(o['id']))}")
    if raw is None:
        return
    lien, ccy = decode(raw), str(o["currency"])
    seller = str(lien["seller"])
    name = participant_names(svc, [seller]).get(seller, seller)
    a = lien.get("assessment") or {}
    factors = "; ".join(f"{f['factor'].replace('_', ' ')} {f['value']} (evidence "
                        f"{f['evidence']}): {f['points']} of {f['weight']}"
                        for f in a.get("factors", ()))
    open_ = [e for e in exposure(svc.reads, str(lien["financier"]), seller)
             if e["currency"] == ccy]
    risk = (f"{money(open_[0]['advanced'], ccy)} advanced on {open_[0]['orders']} "
            f"order(s), {money(open_[0]['owed'], ccy)} owed" if open_ and open_[0]["orders"]
            else "nothing advanced yet")
    approve.hint = (
        f"{approve.hint + ' — ' if approve.hint else ''}order {o['id']} ({o['state']}) of "
        f"{name}: advance {money(lien['amount'], ccy)}, repaid {money(lien['repay'], ccy)} "
        f"from the escrow (fee {money(lien['repay'] - lien['amount'], ccy)}), goods in escrow "
        f"{money(goods, ccy)}; request {lien['state']}. Seller's assessment at the request: "
        f"{a.get('score')} of 1000, grade {a.get('grade')} — {factors}. Open with this "
        f"seller: {risk}.")


def _deliver_fields(svc: LedgerService, fields: list[Field], oid: str) -> None:
    """A delivery report on order ``oid`` whose goods cannot pass to the buyer now (a
    revoked buyer; an open offer of their custody) is accepted for a part only: its quantity
    becomes required, at most one fewer than remain, and its hint says why (the default,
    all the rest, would end as a refused call on the ledger)."""
    raw = svc.node.store.get_state(f"orders/{okey(oid)}") if oid else None
    if raw is None:
        return
    o = dict(decode(raw))
    if not allows(o, "deliver") or not _partial_only(o):
        return
    try:
        move(_admin_ctx(svc, "orders")(), o, "custody", o["buyer"])  # (its writes not kept)
    except SupplyLedgerError as exc:
        rest = int(o["quantity"]) - int(o["delivered"])
        q = next(f for f in fields if f.name == "quantity")
        q.required, q.attrs = True, {**q.attrs, "min": 1, "max": rest - 1}
        q.hint += (f" — only a part is accepted now, 1 to {rest - 1} of the {rest} not "
                   f"delivered yet, not final: {exc.message}")


def refuse_before_signing(svc: LedgerService, who: Principal, contract: str, method: str,
                          args: Mapping[str, Any]) -> None:
    """Raise the contract's refusal of an admin's ``hand_over_goods`` or
    ``hand_over_balance`` (a forged or stale form) before anything is signed, so it leaves
    no failed call on the ledger. Others' calls are the role check's
    (``LedgerService.call``)."""
    if (contract, method) not in HANDED_OVER or not who.has("admin"):
        return
    validate_args(svc.method(contract, method).args, dict(args))  # (its errors first)
    if contract == "payments":
        balance_hand_over_checks(_admin_ctx(svc, "payments")(), args["account"], args["to"],
                                 args.get("currency"))
    else:
        hand_over_kind(_admin_ctx(svc, "custody")(), args["batch"], args["account"],
                       args["to"])


def _next(step: str, *roles: str) -> Callable[[Row, Principal], bool]:
    """The row's order allows ``step`` now, and ``who`` is its party in one of ``roles``
    (none named: anyone)."""
    return lambda r, who: bool(r.get(FACTS, {}).get(step)) and (
        not roles or who.did in (r[role] for role in roles))


def _rules_on(r: Row, who: Principal) -> bool:
    """``who`` is an arbiter that may rule the row's dispute: neither one of its parties
    (:data:`RULING_PARTIES`) nor of one's organisation (``orders.resolve``)."""
    return who.has("arbiter") and r["state"] == "disputed" and not any(
        did == who.did or (who.org is not None and org == who.org)
        for did, org in r.get(RULING_PARTIES, ()))


def _answers(r: Row, who: Principal) -> bool:
    """``who`` is the buyer or seller of the row's order, and the other one proposed the
    window the row holds (the same window from both applies it)."""
    by = r.get("proposed_by")
    return by is not None and by != who.did and who.did in (r["buyer"], r["seller"])


ROW_ACTIONS: dict[str, tuple[RowAction, ...]] = {
    "orders": (
        RowAction("Dispatch", "orders", "dispatch", (("order", "id"), ("batch", "batch")),
                  _next("dispatch", "seller")),
        # A new window of the buyer's or seller's (say no transporter can make the old
        # one), unless the other proposed one: then "Agree new window", which may still be
        # changed (a counter-proposal).
        RowAction("Reschedule", "orders", "reschedule", (("order", "id"),),
                  lambda r, who: _next("reschedule", "buyer", "seller")(r, who)
                  and not _answers(r, who)),
        RowAction("Agree new window", "orders", "reschedule",
                  (("order", "id"), ("earliest", "proposed_earliest"),
                   ("latest", "proposed_latest")),
                  lambda r, who: _next("reschedule")(r, who) and _answers(r, who)),
        RowAction("Pick up", "orders", "pickup", (("order", "id"),),
                  _next("pickup", "transporter")),
        RowAction("Deliver", "orders", "deliver", (("order", "id"),),
                  _next("deliver", "transporter")),
        RowAction("Confirm receipt", "orders", "confirm", (("order", "id"),),
                  _next("confirm", "buyer")),
        RowAction("Return", "orders", "request_return", (("order", "id"),),
                  _next("return", "buyer")),
        # Any party: the goods may go wrong in anyone's hands, from dispatch until payment.
        RowAction("Dispute", "orders", "dispute", (("order", "id"),),
                  _next("dispute", "buyer", "seller", "transporter")),
        RowAction("Receive return", "orders", "receive_return", (("order", "id"),),
                  _next("receive_return", "seller")),
        RowAction("Release", "orders", "release", (("order", "id"),), _next("release")),
        # A neutral arbiter shares out a disputed order's escrow (its form says how much).
        RowAction("Rule", "orders", "resolve", (("order", "id"),), _rules_on),
        # The seller may ask a financier for an advance against the escrow (credit).
        RowAction("Request financing", "credit", "request_financing", (("order", "id"),),
                  _next("finance", "seller")),
        # Once delivered (settled, disputed or returned alike), once per order.
        RowAction("Rate", "ratings", "rate", (("order", "id"),), _next("rate", "buyer")),
        # The buyer may cancel before dispatch, financed or not (the seller only unfinanced).
        RowAction("Cancel", "orders", "cancel", (("order", "id"),), _next("cancel", "buyer")),
        RowAction("Cancel", "orders", "cancel", (("order", "id"),),
                  _next("seller_cancel", "seller")),
        # Orders rules v3: an admin who is neither party, once neither is active.
        RowAction("Cancel", "orders", "cancel", (("order", "id"),),
                  lambda r, who: _next("admin_cancel")(r, who) and who.has("admin")
                  and who.did not in (r["buyer"], r["seller"])),
    ),
    # Privacy rules v2: an admin erases a record whose author is no longer active (the
    # author erases its own on the privacy page).
    "private_records": (
        RowAction("Erase", "privacy", "erase", (("record", "id"),),
                  lambda r, who: bool(r.get(ERASABLE)) and who.has("admin")
                  and r["author"] != who.did),
    ),
    # Custody rules v3: an admin hands a revoked holder's rights to a successor.
    "custody_holdings": (
        RowAction("Hand over", "custody", "hand_over_goods",
                  (("batch", "batch"), ("account", HAND_OVER)),
                  lambda r, who: bool(r.get(HAND_OVER)) and who.has("admin")),
        RowAction("Hand over custody", "custody", "hand_over_goods",
                  (("batch", "batch"), ("account", HAND_OVER_CUSTODY)),
                  lambda r, who: bool(r.get(HAND_OVER_CUSTODY)) and who.has("admin")),
    ),
    # Payments rules v3: an admin hands a revoked participant's balance to a successor.
    "balances": (
        RowAction("Hand over", "payments", "hand_over_balance",
                  (("account", HAND_OVER), ("currency", "currency")),
                  lambda r, who: bool(r.get(HAND_OVER)) and who.has("admin")),
    ),
    # A pending financing request: the financier it names approves or declines it, the
    # seller who asked may withdraw it (credit.decide, credit.withdraw_request).
    "financing": (
        RowAction("Approve or decline", "credit", "decide", (("order", "order_id"),),
                  lambda r, who: r["state"] == "requested" and r["financier"] == who.did
                  and who.has("financier")),
        RowAction("Withdraw request", "credit", "withdraw_request", (("order", "order_id"),),
                  lambda r, who: r["state"] == "requested" and r["seller"] == who.did),
    ),
    "products": (RowAction("Order", "orders", "place", (("seller", "owner"), ("product", "gtin")),
                           _may_order),),
    "withdrawals": (
        # The amount defaults to all of the instruction; the bank may pay out less.
        RowAction("Pay out", "payments", "withdraw", (("instruction", "id"), ("amount", "amount")),
                  lambda r, who: r["state"] == "open" and not r.get("lapsed")
                  and pays_for(who, r["bank"])),
        RowAction("Cancel", "payments", "cancel_withdrawal", (("instruction", "id"),),
                  lambda r, who: r["state"] == "open" and holds_account(who, r["account"])),
        # Payments rules v3: an admin who is not the holder cancels a lapsed one only.
        RowAction("Cancel", "payments", "cancel_withdrawal", (("instruction", "id"),),
                  lambda r, who: r["state"] == "open" and bool(r.get("lapsed"))
                  and who.has("admin") and not holds_account(who, r["account"])),
    ),
}


IDENTITY_RULES = "identity_rules"  # a row's key: the identity rules version in force


def signing_rows(svc: LedgerService, table: str,
                 rows: Iterable[Row]) -> list[dict[str, Any]]:
    """``rows`` of ``table``, those of a table with row buttons with :data:`IDENTITY_RULES`:
    the identity rules version in force, read once, which decides what a machine key may
    sign (``runtime.role_refusal``, as the executor and ``LedgerService.call`` ask it)."""
    if table not in ROW_ACTIONS:
        return [dict(r) for r in rows]
    version = svc.rules_version("identity")
    return [{**r, IDENTITY_RULES: version} for r in rows]


@cache
def _method(contract: str, method: str) -> Method:
    # (row buttons call builtin contracts only; only a method's roles matter here)
    return load_builtin()[contract].methods[method]


def _signs(a: RowAction, row: Row, who: Principal) -> bool:
    """Whether the identity rules in force let ``who``'s roles sign ``a``'s method (a machine
    key, from v3, only what names its role or is open to machines). A row not listed
    through :func:`signing_rows` is read as under the rules that refuse machine keys most."""
    version = row.get(IDENTITY_RULES)
    return role_refusal(a.contract, _method(a.contract, a.method), who.roles,
                        MACHINE_RULES if version is None else int(version)) is None


def actions_for(table: str, row: Row, who: Principal | None) -> list[tuple[str, str]]:
    """(label, link) of the buttons ``row`` of ``table`` offers ``who``: those whose call
    the contract would accept, signed with ``who``'s roles (:func:`_signs`)."""
    if who is None:
        return []
    return [(a.label, a.href(row)) for a in ROW_ACTIONS.get(table, ())
            if a.applies(row, who) and _signs(a, row, who)]
