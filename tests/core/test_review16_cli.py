"""Review 16 of the command line: the mistakes a user makes with the files the documented
commands read and write.

An output path (``--out``, ``--svg``, ``--save``, a new key file) in a directory that does
not exist or under a file, or that is itself a directory; an input that is missing or a
directory; a wrong password. Each is one ``error:`` line naming the option and the path,
exit 2, no traceback, and nothing written: an output path is checked before the work (a
search, a signature) whose result it would hold, and written whole or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supplyledger.cli.common import write_out

from .test_cli_review import one_line_error, run
from .test_review10_cli import blocks


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("review16") / "ledger"
    res = run("init", "--data", str(data), "--chain", "review16", "--admin", "alice")
    assert res.exit_code == 0, res.output
    return data


def _places(tmp: Path) -> list[tuple[Path, str]]:
    """(bad output path, what the error says) for each way an output path goes wrong."""
    (tmp / "afile").write_text("x")
    return [(tmp / "nodir" / "out.x", "No such file or directory"),
            (tmp / "afile" / "out.x", "Not a directory"),
            (tmp, "Is a directory")]


def _instance(tmp: Path) -> Path:
    inst = tmp / "three.txt"
    inst.write_text("THREE\n\nVEHICLE\nNUMBER CAPACITY\n 2 40\n\nCUSTOMER\n"
                    "CUST NO. X Y DEMAND READY DUE SERVICE\n    0 0 0 0 0 1000 0\n"
                    "    1 3 4 10 0 1000 5\n    2 -3 4 10 0 1000 5\n    3 0 -5 10 0 1000 5\n")
    return inst


def test_output_paths_that_cannot_be_written(ledger: Path, tmp_path: Path) -> None:
    inst = _instance(tmp_path)
    commands = {
        "--out": ["contracts"],
        "--svg": ["route", "solve", str(inst), "--time-limit", "1"],
        "--svg ": ["dispatch", "show", "P-1", "--data", str(ledger)],
        "--out ": ["epcis", "export", "--batch", "L1", "--data", str(ledger)],
        "--save": ["dispatch", "plan", "--data", str(ledger), "--request", str(inst)],
    }
    before = blocks(ledger)
    for path, says in _places(tmp_path):
        for option, command in commands.items():
            res = run(*command, option.strip(), str(path))
            one_line_error(res, option.strip(), str(path), says)
        res = run("keys", "new", str(path), "--alg", "ed25519")
        one_line_error(res, "key file", str(path), says)
    assert not (tmp_path / "nodir").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "three.txt"]
    assert (tmp_path / "afile").read_text() == "x"
    assert blocks(ledger) == before


def test_input_paths_that_are_missing_or_directories(ledger: Path, tmp_path: Path) -> None:
    for path, says in ((tmp_path / "missing.json", "No such file or directory"),
                       (tmp_path, "Is a directory")):
        one_line_error(run("dispatch", "plan", "--data", str(ledger), "--request", str(path)),
                       "--request", str(path), says)
        one_line_error(run("dispatch", "show", "P-1", "--data", str(ledger), "--request",
                           str(path)), "--request", str(path), says)
        one_line_error(run("dispatch", "record", str(path), "--data", str(ledger), "--key",
                           str(ledger / "keys" / "alice.key")), "plan file", str(path), says)
        one_line_error(run("keys", "show", str(path)), "key file", str(path), says)
        one_line_error(run("kpi", "--data", str(ledger), "--tariffs", str(path)),
                       "--tariffs", says)
        one_line_error(run("emissions", "report", "--data", str(ledger), "--month", "2026-11",
                           "--factors", str(path)), "--factors", says)


def test_a_wrong_password_names_the_file(ledger: Path, tmp_path: Path) -> None:
    key = ledger / "keys" / "alice.key"
    args = json.dumps({"id": "o16", "name": "O", "roles": ["platform"]})
    before = blocks(ledger)
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              str(key), "--args", args, env={"SUPPLYLEDGER_KEY_PASSWORD": "wrong"})
    one_line_error(res, str(key), "wrong password", "[key_file_error]")
    res = run("tx", "submit", "identity", "register_org", "--data", str(ledger), "--key",
              str(key), "--args", args, env={"SUPPLYLEDGER_NODE_PASSWORD": "wrong"})
    one_line_error(res, "node key", "wrong password")
    res = run("keys", "rotate", "--data", str(ledger), "--key", str(key), "--out",
              str(tmp_path / "new.key"), env={"SUPPLYLEDGER_KEY_PASSWORD": "wrong"})
    one_line_error(res, str(key), "wrong password")
    assert not (tmp_path / "new.key").exists() and blocks(ledger) == before


def test_a_file_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "plan.svg"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_out(path, ["not", "text"])  # type: ignore[arg-type]  # fails before writing
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["plan.svg"]
    write_out(path, "<svg/>")
    assert path.read_text() == "<svg/>" and [p.name for p in tmp_path.iterdir()] == [
        "plan.svg"]
