"""A batch whose owner and custodian are two accounts, both revoked: its row offered a
consortium admin the owner's hand-over alone, and the custodian's only once that was done.
It now offers both ("Hand over" for the owner, "Hand over custody" for the custodian), each
only where ``custody.hand_over_goods`` would accept it, and doing one leaves the other."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from _serving import WorldServed, row_buttons, served_older_world
from supplyledger.api.web.actions import HAND_OVER, HAND_OVER_CUSTODY, holding_rows
from supplyledger.ledger.crypto import generate


def _buttons(served: WorldServed, batch: str) -> dict[str, dict[str, list[str]]]:
    with served.web("admin") as web:
        page = web.get("/tables/custody_holdings", params={"batch": batch}).text
    return {label: parse_qs(href.split("?", 1)[1])
            for label, href in row_buttons(page).items()}


def _heir(served: WorldServed, org: str, roles: list[str]) -> str:
    return str(served.world.ok("admin", "identity", "register_member", {
        "org": org, "public_key": generate("ed25519").public.b64, "name": f"Heir of {org}",
        "roles": roles})["did"])


def test_owner_and_custodian_revoked_both_get_a_button(tmp_path: Path) -> None:
    with served_older_world(tmp_path / "ledger", {}) as served:
        w, svc = served.world, served.world.service
        mill, driver = w.did("mill"), w.did("driver")
        pid = w.ok("mill", "custody", "propose", {"batch": w.batch, "to": driver,
                                                  "kind": "custody"})["proposal"]
        w.ok("driver", "custody", "accept", {"proposal": pid})
        mill_heir = _heir(served, "mill", ["manufacturer", "warehouse"])
        carrier_heir = _heir(served, "carrier", ["transporter"])
        for did in (mill, driver):
            w.ok("admin", "identity", "revoke", {"did": did, "reason": "left"})

        [row] = holding_rows(svc, svc.reads.rows("custody_holdings", 1, None,
                                                 {"batch": w.batch}).items)
        assert (row["owner"], row["custodian"]) == (mill, driver)
        assert (row[HAND_OVER], row[HAND_OVER_CUSTODY]) == (mill, driver)
        assert _buttons(served, w.batch) == {
            "Hand over": {"batch": [w.batch], "account": [mill]},
            "Hand over custody": {"batch": [w.batch], "account": [driver]}}

        # The custodian's first: the owner's button stays, the custodian's goes.
        w.ok("admin", "custody", "hand_over_goods", {"batch": w.batch, "account": driver,
                                                     "to": carrier_heir, "reason": "left"})
        assert _buttons(served, w.batch) == {
            "Hand over": {"batch": [w.batch], "account": [mill]}}
        w.ok("admin", "custody", "hand_over_goods", {"batch": w.batch, "account": mill,
                                                     "to": mill_heir, "reason": "left"})
        assert _buttons(served, w.batch) == {}
