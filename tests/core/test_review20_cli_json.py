"""Review 20: under ``--json`` only ``proof`` and ``verify-proof`` printed a JSON refusal on
stdout; ``audit``, ``backup``, ``repair``, ``rules``, ``kpi``, ``trace`` and the other
commands with ``--json`` exited 2 with nothing there, so a script reading stdout had nothing
to parse. Now every such command prints ``{**success key false, "code", "error"}`` (the
success key where its document has one: ``ok`` for audit, repair, tx submit, epcis import),
whether the refusal was raised as an error or through ``fail()``; the exit code and the
one-line error on stderr are unchanged. Also ``kpi --period 2026-13`` named ``month`` where
the option is ``--period``. Real SQLite ledgers, a real node, the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.main import app
from supplyledger.store.sqlite import DB_NAME

from .conftest import Ledger

ENV = {"SUPPLYLEDGER_NODE_PASSWORD": "node-pw", "COLUMNS": "200"}


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def _refused(res: Result, shape: dict[str, Any], code: str, fragment: str) -> dict[str, Any]:
    """``res`` exited 2 with exactly one JSON refusal on stdout and one line on stderr,
    both naming the problem."""
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    out = json.loads(res.stdout)  # the whole of stdout is the one document
    assert out == {**shape, "code": code, "error": out["error"]}, out
    assert fragment in out["error"], out
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and fragment in line, line
    return out


# (command before --data, success key, code, what the error says); DIR is the missing ledger
MISSING: list[tuple[list[str], dict[str, Any], str, str]] = [
    (["audit"], {"ok": False}, "file_error", "no ledger at DIR"),
    (["backup", "--out", "OUT"], {}, "store_error", "no ledger in DIR"),
    (["repair"], {"ok": False}, "not_found", "no ledger in DIR"),
    (["rules"], {}, "not_found", "no ledger in DIR"),
    (["kpi"], {}, "not_found", "no ledger in DIR"),
    (["trace", "lot-1"], {}, "not_found", "no ledger in DIR"),
    (["recall", "lot-1"], {}, "not_found", "no ledger in DIR"),
    (["emissions", "report", "--month", "2026-11"], {}, "not_found", "no ledger in DIR"),
    (["dispatch", "show", "plan-1"], {}, "not_found", "no ledger in DIR"),
    (["bench-pages"], {"ok": False}, "not_found", "no ledger in DIR"),
]


@pytest.mark.parametrize(("command", "shape", "code", "says"), MISSING,
                         ids=[" ".join(m[0][:2]) for m in MISSING])
def test_a_missing_ledger_is_a_json_refusal(tmp_path: Path, command: list[str],
                                            shape: dict[str, Any], code: str,
                                            says: str) -> None:
    missing, out = tmp_path / "missing", tmp_path / "copy"
    args = [str(out) if a == "OUT" else a for a in command]
    res = _cli(*args, "--data", str(missing), "--json")
    _refused(res, shape, code, says.replace("DIR", str(missing)))
    assert not missing.exists() and not out.exists()  # nothing written
    # Without --json stdout stays empty: the line on stderr is the whole answer.
    plain = _cli(*args, "--data", str(missing))
    assert plain.exit_code == 2 and plain.stdout == "" and plain.stderr == res.stderr


def test_audit_and_rules_refuse_a_database_that_is_no_ledger(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / DB_NAME).write_bytes(b"not a database " * 100)
    _refused(_cli("audit", "--data", str(junk), "--json"), {"ok": False}, "store_error",
             f"{junk / DB_NAME} cannot be read as a ledger")
    other = tmp_path / "other"
    other.mkdir()
    conn = sqlite3.connect(other / DB_NAME)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    _refused(_cli("rules", "--data", str(other), "--json"), {}, "store_error",
             f"the ledger in {other} cannot be read: no such table: state")


def test_backup_refuses_an_out_that_is_a_file(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    out.write_text("keep me")
    _refused(_cli("backup", "--data", str(ledger.dir), "--out", str(out), "--json"), {},
             "file_error", f"--out {out}: Not a directory")
    assert out.read_text() == "keep me"


def test_repair_refuses_a_ledger_its_node_runs(ledger: Ledger) -> None:
    ledger.start()
    before = ledger.counts()
    _refused(_cli("repair", "--data", str(ledger.dir), "--json"), {"ok": False},
             "ledger_in_use", "repair needs it stopped")
    assert ledger.counts() == before


def test_trace_and_recall_refuse_an_unknown_batch(ledger: Ledger) -> None:
    for command in ("trace", "recall"):
        _refused(_cli(command, "no-such-lot", "--data", str(ledger.dir), "--json"), {},
                 "not_found", "no batch or traced object no-such-lot")


@pytest.mark.parametrize(("period", "says"), [
    ("2026-13", "--period: a month must be YYYY-MM, got '2026-13': there is no month 13"),
    ("1969-12", "--period: a month must be YYYY-MM, got '1969-12': ledger times start in"),
    ("1969-W01", "--period: a week must be YYYY-Www, got '1969-W01'"),
    ("2026-W60", "--period: no ISO week '2026-W60'"),
    ("fortnight", "--period must be month, week, current or one period"),
])
def test_kpi_names_the_period_option(ledger: Ledger, period: str, says: str) -> None:
    data = str(ledger.dir)
    _refused(_cli("kpi", "--data", data, "--period", period, "--json"), {},
             "validation_error", says)
    plain = _cli("kpi", "--data", data, "--period", period)
    assert plain.exit_code == 2 and plain.stdout == ""
    assert plain.stderr.startswith(f"error: {says}") and "[validation_error]" in plain.stderr


def test_kpi_keeps_the_other_options_refusals(ledger: Ledger, tmp_path: Path) -> None:
    data = str(ledger.dir)
    _refused(_cli("kpi", "--data", data, "--period", "2026-11", "--from", "2026-11-01",
                  "--to", "2026-11-02", "--json"), {}, "validation_error",
             "one named period takes no from/to range")
    _refused(_cli("kpi", "--data", data, "--tariffs", str(tmp_path / "none.json"), "--json"),
             {}, "file_error", "cannot read tariffs: --tariffs")


def test_other_commands_refuse_in_json_too(ledger: Ledger, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    data = str(ledger.dir)
    _refused(_cli("keys", "show", str(missing), "--json"), {}, "file_error",
             f"key file {missing}: No such file or directory")
    _refused(_cli("epcis", "import", str(missing), "--data", data, "--key", str(missing),
                  "--json"), {"ok": False}, "file_error", f"{missing}: no such file")
    _refused(_cli("tx", "submit", "identity", "register_orgs", "--data", data, "--key",
                  str(missing), "--json"), {"ok": False}, "unknown_method",
             "did you mean 'register_org'?")
    _refused(_cli("tx", "submit", "identity", "register_org", "--data", data, "--key",
                  str(missing), "--args", "[1]", "--json"), {"ok": False},
             "validation_error", "--args must be a JSON object")
    _refused(_cli("route", "solve", str(missing), "--json"), {}, "solver_error",
             f"cannot read {missing}")
