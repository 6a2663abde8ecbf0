"""Review 17: a "Hand over" row button for payments rules v3's ``hand_over_balance``. A
balance of a revoked participant offers a consortium admin the hand-over, only where the
contract would accept it (``payments.balance_hand_over_checks``, the method's own checks),
and the form it opens, prefilled with the account and currency, offers as successors just
the organisation's account and the active members the contract accepts. Nobody else sees
it, an active participant's balance, an empty one or one with open withdrawal instructions
offers it to nobody, and a forged form is refused before anything is signed. A ledger
whose genesis was written under payments v2 offers it to nobody until its admins adopt v3.
Against a week of the demo, and the API tests' world on older rules, served on loopback;
the button followed in Debian's Chromium.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from _serving import DemoServed as Served
from _serving import (
    WorldServed,
    browser_fixture,
    demo_fixture,
    page_as,
    row_buttons,
    served_older_world,
)
from api.conftest import CHEAP
from supplyledger.api.web.actions import HAND_OVER, balance_rows
from supplyledger.ledger.crypto import generate

FORM = "/contracts/payments/hand_over_balance"


@dataclass(frozen=True)
class Scene:
    revoked: str  # the sales manager, revoked, holding CNY
    org_name: str  # the name of its organisation, gw-sales
    heir: str  # a new member of gw-sales
    gone: str  # a member of gw-sales revoked too: never a successor
    stuck: str  # a customer revoked with a withdrawal instruction still open
    active: str  # an active participant holding CNY



def _member(served: Served, org: str, name: str, roles: list[str]) -> str:
    r = served.call("admin", "identity", "register_member", {
        "org": org, "public_key": generate("ed25519").public.b64, "name": name,
        "roles": roles})
    assert r["ok"], r
    return str(r["result"]["did"])


def _balances(served: Served, *accounts: str) -> dict[tuple[str, str], int]:
    return {(str(r["account"]), str(r["currency"])): int(r["balance"]) for a in accounts
            for r in served.service.reads.rows("balances", 50, None, {"account": a}).items}


def _buttons(served: Served | WorldServed, login: str, account: str) -> dict[str, str]:
    """label -> link of the buttons ``login`` sees on ``account``'s CNY balance row."""
    with served.web(login) as web:
        page = web.get("/tables/balances",
                       params={"account": account, "currency": "CNY"}).text
    return row_buttons(page)


served = demo_fixture("balancehandover17", weeks=1, api=CHEAP)


@pytest.fixture(scope="module")
def scene(served: Served) -> Scene:
    """The sales manager revoked, with a successor enrolled in gw-sales (and another
    member, revoked too); a customer revoked while a withdrawal instruction of its is
    open."""
    svc = served.service
    assert svc.rules_version("payments") >= 3  # hand-overs came with v3
    sales, customer = served.did("sales"), served.did("customer")
    assert _balances(served, sales)[(sales, "CNY")] > 0
    w = served.call("customer", "payments", "instruct_withdrawal",
                    {"id": "w-h103", "currency": "CNY", "amount": 1000, "bank": "bank"})
    assert w["ok"], w
    heir = _member(served, "gw-sales", "Zhao Min (new key)", ["platform", "supplier"])
    gone = _member(served, "gw-sales", "Temp (left)", ["warehouse"])
    held = svc.reads.rows("balances", 50, None, {"account": sales}).items
    assert not any(r[HAND_OVER] for r in balance_rows(svc, held))  # not revoked yet
    for did in (sales, customer, gone):
        assert served.call("admin", "identity", "revoke",
                           {"did": did, "reason": "key lost"})["ok"]
    [org] = svc.reads.rows("organisations", 1, None, {"id": "gw-sales"}).items
    return Scene(sales, str(org["name"]), heir, gone, customer, served.did("supplier-a"))


def test_only_an_admin_sees_hand_over_and_only_where_the_contract_accepts_it(
        served: Served, scene: Scene) -> None:
    href = _buttons(served, "admin", scene.revoked)["Hand over"]
    path, query = href.split("?", 1)
    assert (path, parse_qs(query)) == (FORM, {"account": [scene.revoked],
                                              "currency": ["CNY"]})
    for login in ("farm", "bank", "auditor"):  # not consortium admins
        assert "Hand over" not in _buttons(served, login, scene.revoked), login
    # An active participant's balance, and a revoked one's with an open instruction
    # (cancel it first), offer none; nor does the demo's revoked supplier, handed over
    # already (nothing left: the contract refuses "empty").
    assert "Hand over" not in _buttons(served, "admin", scene.active)
    assert "Hand over" not in _buttons(served, "admin", scene.stuck)
    svc = served.service
    empty = [r for r in svc.reads.rows("balances", 500, None, {"kind": "participant"}).items
             if r["balance"] == 0]
    assert empty and not any(r[HAND_OVER] for r in balance_rows(svc, empty))


