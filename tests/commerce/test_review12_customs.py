"""Review 12, customs rules v3: a country's declarations are decided by its current
authority.

Under v2, after an admin appointed another organisation as a country's authority
(``appoint``), the one relieved kept deciding the declarations lodged before, and clearing
paid it the duties. Under v3 those pending declarations pass to the current authority:
the old one gets ``forbidden`` naming it, and clearing pays the current authority's
account. v2 ledgers keep re-executing as they were decided."""

from __future__ import annotations

import pytest

from .conftest import Cast
from .test_customs import Cx, _declared, appoint, customs_world


def _adopt(cx: Cx, version: int) -> None:
    cx.w.ok(cx.w.admin, "rules", "adopt", {"contract": "customs", "version": version})


@pytest.fixture
def handed_over(cast: Cast) -> tuple[Cx, str, int]:
    """Customs v3; d1 declared and paid, d2 declared, both under DE's first authority; DE
    then handed to the French authority's organisation; (world, new org, d1's duties)."""
    cx = customs_world(cast)
    _adopt(cx, 3)
    due = _declared(cx)
    _declared(cx, "d2")
    cast.fund(cast.seller, due)
    cx.w.ok(cast.seller, "customs", "pay", {"declaration": "d1"})
    new = cx.w.get(f"identity/p/{cx.fr}")["org"]
    appoint(cx.w, "DE", new)
    return cx, new, due


def test_the_old_authority_no_longer_decides_its_pending_declarations(
        handed_over: tuple[Cx, str, int]) -> None:
    cx, new, _ = handed_over
    w = cx.w
    for method, extra in (("clear", {}), ("hold", {"reason": "x-ray"}),
                          ("reject", {"reason": "no licence"})):
        for did in ("d1", "d2"):
            err = w.fail("forbidden", cx.de2, "customs", method, {"declaration": did, **extra})
            assert err["details"] == {"authority": new}
            assert err["message"].startswith(
                f"{cx.de_org} is no longer the customs authority of DE: {new} is")
    # A third organisation is told who decides now, too.
    other = w.participant("customs")
    err = w.fail("forbidden", other, "customs", "clear", {"declaration": "d1"})
    assert err["details"] == {"authority": new}
    # The declarations still name the old authority until the new one decides.
    assert w.get("customs/d/d1")["authority"] == cx.de_org


def test_the_new_authority_decides_and_collects_the_duties(
        handed_over: tuple[Cx, str, int]) -> None:
    cx, new, due = handed_over
    w, c = cx.w, cx.c
    w.ok(cx.fr, "customs", "hold", {"declaration": "d1", "reason": "documents"})
    # A hold by the new authority is lifted by it alone.
    err = w.fail("forbidden", cx.de, "customs", "release", {"declaration": "d1"})
    assert err["details"] == {"authority": new}
    w.ok(cx.fr, "customs", "release", {"declaration": "d1"})
    res = w.ok(cx.fr, "customs", "clear", {"declaration": "d1"})
    assert res == {"declaration": "d1", "state": "cleared", "collected": due,
                   "account": f"org:{new}"}
    assert w.balance(f"org:{new}") == due and w.balance(f"org:{cx.de_org}") == 0
    assert w.get("customs/d/d1")["authority"] == new
    row = w.tables["customs_declarations"][("d1",)]
    assert (row["state"], row["authority"], row["paid"]) == ("cleared", new, due)
    handed = [e for t, e in w.events if t == "customs.held" and e["declaration"] == "d1"]
    assert handed[0]["authority"] == new  # the first decision records the hand-over
    cleared = [e for t, e in w.events if t == "customs.cleared"]
    assert "authority" not in cleared[0]  # already recorded
    w.ok(cx.fr, "customs", "reject", {"declaration": "d2", "reason": "no licence"})
    assert w.tables["customs_declarations"][("d2",)]["authority"] == new
    assert w.money_in_ledger("EUR") == w.balance(f"org:{new}") + w.balance(c.seller)


def test_a_hold_by_the_old_authority_is_released_by_the_new_one(cast: Cast) -> None:
    cx = customs_world(cast)
    w = cx.w
    _adopt(cx, 3)
    _declared(cx)
    w.ok(cx.de, "customs", "hold", {"declaration": "d1", "reason": "x-ray"})
    new = w.get(f"identity/p/{cx.fr}")["org"]
    appoint(w, "DE", new)
    w.fail("forbidden", cx.de, "customs", "release", {"declaration": "d1"})
    assert w.ok(cx.fr, "customs", "release", {"declaration": "d1"})["state"] == "assessed"
    assert w.tables["customs_declarations"][("d1",)]["authority"] == new


def test_a_v2_ledger_keeps_the_authority_named_at_declaration(cast: Cast) -> None:
    """Before the adoption of v3 the relieved authority decided and collected: those
    blocks re-execute as they were decided, error messages included."""
    cx = customs_world(cast)
    w, c = cx.w, cx.c
    _adopt(cx, 2)
    due = _declared(cx)
    _declared(cx, "d2")
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    new = w.get(f"identity/p/{cx.fr}")["org"]
    appoint(w, "DE", new)
    err = w.fail("forbidden", cx.fr, "customs", "clear", {"declaration": "d1"})
    assert err == {"code": "forbidden", "message": f"only the customs authority of DE "
                   f"({cx.de_org}) decides on declaration d1", "details": {
                       "authority": cx.de_org}}
    res = w.ok(cx.de, "customs", "clear", {"declaration": "d1"})
    assert res["account"] == f"org:{cx.de_org}" and w.balance(f"org:{cx.de_org}") == due
    # Adopting v3 passes what is still pending to the current authority.
    _adopt(cx, 3)
    w.fail("forbidden", cx.de, "customs", "clear", {"declaration": "d2"})
    w.ok(cx.fr, "customs", "reject", {"declaration": "d2", "reason": "no licence"})
