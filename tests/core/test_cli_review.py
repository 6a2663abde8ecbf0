"""The command line as a user meets it: help text, refusals and error messages.

Each test pins a defect found by using the CLI: a summary line broken in ``--help``, a
Python traceback instead of one line, a half-written ledger directory, an error code eaten
by Rich markup, an option that was ignored, or a progress bar on the stdout of ``--json``.
Ledgers are made through ``supplyledger init`` itself (once per module: RSA keys and scrypt
seals are the slow part).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from supplyledger.cli import common
from supplyledger.cli.main import app
from supplyledger.errors import SupplyLedgerError
from supplyledger.store.sqlite import DB_NAME

PASSWORDS = {"SUPPLYLEDGER_NODE_PASSWORD": "node-pw", "SUPPLYLEDGER_KEY_PASSWORD": "key-pw"}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**PASSWORDS, "COLUMNS": "200",
                                                    **(env or {})})


def one_line_error(res: Result, *fragments: str) -> None:
    """Exit 2 with one ``error:`` line holding ``fragments``, and no traceback."""
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    assert isinstance(res.exception, SystemExit), res.exception
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], res.stderr


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "ledger"
    res = run("init", "--data", str(data), "--chain", "cli-test", "--admin", "alice")
    assert res.exit_code == 0, res.output
    assert (data / DB_NAME).is_file() and (data / "keys" / "alice.key").is_file()
    return data


def test_every_command_summary_is_one_line() -> None:
    # Rich keeps a docstring's hard line breaks in the command lists of `--help`.
    broken = []

    def walk(cmd: Any, path: list[str]) -> None:
        first = (cmd.help or "").strip().split("\n\n")[0]
        if "\n" in first:
            broken.append(" ".join(path))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["supplyledger"])
    assert not broken, f"summary broken across lines: {broken}"


@pytest.mark.parametrize(("setup", "args", "message"), [
    ("other files", [], "is not empty"),
    ("a file", [], "is a file"),
    ("", ["--admin", "../outside"], "--admin '../outside'"),
    ("", ["--admin", "alice", "--admin", "alice"], "must be different"),
])
def test_init_refuses_and_writes_nothing(tmp_path: Path, setup: str, args: list[str],
                                         message: str) -> None:
    data = tmp_path / "ledger"
    if setup == "other files":
        data.mkdir()
        (data / "notes.txt").write_text("mine")
    elif setup == "a file":
        data.write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    one_line_error(run("init", "--data", str(data), *args), message)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_failed_receipt_shows_its_message_and_code(ledger: Path) -> None:
    submit = ("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              str(ledger / "keys" / "alice.key"), "--args")
    # Arguments the schema refuses never reach a block: one error line, exit 2. The message
    # quotes a regular expression, which Rich used to read as markup.
    one_line_error(run(*submit, '{"id": "Bad Id", "name": "x", "roles": []}'),
                   "id does not match [a-z0-9]", "[validation_error]")
    org = '{"id": "twice", "name": "x", "roles": ["supplier"]}'
    assert run(*submit, org).exit_code == 0
    res = run(*submit, org)  # decided by the ledger's state: a failed receipt, exit 1
    assert res.exit_code == 1, res.output
    assert "failed: " in res.stdout and "[already_exists]" in res.stdout
    assert "{'code'" not in res.stdout


def test_wrong_password_names_the_key_file(ledger: Path) -> None:
    key = ledger / "keys" / "alice.key"
    base = ["tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
            str(key)]
    one_line_error(run(*base, env={"SUPPLYLEDGER_KEY_PASSWORD": "wrong"}), f"{key}: wrong "
                   "password", "[key_file_error]")
    one_line_error(run(*base, env={"SUPPLYLEDGER_NODE_PASSWORD": "wrong"}),
                   f"node key {ledger / 'node.key'}: wrong password")


def test_errors_keep_their_code(ledger: Path) -> None:
    one_line_error(run("proof", "ab" * 32, "--data", str(ledger)),
                   "no committed transaction", "[not_found]")


@pytest.mark.parametrize("command", [["proof", "ab" * 32], ["epcis", "export", "--batch", "x"],
                                     ["trace", "x"]])
def test_reads_of_a_directory_without_a_ledger_write_nothing(tmp_path: Path,
                                                             command: list[str]) -> None:
    one_line_error(run(*command, "--data", str(tmp_path)), f"no ledger in {tmp_path}")
    assert list(tmp_path.iterdir()) == []  # SQLite used to create an empty database here
    one_line_error(run(*command, "--data", str(tmp_path / "missing")), "no ledger in")


@pytest.mark.parametrize("command", [["serve"], ["bench-pages"]])
def test_serving_a_missing_ledger_asks_no_password(tmp_path: Path, command: list[str]) -> None:
    res = run(*command, "--data", str(tmp_path),
              env={"SUPPLYLEDGER_NODE_PASSWORD": ""})  # unset: a prompt would fail here
    one_line_error(res, f"no ledger in {tmp_path}")


def test_submit_to_a_missing_ledger_asks_no_password(tmp_path: Path, ledger: Path) -> None:
    res = run("tx", "submit", "identity", "register_org", "--data", str(tmp_path), "--key",
              str(ledger / "keys" / "alice.key"),
              env={"SUPPLYLEDGER_NODE_PASSWORD": ""})  # unset: a prompt would fail here
    one_line_error(res, f"no ledger in {tmp_path}")


@pytest.mark.parametrize("command", [["keys", "show", "{dir}"], ["verify-proof", "{dir}"],
                                     ["contracts", "--out", "{dir}"],
                                     ["contracts", "--out", "{dir}/no/such/x.md"]])
def test_file_errors_are_one_line(tmp_path: Path, command: list[str]) -> None:
    res = run(*[c.replace("{dir}", str(tmp_path)) for c in command])
    one_line_error(res, str(tmp_path))
    assert "Is a directory" in res.stderr or "No such file or directory" in res.stderr


def test_epcis_import_refuses_a_directory_before_any_password(tmp_path: Path,
                                                              ledger: Path) -> None:
    res = run("epcis", "import", str(tmp_path), "--data", str(ledger), "--key",
              str(ledger / "keys" / "alice.key"), env={"SUPPLYLEDGER_KEY_PASSWORD": ""})
    one_line_error(res, f"{tmp_path}: not a file")


@pytest.mark.parametrize(("command", "option"), [
    (["bench", "--txs", "0"], "--txs"),  # used to run, then fail with a traceback
    (["serve", "--data", ".", "--port", "70000"], "--port"),  # traceback after "serving"
    (["demo", "--no-serve", "--weeks", "2"], "--weeks"),  # the story needs 4 weeks
])
def test_out_of_range_numbers_are_refused(command: list[str], option: str) -> None:
    res = run(*command)
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in res.output, res.output


def test_demo_weeks_reach_the_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import supplyledger.demo as demo_pkg
    from supplyledger.cli.demo import MIN_WEEKS
    from supplyledger.demo.flour import HOT_LOT_NO

    assert MIN_WEEKS == -(-HOT_LOT_NO // 2)  # two lots a week: the hot lot's week
    seen: dict[str, Any] = {}

    def fake_load(data: Path, **kw: Any) -> None:
        seen.update(kw, data=data)
        raise SupplyLedgerError("stopped by the test")

    monkeypatch.setattr(demo_pkg, "load_demo", fake_load)
    one_line_error(run("demo", "--no-serve", "--weeks", "5", "--data", str(tmp_path / "d")),
                   "stopped by the test")
    assert seen["weeks"] == 5 and seen["data"] == tmp_path / "d"


def test_demo_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(run("demo", "--no-serve", "--data", str(tmp_path)), "is not empty")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_json_is_alone_on_stdout_while_a_progress_bar_draws(
        ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As with `audit --json > report.json` on a terminal: the bar is drawn (stderr is a
    # terminal) and must not leave anything in the redirected stdout.
    monkeypatch.setattr(common, "_stderr_is_terminal", lambda: True)
    res = run("audit", "--data", str(ledger), "--json")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("{") and json.loads(res.stdout)["ok"] is True


def test_fail_prints_markup_literally(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        common.fail("name 'Bad [/] Co' [bold]x[/bold] [not_found]")
    assert "name 'Bad [/] Co' [bold]x[/bold] [not_found]" in capsys.readouterr().err
