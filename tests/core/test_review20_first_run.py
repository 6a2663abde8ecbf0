"""Review 20: the first ten minutes after a clone: README, ``scripts/*`` and the demo.

Each test pins what tripped a new user: a ``scripts/setup.sh`` interrupted while it made
``.venv`` failed every later run ("No module named pip") and reinstalled on every run,
``scripts/test.sh --help`` ran the set-up, ruff and mypy before pytest's help, the demo
loaded for a while before finding its port taken, left a half-loaded ledger behind on
Ctrl-C (so that the same ``--data`` was refused next time), printed ``supplyledger``
commands that a new shell does not find, and pointed at a "Withdrawals" page that does not
exist and at an audit any login could run. The loader is replaced where only the command
around it is under test (loading the demo is what takes the time); the scripts run for
real, on a toy project whose build needs no package index.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from supplyledger.cli.common import console
from supplyledger.cli.demo import _report
from supplyledger.cli.main import app
from supplyledger.demo import DemoInfo
from supplyledger.errors import StoreError
from supplyledger.ingest.broker import free_port
from supplyledger.store.sqlite import DB_NAME

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def one_line_error(res: Result, *fragments: str) -> str:
    assert res.exit_code == 2, (res.stdout, res.stderr, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], res.stderr
    return lines[0]


def info(data: Path, **notes: Any) -> DemoInfo:
    return DemoInfo(data, "node-pw", [("admin", "pw", "Consortium admin", "consortium")],
                    transactions=10, blocks=11, faulty_lot="urn:x/20261020003",
                    hot_lot="urn:x/20261106008", tampered="trace_events row (x, 1)",
                    refused=["a forged transaction"], notes=notes)


def report(demo: DemoInfo, *, serving: bool = True) -> str:
    """The report as printed, with the lines' folds and spaces taken out."""
    with console.capture() as cap:
        _report(demo, "http://127.0.0.1:8000/", 1.0, serving=serving)
    return "".join(cap.get().split())


# -- the report --------------------------------------------------------------------------------
def test_printed_commands_name_the_program_a_new_shell_would_not_find(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # scripts/demo.sh runs the clone's .venv/bin/supplyledger; the user's shell has none.
    prog = tmp_path / "venv" / "bin" / "supplyledger"
    prog.parent.mkdir(parents=True)
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(prog), "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    data = tmp_path / "ledger"
    demo = info(data, open_orders={"orders": ["OA1"], "request": str(data / "r.json")})
    out = report(demo)
    for command in ("repair", "serve", "dispatchplan"):
        assert f"`{prog}{command}--data{data}" in out, out
    assert "`supplyledger" not in out
    # Where the shell finds this very program, its name is enough.
    monkeypatch.setenv("PATH", str(prog.parent))
    assert f"`supplyledgerrepair--data{data}" in report(demo)


def test_the_report_points_at_pages_that_exist_and_who_may_audit(tmp_path: Path) -> None:
    out = report(info(tmp_path, rotated={"login": "courier"}, stolen_key={"revoked": "d"}))
    # The audit page refuses every other login (role_denied).
    assert "Audit(loginasauditororadmin" in out
    # No page is called Withdrawals; the pay-out refused as lapsed is a payments transaction.
    assert "Withdrawals" not in out
    assert "Explorer,contractpayments:" in out and "(invalid_state)" in out
    assert "ontheDatasharingpage" in out  # the nav's name of /privacy


# -- the demo command ------------------------------------------------------------------------
@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replaces the loader: records each call's directory and stops it as the test says."""
    import supplyledger.demo as demo_pkg

    calls: list[Path] = []

    def fake_load(data: Path, **_: Any) -> None:
        calls.append(data)
        raise StoreError("loaded")

    monkeypatch.setattr(demo_pkg, "load_demo", fake_load)
    return calls


def test_a_port_in_use_is_refused_before_anything_loads(tmp_path: Path,
                                                        loads: list[Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = run("demo", "--data", str(tmp_path / "d"), "--port", str(port))
    one_line_error(res, f"cannot listen on 127.0.0.1:{port}", "choose another --port")
    assert loads == [] and not (tmp_path / "d").exists()


def test_a_ledger_already_there_is_pointed_at_serve(tmp_path: Path, loads: list[Path]) -> None:
    (tmp_path / DB_NAME).write_bytes(b"")  # an earlier demo's
    one_line_error(run("demo", "--no-serve", "--data", str(tmp_path)),
                   "already holds a ledger", f"serve --data {tmp_path}`",
                   "node key password", "or choose a new directory")
    assert loads == [] and [p.name for p in tmp_path.iterdir()] == [DB_NAME]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, StoreError])
@pytest.mark.parametrize("given", ["new nested", "empty", "default"])
def test_a_stopped_load_removes_what_the_demo_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: type[BaseException],
        given: str) -> None:
    import supplyledger.demo as demo_pkg

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    (tmp_path / "empty").mkdir()
    data = {"new nested": tmp_path / "a" / "b", "empty": tmp_path / "empty"}.get(given)

    def half_load(d: Path, **_: Any) -> None:  # as init and the first blocks leave it
        d.mkdir(parents=True, exist_ok=True)
        (d / DB_NAME).write_bytes(b"blocks")
        (d / "node.key").write_bytes(b"key")
        (d / "private").mkdir()
        raise stop("disk full") if stop is StoreError else stop()

    monkeypatch.setattr(demo_pkg, "load_demo", half_load)
    res = run("demo", "--no-serve", *(["--data", str(data)] if data else []))
    if stop is KeyboardInterrupt:
        assert res.exit_code == 130, (res.stdout, res.stderr, res.exception)
        assert "interrupted: the half-loaded demo ledger in" in res.stderr
    else:
        one_line_error(res, "disk full")
    assert not (tmp_path / "a").exists()  # the directories it made, from the first
    assert [p.name for p in (tmp_path / "empty").iterdir()] == []  # given: kept, emptied
    assert list(temp.iterdir()) == []  # the temporary directory too


