"""``load_demo``: a ledger with several weeks of a consortium's activity, ready to serve.

The story runs on a simulated clock that starts ``weeks`` weeks ago and ends before now, so
block times, contract times and the dashboard's charts look like the weeks they tell. The
stories (flour lots, customer orders) interleave in time order; on the last full day
platform A's customers place orders that are left open for its next round, whose dispatch
request (the private drop points) is written into the data directory. At the end come three
tampering attempts of the papers' kinds: a forged transaction (refused at admission), an
unentitled event (refused by the contract, recorded) and an insider's edit of a stored row
in the database (the paper-002 attack) — which the audit and the trace page catch.

Logins get random passwords, returned once for printing; nothing secret is written except
keys sealed under those passwords. The logins are made while the node still runs, so the
courier can then rotate its key as a web user does (account page, ``api/web/rotate.py``):
its login keeps its password and now holds the new key, which reads Alice's address.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supplyledger.api.accounts import Accounts
from supplyledger.api.features import Features
from supplyledger.api.service import LedgerService
from supplyledger.api.settings import ApiSettings
from supplyledger.demo.cast import DAY, HOUR, ORGS, Person, Sim, make_people
from supplyledger.demo.commerce import (
    Commerce,
    assess_credit,
    flour_sale,
    order_stories,
    rotate_reader_key,
    setup_commerce,
    share_address,
    stolen_key,
)
from supplyledger.demo.customs import customs_story, setup_customs
from supplyledger.demo.flour import FlourChain, lot_ids, lot_stories, setup_flour
from supplyledger.demo.logistics import Logistics, logistics_story, round_order_id
from supplyledger.demo.open_orders import OpenOrders, open_orders_story, write_request
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.tx import make_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME
from supplyledger.store.views import ledger_totals

__all__ = ["DemoInfo", "demo_lot_ids", "demo_round_order", "load_demo"]

CHAIN = "golden-wheat-demo"
Progress = Callable[[str], None]


@dataclass
class DemoInfo:
    data_dir: Path
    node_password: str
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)  # login, pw, name, org
    transactions: int = 0  # after genesis, as the dashboard counts them
    blocks: int = 0
    faulty_lot: str = ""
    hot_lot: str = ""
    tampered: str = ""
    refused: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def _password() -> str:
    return secrets.token_urlsafe(12)


def _run(sim: Sim, stories: list[Iterator[int]], until: int) -> None:
    """Advance all stories in the order of their next due time, up to ``until`` (now):
    what is due later has not happened yet (the last lot is still unsold), so the ledger
    never holds a block dated in the future."""
    seq = itertools.count()
    heap: list[tuple[int, int, Iterator[int]]] = []

    def push(story: Iterator[int]) -> None:
        with contextlib.suppress(StopIteration):
            heapq.heappush(heap, (next(story), next(seq), story))

    for s in stories:
        push(s)
    while heap and heap[0][0] <= until:
        t, _, story = heapq.heappop(heap)
        sim.at(t)
        push(story)


def _consortium(sim: Sim, admin: Any, people: dict[str, Person]) -> None:
    for org, name, roles in ORGS:
        sim.ok(admin, "identity", "register_org", {"id": org, "name": name, "roles": roles})
    # Golden Wheat's GS1 company prefix (its GTINs and GLNs start with it): SSCCs under it
    # are the mill's, which ships the pallets; the other members have not recorded theirs.
    sim.ok(admin, "identity", "set_prefixes", {"org": "gw-mill", "prefixes": ["6901234"]})
    for person in people.values():
        sim.ok(admin, "identity", "register_member", {
            "org": person.org, "public_key": person.key.public.b64, "name": person.name,
            "roles": list(person.roles)})


def _attempts(sim: Sim, p: dict[str, Person], chain: FlourChain, info: DemoInfo) -> None:
    """Tampering attempts that never reach the ledger's data."""
    assert sim.node is not None
    forged = make_tx(generate("ed25519"), chain=CHAIN, contract="trace",
                     method="record_event", signer=p["mill"].did, time_ms=sim.now(),
                     nonce="forged", args={"batch": chain.faulty, "event": {}})
    err = sim.try_submit(forged.raw)
    info.refused.append(f"forged transaction in the mill's name: refused at admission "
                        f"({err.code if err else 'accepted?!'})")
    if not chain.faulty:  # a story too short to reach the faulty lot
        return
    ev = {"type": "ObjectEvent", "eventTime": "2026-01-01T00:00:00.000Z",
          "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "inspecting",
          "disposition": "conformant", "quantityList": [{"epcClass": chain.faulty}]}
    r = sim.call(p["driver"], "trace", "record_event", {"batch": chain.faulty, "event": ev})
    info.refused.append("a transporter 'certifying' the faulty lot conformant: "
                        f"refused by the contract ({(r.error or {}).get('code', 'accepted?!')})")


def _tamper(data_dir: Path, chain: FlourChain) -> str:
    """The paper-002 attack on the stored copy: an insider with database access rewrites
    the faulty processing event as qualified. Nothing signed changes."""
    batch, seq = chain.faulty_processing
    if not batch:  # fewer weeks than the faulty lot's (only a test loads so few): no edit
        return ""
    conn = sqlite3.connect(data_dir / DB_NAME)
    try:
        conn.execute("UPDATE trace_events SET disposition='active', verdict='' "
                     "WHERE batch=? AND seq=?", (batch, seq))
        conn.commit()
    finally:
        conn.close()
    return f"trace_events row ({batch}, {seq}): disposition non_conformant -> active"


