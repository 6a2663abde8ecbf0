"""Review 10 of the command line, as a new operator following README.md meets it.

Each test pins a defect found on that walk: a misspelt contract or method name that was
committed as a failed transaction (a permanent block for a typo) with no hint at the right
name; an EPCIS refusal that printed its one reason twice; ``demo --no-serve`` telling the
operator to look at a URL nothing serves and to press Ctrl-C; ``route solve --svg`` writing
its picture without saying so.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from supplyledger.cli.common import console
from supplyledger.cli.demo import _report
from supplyledger.demo.load import DemoInfo
from supplyledger.errors import SupplyLedgerError
from supplyledger.store.sqlite import DB_NAME

from .test_cli_review import one_line_error, run


def blocks(data: Path) -> int:
    with sqlite3.connect(data / DB_NAME) as conn:
        return int(conn.execute("SELECT count(*) FROM blocks").fetchone()[0])


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("review10") / "ledger"
    res = run("init", "--data", str(data), "--chain", "review10", "--admin", "alice")
    assert res.exit_code == 0, res.output
    return data


@pytest.mark.parametrize(("contract", "method", "fragments"), [
    ("identiti", "register_org", ["no contract named 'identiti'", "did you mean 'identity'?",
                                  "[unknown_contract]"]),
    ("identity", "register_orgg", ["has no method 'register_orgg'",
                                   "did you mean 'register_org'?", "[unknown_method]"]),
    ("nosuch", "x", ["no contract named 'nosuch'", "one of credit, custody", "identity"]),
    ("identity", "zzz", ["has no method 'zzz'", "it has register_member, register_org"]),
])
def test_a_misspelt_name_is_refused_before_anything_is_written(
        ledger: Path, contract: str, method: str, fragments: list[str]) -> None:
    before = blocks(ledger)
    res = run("tx", "submit", contract, method, "--data", str(ledger), "--key",
              str(ledger / "keys" / "alice.key"), "--args", '{"id": "farm"}')
    one_line_error(res, *fragments)
    assert blocks(ledger) == before  # used to commit a failed transaction


def test_a_known_name_still_commits(ledger: Path) -> None:
    before = blocks(ledger)
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              str(ledger / "keys" / "alice.key"), "--args",
              '{"id": "farm", "name": "Farm", "roles": ["supplier"]}')
    assert res.exit_code == 0, res.output
    assert "ok" in res.stdout and blocks(ledger) == before + 1


def _supplier_key(ledger: Path, tmp_path: Path) -> Path:
    """A registered supplier's key file: an admin may not capture events (refused unsigned)."""
    key = tmp_path / "grower.key"
    assert run("keys", "new", str(key), "--alg", "ed25519").exit_code == 0
    public = json.loads(run("keys", "show", str(key), "--json").stdout)["public_key"]
    admin = str(ledger / "keys" / "alice.key")
    for method, args in (("register_org", {"id": "growers", "name": "Growers",
                                           "roles": ["supplier"]}),
                         ("register_member", {"org": "growers", "public_key": public,
                                              "name": "Grower", "roles": ["supplier"]})):
        res = run("tx", "submit", "identity", method, "--data", str(ledger), "--key", admin,
                  "--args", json.dumps(args))
        assert res.exit_code == 0, res.output
    return key


def test_an_epcis_refusal_with_one_reason_says_it_once(ledger: Path, tmp_path: Path) -> None:
    doc = tmp_path / "no-context.json"
    doc.write_text(json.dumps({"type": "EPCISDocument", "schemaVersion": "2.0",
                               "creationDate": "2026-11-01T00:00:00Z",
                               "epcisBody": {"eventList": []}}))
    res = run("epcis", "import", str(doc), "--data", str(ledger), "--key",
              str(_supplier_key(ledger, tmp_path)))
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused no-context.json: "), res.stderr
    assert "@context" in lines[0]


def _info(tmp_path: Path) -> DemoInfo:
    return DemoInfo(data_dir=tmp_path / "demo", node_password="pw-1", faulty_lot="x/LOT1",
                    hot_lot="x/LOT2", tampered="trace_events row (a, 1)",
                    refused=["forged: refused"])


def test_demo_without_serving_says_how_to_serve(tmp_path: Path) -> None:
    with console.capture() as cap:
        _report(_info(tmp_path), "http://127.0.0.1:8000/", 1.0, serving=False)
    text = " ".join(cap.get().split())
    serve = f"supplyledger serve --data {tmp_path / 'demo'}"
    assert f"on http://127.0.0.1:8000/ once `{serve}` runs:" in text
    assert "Ctrl-C" not in text and "with no node running, `supplyledger repair" in text
    assert f"(for `{serve}`): pw-1" in text


def test_demo_while_serving_keeps_its_wording(tmp_path: Path) -> None:
    with console.capture() as cap:
        _report(_info(tmp_path), "http://127.0.0.1:8000/", 1.0)
    text = " ".join(cap.get().split())
    assert "Things to look at on http://127.0.0.1:8000/:" in text
    assert "after Ctrl-C, `supplyledger repair" in text


SOLOMON = """TINY

VEHICLE
NUMBER     CAPACITY
  2         100

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      40         50          0          0       1000          0
    1      45         68         10          0        900         10
    2      35         30         20          0        900         10
"""


def test_route_solve_names_the_picture_it_wrote(tmp_path: Path) -> None:
    instance = tmp_path / "tiny.txt"
    instance.write_text(SOLOMON)
    svg = tmp_path / "routes.svg"
    res = run("route", "solve", str(instance), "--time-limit", "0.2", "--svg", str(svg))
    assert res.exit_code == 0, res.output
    assert svg.read_text().startswith("<svg") and f"picture: {svg}" in res.stdout
    res = run("route", "solve", str(instance), "--time-limit", "0.2", "--json", "--svg",
              str(svg))
    assert res.exit_code == 0 and json.loads(res.stdout)["name"] == "TINY"  # still pure JSON


def test_the_error_type_of_a_typo_is_the_contract_errors_one() -> None:
    from supplyledger.cli.ledger import _known_method

    with pytest.raises(SupplyLedgerError) as info:
        _known_method("identity", "register_orgg")
    assert info.value.code == "unknown_method"
    _known_method("identity", "register_org")  # a known pair passes