def test_after_ctrl_c_the_demo_says_where_its_ledger_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import supplyledger.cli.demo as demo_cmd
    import supplyledger.demo as demo_pkg

    data = tmp_path / "ledger"

    def load(d: Path, **_: Any) -> DemoInfo:
        d.mkdir()
        return info(d)

    served: list[Path] = []
    monkeypatch.setattr(demo_pkg, "load_demo", load)
    # Serving returns when Ctrl-C stops it.
    monkeypatch.setattr(demo_cmd, "run_server", lambda d, *a, **k: served.append(d))
    res = run("demo", "--data", str(data), "--port", str(free_port()))
    assert res.exit_code == 0, (res.stdout, res.stderr, res.exception)
    assert served == [data]
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith(f"stopped. The demo ledger stays in {data}: ") and \
        f"serve --data {data}` serves it again" in last and f"`rm -r {data}`" in last


# -- the scripts --------------------------------------------------------------------------------
def test_test_sh_help_runs_nothing(tmp_path: Path) -> None:
    # A copy without setup.sh: a run that tried the set-up would fail.
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test.sh", tmp_path / "scripts")
    for flag in ("--help", "-h"):
        res = subprocess.run(["bash", str(tmp_path / "scripts" / "test.sh"), flag],
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("Usage: bash scripts/test.sh [pytest args]")
        assert "ruff, mypy and pytest" in res.stdout and res.stderr == ""


PROBE_BACKEND = '''\
"""A build backend for the probe project: one empty wheel (no build tools to fetch)."""
import zipfile

META = {"probe-0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: probe\\nVersion: 0\\n",
        "probe-0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: probe\\n"
                                   "Root-Is-Purelib: true\\nTag: py3-none-any\\n"}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "probe-0-py3-none-any.whl"
    record = [*META, "probe-0.dist-info/RECORD"]
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as z:
        for path, text in META.items():
            z.writestr(path, text)
        z.writestr(record[-1], "".join(f"{p},,\\n" for p in record))
    return name


build_editable = build_wheel
'''


def test_setup_remakes_a_half_made_venv_and_then_skips_pip(tmp_path: Path) -> None:
    """setup.sh on a toy project, offline: a .venv interrupted before it had pip is made
    again; a second run finds the install up to date; a changed pyproject.toml installs."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    (tmp_path / "probe_backend.py").write_text(PROBE_BACKEND)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[build-system]\nrequires = []\nbuild-backend = "probe_backend"\n'
                         'backend-path = ["."]\n\n[project]\nname = "probe"\nversion = "0"\n')
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")],
                   check=True)
    env = {**os.environ, "PYTHON": sys.executable, "PIP_CONFIG_FILE": os.devnull,
           "PIP_NO_INDEX": "1", "SUPPLYLEDGER_SKIP_PACKAGES": "1", "SUPPLYLEDGER_EXTRAS": ""}

    def setup() -> str:
        res = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env,
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, (res.stdout, res.stderr)
        return res.stdout

    first = setup()
    assert ".venv is incomplete" in first and "setup: installing supplyledger" in first
    pip = subprocess.run([str(tmp_path / ".venv" / "bin" / "python"), "-m", "pip", "show",
                          "probe"], capture_output=True, text=True, check=False)
    assert pip.returncode == 0 and "Version: 0" in pip.stdout
    assert setup() == ""  # up to date: no pip run
    pyproject.write_text(pyproject.read_text().replace('version = "0"', 'version = "0"\n'
                                                       'description = "changed"'))
    assert "setup: installing" in setup()
