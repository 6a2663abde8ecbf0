"""What concerns the logged-in participant: the rows of a table that name them (newest
first, so an inbox shows what waits for them rather than their oldest history), and the
lists of values the generated forms suggest (participants by name, the user's orders,
batches held, shipments, open custody proposals, banks, open withdrawal instructions).

A row also concerns a member when it names their organisation where the member acts for
it: the organisation's account ``org:<org>`` (any member but a device or node, as
``payments`` lets them instruct withdrawals from it), a bank given as the organisation
(its settlement members pay such withdrawals out) and a customs declaration's authority
(its customs officers decide on it).

"Newest" is the table's time column (:func:`time_column`); the store sorts by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.actions import holds_account, pays_for
from supplyledger.api.web.names import names_for, participant_names
from supplyledger.api.web.render import when
from supplyledger.contracts.projection import Table
from supplyledger.logistics.kpi_format import money
from supplyledger.store import views

__all__ = ["ADDRESSEE_COLS", "Choices", "about", "display_names", "newest_first",
           "org_cells", "suggestions", "time_column"]

# Columns that name a participant the row concerns (buyer, recipient, holder, ...).
ADDRESSEE_COLS = ("to_", "to", "recipient", "buyer", "seller", "transporter", "custodian",
                  "owner", "account", "subject", "financier", "author", "frm", "party",
                  "creator", "platform", "bank", "declarant")
# The column that says when a row happened, in order of preference.
_TIME_COLS = ("placed_at", "declared_at", "requested_at", "time", "created", "since",
              "updated", "started", "height")


def org_cells(t: Table, who: Principal) -> list[tuple[str, str]]:
    """(column, value) of ``t`` that name ``who``'s organisation on ``who``'s behalf (see
    the module docstring)."""
    if who.org is None:
        return []
    out = []
    if "account" in t.column_names and holds_account(who, f"org:{who.org}"):
        out.append(("account", f"org:{who.org}"))
    if "bank" in t.column_names and pays_for(who, who.org):
        out.append(("bank", who.org))
    if t.name == "customs_declarations" and who.has("customs"):
        out.append(("authority", who.org))
    return out


def about(svc: LedgerService, t: Table, who: Principal,
          limit: int) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` rows of ``t`` naming ``who`` (or their organisation, where
    they act for it), and how many there are."""
    cols = [c for c in ADDRESSEE_COLS if c in t.column_names]
    return svc.reads.naming(t.name, cols, who.did, time_column(t), limit,
                            org_cells(t, who))


def time_column(t: Table) -> str | None:
    return next((c for c in _TIME_COLS if c in t.column_names), None)


