"""Review 20: an external auditor and a consortium admin checking the ledger in the web UI
(explorer, receipts, proofs, audit), in Debian's Chromium and over HTTP against three weeks
of the demo served on loopback (long enough for the insider's edit of a trace event). What
they tripped over, each pinned here:

* a transaction's arguments and receipt were JSON: participants as bare ids, "escrow":
  6350 and "src_balance": 656820 for CNY 63.50 and CNY 6,568.20, a refusal's details
  naming who instructed a withdrawal by id only, a balance handed over as {"CNY": 105780};
* the proof's download was saved as ``proof-<id>.json`` while the page said to run
  ``supplyledger verify-proof proof.json``: the command as given found no file;
* the audit's findings said ``changed_row`` and a detail, nothing on what that means for
  the ledger or what to do next (``supplyledger repair``), and a finding's transaction was
  a bare id, not a link.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _serving import DemoServed as Served
from _serving import browser_fixture, demo_fixture, page_as
from api.conftest import CHEAP
from supplyledger.api.web.pages_ledger import FINDING_KINDS, audit_advice
from supplyledger.api.web.render import env
from supplyledger.contracts.registry import load_builtin
from supplyledger.node.audit import AuditReport, Finding

served = demo_fixture("explorer20", weeks=3, api=CHEAP)
browser = browser_fixture()
DESK = {"width": 1280, "height": 800}


def _main(html: str) -> str:
    found = re.search(r"<main[^>]*>(.*)</main>", html, re.S)
    assert found, html
    return found.group(1)


def _tx(served: Served, contract: str, method: str, *, ok: bool = True) -> str:
    """The id of the newest transaction calling ``contract.method`` with that outcome."""
    with served.api("auditor") as api:
        items = api.get("/api/tx", params={"contract": contract, "ok": str(ok).lower(),
                                           "limit": 200}).json()["items"]
    return next(t["id"] for t in items if t["method"] == method)


def _shown(served: Served, tx: str) -> str:
    """The transaction page's envelope and receipt, as shown (the JSON folded away)."""
    with served.web("auditor") as web:
        r = web.get(f"/explorer/tx/{tx}")
    assert r.status_code == 200
    main = re.sub(r"<details>.*?</details>", "", _main(r.text), flags=re.S)
    return main.split('id="proof"')[0]


def _field(html: str, name: str) -> str:
    found = re.search(rf"<dt>{name}</dt><dd>(.*?)</dd>", html, re.S)
    assert found, html
    return found.group(1)


# -- receipts and arguments for people ----------------------------------------------------------
def test_an_orders_arguments_result_and_events_show_names_and_money(served: Served) -> None:
    shown = _shown(served, _tx(served, "orders", "place"))
    assert "&#34;" not in shown  # no JSON outside the folded copies
    assert re.fullmatch(r"CNY \d[\d,]*\.\d\d", _field(shown, "unit price"))
    assert re.fullmatch(r"CNY \d[\d,]*\.\d\d", _field(shown, "escrow"))
    assert re.fullmatch(r"CNY \d[\d,]*\.\d\d", _field(shown, "src balance"))
    assert ">Riverside Baking Supplies</span>" in _field(shown, "seller")
    assert ">Platform A operations</span>" in _field(shown, "platform")
    # the product by its name, in the arguments (13 digits) and in the event (14)
    assert shown.count('<span title="GTIN ') == 2 and "Baking yeast" in shown
    assert "UTC</time>" in _field(shown, "earliest")
    assert "<code>orders.money</code>" in shown and "<code>orders.placed</code>" in shown


def test_a_refused_calls_details_name_who(served: Served) -> None:
    shown = _shown(served, _tx(served, "payments", "withdraw", ok=False))
    assert "✖ refused: <code>invalid_state</code>" in shown
    assert ">Highland Noodle Co.</span>" in _field(shown, "instructed by")
    assert "it changed nothing on the ledger" in shown


def test_a_balance_handed_over_is_money_in_its_currency(served: Served) -> None:
    shown = _shown(served, _tx(served, "payments", "hand_over_balance"))
    result = shown.split("<h3>Result</h3>")[1].split("<h3>Events</h3>")[0]
    money = r'<dd><dl class="kv"><dt>CNY</dt><dd>CNY \d[\d,]*\.\d\d</dd>'
    assert re.search(r"<dt>handed over</dt>" + money, result)
    assert re.search(r"<dt>amounts</dt>" + money, shown)


# -- the proof, checked offline as the page says ------------------------------------------------
def test_the_downloaded_proof_verifies_with_the_command_the_page_gives(
        served: Served, browser: Any, tmp_path: Path) -> None:
    tx = _tx(served, "orders", "place")
    page = page_as(browser, served, "auditor", DESK, accept_downloads=True)
    try:
        page.goto(f"{served.url}/explorer/tx/{tx}")
        said = page.locator("#proof code").first.inner_text()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download it").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
    finally:
        page.context.close()
    words = shlex.split(said)
    assert words[:2] == ["supplyledger", "verify-proof"]
    cli = [str(Path(sys.executable).with_name("supplyledger")), *words[1:]]  # the installed CLI
    done = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"VALID tx {tx}" in done.stdout


# -- the audit says what a finding means and what to do ------------------------------------
def test_the_audit_of_the_edited_row_says_what_it_means_and_what_to_do(
        served: Served) -> None:
    with served.web("auditor") as web:
        csrf = web.headers["X-CSRF-Token"]
        full = _main(web.post("/audit", data={"csrf": csrf}).text)
        part = web.post("/audit", data={"csrf": csrf}, headers={"hx-request": "true"}).text
        again = _main(web.get("/audit").text)
    for html in (full, part, again):
        assert "What it means and what to do" in html
        assert "<code>supplyledger repair --data &lt;the node&#39;s data directory&gt;</code>" \
            in html
        assert "The blocks and every signature are intact" in html
        assert "edited in the database <small><code>changed_row</code></small>" in html


def test_findings_in_the_blocks_say_to_restore_and_link_their_transaction() -> None:
    tx = "ab" * 32
    report = AuditReport(ok=False, blocks=9, txs=9, findings=[
        Finding("signature", "signature does not verify", height=3, tx=tx, table="txs",
                row=tx)])
    advice = audit_advice(report, load_builtin())
    assert advice is not None and "restore from a backup" in advice
    html = env.get_template("_audit_report.html").render(report=report, advice=advice)
    assert f'<a href="/explorer/tx/{tx}"' in html
    assert "A transaction&#39;s signature does not verify" in html


@pytest.mark.parametrize("kinds", [{"changed_row", "missing_row", "extra_row"},
                                   {"unknown_object"}])
def test_derived_findings_say_to_repair(kinds: set[str]) -> None:
    report = AuditReport(ok=False, findings=[Finding(k, "x", table="orders") for k in kinds])
    advice = audit_advice(report, load_builtin())
    assert advice is not None and "`supplyledger repair --data" in advice


def test_every_kind_the_audit_finds_is_said_in_words() -> None:
    from supplyledger.node import audit

    source = Path(audit.__file__).read_text()
    assert set(re.findall(r'find\("([a-z_]+)"', source)) <= set(FINDING_KINDS)