def test_a_ledger_on_payments_v2_offers_none_until_its_admins_adopt_v3(
        tmp_path: Path) -> None:
    """The API tests' world, its genesis written under payments v2 (the node runs this
    release): the customer revoked with CNY on its account, which offers no hand-over, as
    the contract refuses it; once v3 is adopted, it does."""
    with served_older_world(tmp_path / "ledger", {"payments": 2}) as served:
        w = served.world
        assert w.service.rules_version("payments") == 2
        customer = w.did("customer")
        w.ok("bank", "payments", "deposit", {"account": customer, "currency": "CNY",
                                             "amount": 5_000})
        w.ok("admin", "identity", "revoke", {"did": customer, "reason": "key lost"})
        assert _buttons(served, "admin", customer) == {}
        r = w.node.submit(w.tx("admin", "payments", "hand_over_balance", {
            "account": customer, "currency": "CNY", "to": "org:customers",
            "reason": "v2"})).result(30)
        assert not r.ok and r.error["details"]["current"] == "rules v2", r.error
        w.ok("admin", "rules", "adopt", {"contract": "payments", "version": 3})
        href = _buttons(served, "admin", customer)["Hand over"]
        assert parse_qs(href.split("?", 1)[1]) == {"account": [customer],
                                                   "currency": ["CNY"]}


def test_the_form_offers_only_the_successors_the_contract_accepts(
        served: Served, scene: Scene) -> None:
    with served.web("admin") as web:
        page = web.get(FORM, params={"account": scene.revoked, "currency": "CNY"}).text
        select = re.search(r'<select id="m-to" name="to".*?</select>', page, re.S)
        assert select is not None, page[-3000:]
        offered = re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', select[0])
        # (not the revoked member, nor another organisation's)
        assert [(v, htmllib.unescape(w)) for v, w in offered] == [
            ("org:gw-sales", f"{scene.org_name} (the organisation's account)"),
            (scene.heir, "Zhao Min (new key) (platform,supplier)")]
        # Forms the contract would refuse say why, in words.
        for params, why in (
                ({"account": scene.active, "currency": "CNY"}, f"participant {scene.active} "
                 "is active: it moves its own money"),
                ({"account": scene.stuck}, f"{scene.stuck} still has open withdrawal "
                 "instructions w-h103"),
                ({"account": scene.revoked, "currency": "EUR"},
                 f"{scene.revoked} holds nothing in EUR to hand over")):
            page = web.get(FORM, params=params).text
            hint = re.search(r'id="m-to-hint">([^<]*)<', page)
            assert hint is not None, page[-3000:]
            assert "refused for this account" in hint[1]
            assert why in htmllib.unescape(hint[1])
            assert '<select id="m-to"' not in page


def test_forged_hand_overs_are_refused_with_nothing_written(
        served: Served, scene: Scene) -> None:
    svc = served.service
    accounts = (scene.revoked, scene.stuck, scene.active, "org:gw-sales", scene.heir)
    height, before = svc.node.height, _balances(served, *accounts)
    forged = {"account": scene.revoked, "currency": "CNY", "to": scene.heir,
              "reason": "forged"}
    with served.web("farm") as web:  # not an admin: the role check, before signing
        r = web.post(FORM, data={**forged, "once": "f1"})
        assert r.status_code == 422 and "role_denied" in r.text, r.text[-2000:]
    refusals = (
        ({"account": scene.active}, "invalid_state", f"participant {scene.active} is active"),
        ({"to": served.did("granary")}, "forbidden", "is not of organisation gw-sales"),
        ({"to": scene.gone}, "invalid_state", f"successor {scene.gone} is revoked"),
        ({"to": scene.revoked}, "validation_error", "a hand-over goes to a successor"),
        ({"account": scene.stuck, "to": "org:customers"}, "invalid_state",
         "still has open withdrawal instructions w-h103"),
        ({"currency": "EUR"}, "invalid_state", "holds nothing in EUR to hand over"),
    )
    with served.web("admin") as web:
        for n, (change, code, says) in enumerate(refusals):
            r = web.post(FORM, data={**forged, **change, "once": f"a{n}"})
            text = htmllib.unescape(r.text)
            assert r.status_code == 422, text[-2000:]
            assert f"Refused: {code}" in text and says in text, (change, text[-2000:])
            assert "Nothing was signed or recorded" in text
    assert svc.node.height == height
    assert _balances(served, *accounts) == before


browser = browser_fixture()


def test_an_admin_hands_the_balance_over_from_the_row(
        served: Served, scene: Scene, browser: Any) -> None:
    amount = _balances(served, scene.revoked)[(scene.revoked, "CNY")]
    org_had = _balances(served, "org:gw-sales").get(("org:gw-sales", "CNY"), 0)
    p = page_as(browser, served, "admin", {"width": 1280, "height": 800})
    p.goto(f"{served.url}/tables/balances?account={scene.revoked}")
    p.get_by_role("link", name="Hand over").click()
    p.wait_for_url(re.compile(re.escape(FORM)))
    assert p.get_by_label("Account").input_value() == scene.revoked
    assert p.get_by_label("Currency").input_value() == "CNY"
    to = p.locator("select#m-to")  # (its label reads "To *")
    org_account = f"{scene.org_name} (the organisation's account)"
    assert to.locator("option").all_inner_texts() == [
        "— choose —", org_account, "Zhao Min (new key) (platform,supplier)"]
    to.select_option(label=org_account)
    p.get_by_label("Reason").fill("the sales manager's key was lost; the team's money")
    p.get_by_role("button", name="Sign and submit").click()
    p.get_by_text("Committed").wait_for()
    assert _balances(served, scene.revoked, "org:gw-sales") == {
        (scene.revoked, "CNY"): 0, ("org:gw-sales", "CNY"): org_had + amount}
    # Handed over: the row offers nothing more.
    p.goto(f"{served.url}/tables/balances?account={scene.revoked}")
    assert p.get_by_role("link", name="Hand over").count() == 0
    p.context.close()