def _story_start(now_ms: int, weeks: int) -> int:
    """Midnight (UTC) of the day the story of a demo loaded at ``now_ms`` starts."""
    return (now_ms - (7 * weeks + 2) * DAY) // DAY * DAY


def demo_lot_ids(now_ms: int, weeks: int, n: int) -> tuple[str, str]:
    """The wheat and flour lot ids of flour lot no. ``n`` in a demo loaded at ``now_ms``:
    lots are named by their days, so they move with the day the demo is loaded."""
    return lot_ids(_story_start(now_ms, weeks) + DAY, n)


def _round_day(start: int, weeks: int) -> int:
    """The day of the yeast round with its cold-chain breach: the story's last week."""
    return start + (7 * weeks - 1) * DAY


def demo_round_order(now_ms: int, weeks: int, i: int) -> str:
    """The id of the ``i``-th order of the yeast round in a demo loaded at ``now_ms``."""
    return round_order_id(_round_day(_story_start(now_ms, weeks), weeks), i)


def load_demo(data_dir: Path, *, weeks: int = 6, api: ApiSettings | None = None,
              progress: Progress | None = None, now_ms: int | None = None) -> DemoInfo:
    say = progress or (lambda _: None)
    now = now_ms or wall_clock_ms()
    start = _story_start(now, weeks)
    info = DemoInfo(Path(data_dir), _password())
    say("creating keys")
    admin = generate("rsa")
    people = make_people()
    node_key = generate("rsa")
    sim = Sim(start)
    init_ledger(data_dir, chain=CHAIN, time_ms=start, node_password=info.node_password,
                admins=[("admin", admin, None)], node_key=node_key)
    node = Node(Settings(Path(data_dir), verify_workers=0, block_max_ms=2), node_key,
                clock=sim.now).start()
    sim.node = node
    try:
        say("registering the consortium")
        sim.at(start + 8 * 3_600_000)
        _consortium(sim, admin, people)
        setup_flour(sim, people)
        setup_commerce(sim, people)
        setup_customs(sim, admin, people)
        chain, commerce = FlourChain(), Commerce()
        say(f"recording {weeks} weeks of activity")
        stories = lot_stories(sim, people, start + DAY, weeks, chain,
                              flour_sale(sim, people, commerce))
        stories += order_stories(sim, people, start + DAY, 7 * weeks, commerce)
        stories.append(customs_story(sim, people, start + 2 * DAY))
        logistics = Logistics()
        stories.append(logistics_story(sim, people, admin, _round_day(start, weeks),
                                       logistics))
        left_open = OpenOrders()
        stories.append(open_orders_story(sim, people, start + (7 * weeks + 1) * DAY,
                                         left_open))
        _run(sim, stories, until=now - HOUR)
        share_address(sim, people, Features(node).private, commerce)
        assess_credit(sim, people)
        _attempts(sim, people, chain, info)
        stolen = stolen_key(sim, people, admin)
        svc = LedgerService(node, api or ApiSettings())
        try:
            say("creating web logins")
            _logins(svc.accounts, admin, people, info)
            say("rotating the courier's key")
            sim.tick(5)
            rotated = rotate_reader_key(svc, "courier", _login_password(info, "courier"),
                                        commerce)
        finally:
            svc.close()
    finally:
        node.stop()
    conn = sqlite3.connect(data_dir / DB_NAME)
    try:
        totals = ledger_totals(conn)
    finally:
        conn.close()
    info.transactions, info.blocks = totals["transactions"], totals["blocks"]
    info.faulty_lot, info.hot_lot = chain.faulty, chain.hot
    info.tampered = _tamper(Path(data_dir), chain)
    # The open orders' round: from the first full hour after "now", as the Dispatch page's
    # form proposes.
    write_request(Path(data_dir), people, left_open, (now // HOUR + 1) * HOUR)
    info.notes = {"logistics": logistics.notes(), "open_orders": left_open.notes(),
                  "orders": commerce.orders, "flour_orders": len(commerce.flour_orders),
                  "disputed": commerce.disputed, "cancelled": commerce.cancelled,
                  "returned": commerce.returned, "shared_record": commerce.shared_record,
                  "mispacked": dict(zip(("lot", "wrong_pallet", "pallet"), chain.mispacked,
                                        strict=True)) if chain.mispacked[0] else {},
                  "rotated": rotated, "stolen_key": stolen}
    return info


def _login_password(info: DemoInfo, login: str) -> str:
    return next(pw for who, pw, _, _ in info.logins if who == login)


def _logins(accounts: Accounts, admin: Any, people: dict[str, Person],
            info: DemoInfo) -> None:
    todo = [("admin", "Consortium admin", "consortium", admin.did, admin)] + [
        (x.login, x.name, x.org, x.did, x.key) for x in people.values() if x.login]
    creds = [(login, _password(), name, org, did, key) for login, name, org, did, key in todo]
    # Hashing and sealing run in C and release the GIL: use both cores.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: accounts.create(c[4], c[0], c[1], c[5]), creds))
    info.logins = [(login, pw, name, org) for login, pw, name, org, _, _ in creds]
