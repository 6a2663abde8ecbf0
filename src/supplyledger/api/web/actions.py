"""Buttons on table rows that open a method's form filled in from the row: "Order" on a
product for sale, "Pay out" on a withdrawal instruction addressed to the user's bank,
"Cancel" on the user's own open instruction, and on a lapsed one for a consortium admin.

A button shows only where the contract would accept the call from this user, so a table
never offers what ends as a refused transaction on the ledger (nobody buys from
themselves; only the instruction's bank pays it out, and not once it has lapsed; only its
holder cancels it, or an admin a lapsed one). Whether an instruction has lapsed is the
row's ``lapsed`` (``money.shown_rows`` adds it from the contract's own rule). The form
it opens is the method's ordinary one (CSRF token, sent once), so the user sees and may
change every argument before signing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from supplyledger.api.service import Principal
from supplyledger.contracts.builtin.payments import MACHINE_ROLES

__all__ = ["ROW_ACTIONS", "RowAction", "actions_for", "holds_account", "pays_for"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RowAction:
    label: str
    contract: str
    method: str
    args: tuple[tuple[str, str], ...]  # (method argument, row column that fills it in)
    applies: Callable[[Row, Principal], bool]

    def href(self, row: Row) -> str:
        query = urlencode([(arg, str(row[col])) for arg, col in self.args])
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


ROW_ACTIONS: dict[str, tuple[RowAction, ...]] = {
    "products": (RowAction("Order", "orders", "place", (("seller", "owner"), ("product", "gtin")),
                           lambda r, who: bool(r["for_sale"]) and r["owner"] != who.did),),
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


def actions_for(table: str, row: Row, who: Principal | None) -> list[tuple[str, str]]:
    """(label, link) of the buttons ``row`` of ``table`` offers ``who``."""
    if who is None:
        return []
    return [(a.label, a.href(row)) for a in ROW_ACTIONS.get(table, ()) if a.applies(row, who)]