def newest_first(t: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` sorted by the table's time column, newest first (as they are without one)."""
    tcol = time_column(t)
    if tcol is None:
        return rows
    return sorted(rows, key=lambda r: r[tcol] if isinstance(r[tcol], int) else -1,
                  reverse=True)


def display_names(svc: LedgerService, *docs: Any) -> dict[str, str]:
    """What tables and results show instead of the ids in ``docs`` (see ``names``)."""
    return names_for(svc, *docs)


@dataclass(frozen=True, slots=True)
class Choices:
    """A suggestion list, and when it is cut, a sentence saying where the rest are."""

    options: list[tuple[str, str]]
    rest: str | None = None


ABOUT_MAX = 100  # suggestions of one's own orders, shipments, proposals: the newest
HELD_MAX = 200


def _participants(svc: LedgerService) -> Choices:
    page = svc.reads.rows("participants", svc.settings.page_max, None, {"status": "active"})
    options = [(r["did"], f"{r['name']} ({r['org']})") for r in page.items
               if "node" not in str(r["roles"]).split(",")]
    rest = None if page.next_cursor is None else (
        f"Suggestions show the first {len(page.items)} active participants by id; look "
        "anyone else up by name or organisation on the participants table "
        "(/tables/participants) and paste their id.")
    return Choices(options, rest)


def _newest(what: str, table: str, shown: int, total: int) -> str | None:
    return None if total <= shown else (
        f"Suggestions show the newest {shown} of the {total} {what} about you; all of "
        f"them are on /tables/{table}.")


def _orders(svc: LedgerService, who: Principal) -> Choices:
    rows, total = about(svc, svc.reads.table("orders"), who, ABOUT_MAX)
    return Choices([(r["id"], f"{r['state']} · qty {r['quantity']} of "
                              f"{r['product'] or r['batch']}") for r in rows],
                   _newest("orders", "orders", len(rows), total))


def _batches(svc: LedgerService, who: Principal) -> Choices:
    if who.org is None or "custody_holdings" not in svc.reads.tables:
        return Choices([])
    rows = views.held_batches(svc.node.store.reader(), who.org, HELD_MAX + 1)
    rest = None if len(rows) <= HELD_MAX else (
        f"Suggestions show the {HELD_MAX} batches your organisation received last; all "
        "of them are on /tables/custody_holdings.")
    return Choices([(batch, f"lot {lot or batch.rsplit('/', 1)[-1]} — {name or ''}")
                    for batch, lot, name in rows[:HELD_MAX]], rest)


def _shipments(svc: LedgerService, who: Principal) -> Choices:
    rows, total = about(svc, svc.reads.table("shipments"), who, ABOUT_MAX)
    return Choices([(r["id"], f"{r['status']} · promised {when(r['promised'])}")
                    for r in rows], _newest("shipments", "shipments", len(rows), total))


def _proposals(svc: LedgerService, who: Principal) -> Choices:
    rows, total = about(svc, svc.reads.table("custody_proposals"), who, ABOUT_MAX)
    return Choices([(r["id"], f"{r['kind']} of {str(r['batch']).rsplit('/', 1)[-1]}"
                              f"{' to you' if r['to_'] == who.did else ''}")
                    for r in rows if r["status"] == "open"],
                   _newest("custody proposals", "custody_proposals", len(rows), total))


def _banks(svc: LedgerService) -> Choices:
    """Who may pay out a withdrawal: active settlement participants, and organisations
    whose members may hold the role (any of those members may then)."""
    n = svc.settings.page_max
    people = svc.reads.rows("participants", n, None, {"status": "active"},
                            {"roles": "settlement"})
    orgs = svc.reads.rows("organisations", n, None, {"status": "active"},
                          {"roles": "settlement"})
    options = [(r["did"], f"{r['name']} ({r['org']})") for r in people.items]
    options += [(o["id"], f"organisation {o['name']}: any of its settlement members")
                for o in orgs.items]
    rest = None if people.next_cursor is None and orgs.next_cursor is None else (
        f"Suggestions show the first {len(people.items)} settlement participants and "
        f"{len(orgs.items)} organisations by id; all of them are on /tables/participants "
        "and /tables/organisations (find roles settlement).")
    return Choices(options, rest)


def _withdrawals(svc: LedgerService, who: Principal) -> Choices:
    """Open withdrawal instructions the user may act on: as holder or as the bank."""
    rows, total = about(svc, svc.reads.table("withdrawals"), who, ABOUT_MAX)
    rest = _newest("withdrawal instructions", "withdrawals", len(rows), total)
    rows = [r for r in rows if r["state"] == "open"]
    names = participant_names(svc, {str(r["account"]) for r in rows})
    return Choices([(r["id"], f"{money(r['amount'], r['currency'])} from "
                              f"{names.get(r['account'], r['account'])}") for r in rows], rest)


def suggestions(svc: LedgerService, who: Principal, wanted: set[str]) -> dict[str, Choices]:
    """The suggestion lists ``wanted`` (ids named by ``Field.suggest``) that this node has
    the tables for: list id -> its :class:`Choices`."""
    makers: dict[str, tuple[str, Callable[[], Choices]]] = {
        "participants": ("participants", lambda: _participants(svc)),
        "orders": ("orders", lambda: _orders(svc, who)),
        "batches": ("custody_holdings", lambda: _batches(svc, who)),
        "shipments": ("shipments", lambda: _shipments(svc, who)),
        "proposals": ("custody_proposals", lambda: _proposals(svc, who)),
        "banks": ("participants", lambda: _banks(svc)),
        "withdrawals": ("withdrawals", lambda: _withdrawals(svc, who))}
    return {name: make() for name, (table, make) in makers.items()
            if name in wanted and table in svc.reads.tables}
