"""Review 21: an operator upgrades a ledger the previous release made, following
docs/operations.md ("Upgrade") and the output of ``supplyledger rules``.

``rules`` printed one adoption command, for the first contract with newer rules, wrapped by
the console at the terminal's width (pasted, it ran as two commands), and said nothing of
what the versions change or that an adoption closes the way back to the previous release.
The ledger is an earlier release's demo ledger (``data/release-c797c06``, every contract on
rules v1: see ``test_upgrade.py``); the commands run through the CLI as an operator types
them.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.main import app
from supplyledger.cli.rules_cmd import adopt_commands, rules_advice
from supplyledger.contracts.builtin.rules import check_ledger_rules
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import RulesUnsupported
from supplyledger.store.localdb import LocalDB
from supplyledger.store.sqlite import DB_NAME

from .test_upgrade import SECRETS
from .test_upgrade import old_ledger as old_ledger

NODE_PW = SECRETS["node_key_password"]
DOCS = Path(__file__).parents[2] / "docs"
ADOPT = "supplyledger tx submit rules adopt "


def run(*args: str, columns: int = 400, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={
        "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW, "COLUMNS": str(columns), **(env or {})})


def flat(text: str) -> str:
    return " ".join(text.split())


def _in_force(d: Path) -> dict[str, dict[str, object]]:
    res = run("rules", "--data", str(d), "--json")
    assert res.exit_code == 0, res.output
    return {r["contract"]: r for r in json.loads(res.stdout)["contracts"]}


def _key_file(d: Path, login: str, out: Path) -> Path:
    """The login's sealed key file, as its account page downloads it."""
    db = LocalDB(d / DB_NAME)
    try:
        row = db.account_by_login(login)
        assert row is not None
        out.write_bytes(row.sealed_key)
    finally:
        db.close()
    return out


def _as_customer(d: Path, key: Path) -> Result:
    """A call the customer's roles do not admit: refused before signing (exit 2) with
    identity's role_denied words, which rules v4 changed."""
    return run("tx", "submit", "identity", "register_org", "--data", str(d), "--key", str(key),
               "--args", '{"id": "x-org", "name": "X", "roles": ["supplier"]}',
               env={"SUPPLYLEDGER_KEY_PASSWORD": SECRETS["logins"]["customer"]})


def test_rules_prints_every_adoption_command_unbroken_and_each_works_as_printed(
        old_ledger: Path, tmp_path: Path) -> None:
    before = _in_force(old_ledger)
    newest = {n: r["newer"][-1] for n, r in before.items() if r["newer"]}  # type: ignore[index]
    assert len(newest) > 1, newest  # else one command was all there was to print
    res = run("rules", "--data", str(old_ledger), columns=60)  # a narrow terminal
    assert res.exit_code == 0, res.output
    cmds = [ln.strip() for ln in res.stdout.splitlines() if ln.strip().startswith(ADOPT)]
    printed = {}
    for cmd in cmds:  # each whole on its line: the --args document parses
        argv = shlex.split(cmd)
        assert argv[argv.index("--data") + 1] == str(old_ledger), cmd
        a = json.loads(argv[argv.index("--args") + 1])
        printed[a["contract"]] = a["version"]
    assert printed == newest and len(cmds) == len(newest), res.stdout
    out = flat(res.stdout)
    assert 'docs/architecture.md, "Audit"' in out, out
    assert "going back means the backup taken before the upgrade" in out, out

    customer = _key_file(old_ledger, "customer", tmp_path / "customer.key")
    old_rules = _as_customer(old_ledger, customer)
    assert old_rules.exit_code == 2, old_rules.output
    assert "needs one of the roles ['admin'] [role_denied]" in flat(old_rules.stderr)

    admin = _key_file(old_ledger, "admin", tmp_path / "admin.key")
    for cmd in cmds:
        argv = [str(admin) if a == "ADMIN.key" else a for a in shlex.split(cmd)[1:]]
        done = run(*argv, env={"SUPPLYLEDGER_KEY_PASSWORD": SECRETS["logins"]["admin"]})
        assert done.exit_code == 0, (cmd, done.output)
    after = _in_force(old_ledger)
    assert {n: after[n]["in_force"] for n in newest} == newest
    new_rules = _as_customer(old_ledger, customer)
    assert new_rules.exit_code == 2, new_rules.output
    assert "identity.register_org needs the role admin [role_denied]" in flat(
        new_rules.stderr), new_rules.stderr
    again = run("rules", "--data", str(old_ledger))
    assert again.exit_code == 0 and ADOPT not in again.stdout, again.output
    assert "The ledger runs the newest rules this release implements." in flat(again.stdout)

    # What the advice and docs/operations.md say: the previous release (its contracts as
    # they stood before the adoptions) no longer runs the ledger.
    previous = {n: replace(c, versions=tuple(v for v in c.versions
                                             if v <= before[n]["in_force"]))  # type: ignore[operator]
                for n, c in load_builtin().items()}
    with pytest.raises(RulesUnsupported):
        check_ledger_rules(previous, {n: int(r["in_force"]) for n, r in after.items()})  # type: ignore[call-overload]


def _row(contract: str, in_force: int, implemented: list[int]) -> dict[str, object]:
    return {"contract": contract, "in_force": in_force, "implemented": implemented,
            "runnable": in_force in implemented,
            "newer": [v for v in implemented if v > in_force]}


def test_adopt_commands_quote_the_directory_and_name_each_contract_s_newest() -> None:
    rows = [_row("trace", 4, [1, 2, 3, 4, 5, 6]), _row("fx", 2, [1, 2]),
            _row("orders", 1, [1, 2])]
    cmds = adopt_commands(rows, Path("/srv/my ledger"))  # type: ignore[arg-type]
    assert [shlex.split(c)[5:] for c in cmds] == [
        ["--data", "/srv/my ledger", "--key", "ADMIN.key", "--args",
         '{"contract": "trace", "version": 6}'],
        ["--data", "/srv/my ledger", "--key", "ADMIN.key", "--args",
         '{"contract": "orders", "version": 2}']]
    # A release that cannot run the ledger offers no adoption.
    lacking = [*rows, _row("customs", 9, [1, 2])]
    assert adopt_commands(lacking, Path("DIR")) == []  # type: ignore[arg-type]
    assert "adopt" not in rules_advice(lacking, Path("DIR"))  # type: ignore[arg-type]


def test_the_upgrade_docs_point_at_the_printed_commands_and_the_way_back() -> None:
    # The example adopted orders v2 "on a ledger still running v1": an upgraded ledger
    # runs orders v4, so as written it was refused (invalid_state).
    up = flat((DOCS / "operations.md").read_text().split("## Upgrade", 1)[1]
              .split("\n## ", 1)[0])
    assert "prints the adoption command of each contract with newer rules" in up
    assert "going back then means the backup of step 1" in up
    assert "answers `key_locked`" in up and "POST /api/auth/unlock" in up
    contracts = load_builtin()
    examples = [json.loads(m.split("'")[1]) for m in up.split("-d ")[1:]
                if m.startswith("'{\"contract\"")]
    examples += [json.loads(up.split("--args '", 1)[1].split("'", 1)[0])]
    assert len(examples) == 2, up
    for ex in examples:  # this release's newest: what an upgraded ledger may adopt
        assert ex["version"] == contracts[ex["contract"]].versions[-1], ex
