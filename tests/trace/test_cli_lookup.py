"""CLI ``trace`` / ``recall`` as a user calls them: by the lot number printed on a bag (as the
demo and the web UI quote lots), past the last page, and over names that look like Rich
markup."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FLOUR_LOT, FlourMill, gtin, record_flour_chain
from supplyledger.cli.main import app


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def test_trace_and_recall_take_a_lot_number(mill: FlourMill) -> None:
    data = str(mill.c.dir)
    for command in ("trace", "recall"):
        r = run(command, FLOUR_LOT, "--data", data, "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["batch"] == mill.flour
    # The same lot number on a second product: ambiguous, so the user is asked to choose.
    other = mill.c.ok(mill.parties["farm"], "products", "create_batch",
                      {"gtin": gtin("690123400001"), "lot": FLOUR_LOT, "quantity": "1",
                       "uom": "KGM"})["batch"]
    r = run("trace", FLOUR_LOT, "--data", data)
    assert r.exit_code == 2 and "several products" in r.stderr
    assert mill.flour in r.stderr and other in r.stderr
    r = run("trace", "NO-SUCH-LOT", "--data", data)
    assert r.exit_code == 2 and "no batch or traced object NO-SUCH-LOT [not_found]" in r.stderr


def test_a_page_past_the_end_is_refused(mill: FlourMill) -> None:
    for command in ("trace", "recall"):
        r = run(command, mill.flour, "--data", str(mill.c.dir), "--page", "9")
        assert r.exit_code == 2 and "--page 9 is past the last page (1)" in r.stderr
        assert r.stdout == ""  # not an empty table that reads like a clean result


def test_names_that_look_like_markup_are_printed_as_registered(
        consortium: Consortium) -> None:
    c = consortium
    # party -> (organisation, roles, registered name): the flour chain of build_flour_mill
    # with two names that Rich would read as markup.
    cast = {"farm": ("farm", ["supplier", "manufacturer"], "farm"),
            "mill": ("mill", ["manufacturer", "warehouse"], "Mill [/] ops"),
            "carrier": ("carrier", ["transporter"], "[bold]Carrier"),
            "shop": ("shop", ["platform", "warehouse"], "shop"),
            "inspector": ("qa", ["inspector"], "inspector")}
    for org, roles, _ in cast.values():
        c.org(org, roles)
    parties = {k: c.member(name, org, roles) for k, (org, roles, name) in cast.items()}
    m = record_flour_chain(c, parties, new_products=True)
    r = run("trace", m.flour, "--data", str(c.dir))
    assert r.exit_code == 0, (r.output, r.exception)  # "[/]" used to raise MarkupError
    assert "Mill [/] ops" in r.stdout and "[bold]Carrier" in r.stdout
