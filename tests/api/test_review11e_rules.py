"""Review 11e: adopting newer contract rules from the admin page. Its "Contract rules" card
listed the versions this release implements beyond those in force, but offered no way to
adopt them: an admin had to find the generic form on /contracts/rules/adopt. In-process
over httpx, on a ledger whose genesis predates payments and customs rules v2."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from _rules import older
from supplyledger.contracts.registry import load_builtin
from supplyledger.ledger.crypto import PrivateKey

from . import conftest
from .conftest import World

pytestmark = pytest.mark.anyio
OLD = ("customs", "payments")  # made under rules v1; this release implements newer ones
NEWEST = {n: c.versions[-1] for n, c in load_builtin().items() if n in OLD}
FORM = re.compile(r'<form method="post" action="/contracts/rules/adopt"[^>]*>(.*?)</form>',
                  re.S)


@pytest.fixture
def world(tmp_path: Path, rsa_keys: list[PrivateKey]) -> Iterator[World]:
    """The usual consortium (``client`` serves it), its genesis written by a release whose
    customs and payments rules stop at v1."""
    w = conftest.build_world(tmp_path / "ledger", rsa_keys, older(dict.fromkeys(OLD, 1)))
    yield w
    w.node.stop()
    w.service.close()


async def _web_login(c: httpx.AsyncClient, who: str) -> None:
    from .test_pages import _web_login as login

    c.cookies.clear()
    await login(c, who)


def _rules_card(page: str) -> str:
    return page.split('id="rules-table"', 1)[1].split('id="rules-result"', 1)[0]


def _row(card: str, contract: str) -> str:
    return card.split(f"<tr><td>{contract}</td>", 1)[1].split("</tr>", 1)[0]


def _adopt_forms(card: str) -> dict[str, dict[str, str]]:
    """Contract -> the fields of its "Adopt vN" form on the card."""
    out = {}
    for body in FORM.findall(card):
        fields = {k: html.unescape(v) for k, v in
                  re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)"', body)}
        assert re.search(rf">Adopt&nbsp;v{fields['version']}</button>", body), body
        out[fields["contract"]] = fields
    return out


async def test_an_admin_adopts_newer_rules_from_the_card(client: httpx.AsyncClient,
                                                         world: World) -> None:
    await _web_login(client, "admin")
    page = await client.get("/admin")
    assert page.status_code == 200
    card = _rules_card(page.text)
    forms = _adopt_forms(card)
    # A button for each contract behind this release's rules, and for no other.
    assert sorted(forms) == list(OLD), forms
    assert {n: int(f["version"]) for n, f in forms.items()} == NEWEST
    assert all(f["csrf"] and f["once"] for f in forms.values())
    assert re.match(r"<td>v1\s+<form", _row(card, "payments"))
    assert "Adopt" not in _row(card, "identity")
    note = html.unescape(card)
    assert "every block from then on runs under the contract's new rules" in note
    assert "It cannot be undone" in note

    # The plain form: the contract-call path signs it, once.
    r = await client.post("/contracts/rules/adopt", data=forms["payments"])
    assert r.status_code == 200 and "Committed" in r.text, r.text
    again = await client.post("/contracts/rules/adopt", data=forms["payments"])
    assert 'id="repeated"' in again.text
    # htmx: the result fragment, and the card told to reload (it shows the new version).
    r = await client.post("/contracts/rules/adopt", data=forms["customs"],
                          headers={"HX-Request": "true"})
    assert "Committed" in r.text and r.headers.get("hx-trigger") == "committed", r.text

    card = _rules_card((await client.get("/admin", headers={"HX-Request": "true"})).text)
    for name in OLD:
        row = _row(card, name)
        assert row.startswith(f"<td>v{NEWEST[name]}</td>") and "available" not in row, row
    assert _adopt_forms(card) == {} and "cannot be undone" not in card
    adopted = world.service.reads.rows("rules_adopted", 100, None).items
    assert sorted((a["contract"], a["version"], a["previous"]) for a in adopted
                  if a["contract"] in OLD) == [(n, v, 1) for n, v in sorted(NEWEST.items())]


async def test_a_non_admin_sees_no_adopt_button(client: httpx.AsyncClient,
                                                world: World) -> None:
    await _web_login(client, "mill")
    r = await client.get("/admin")
    assert r.status_code == 403 and "Adopt&nbsp;v" not in r.text
    assert "/contracts/rules/adopt" not in r.text
