"""The CLI starts without the heavy libraries, and still offers every command.

``supplyledger.cli.main`` imports every command module, so a module-level import of the web
app, the solver or the simulator in any of them would make every invocation (even
``--help``) pay for it. The command modules import those inside the commands instead; these
tests check the result in a fresh interpreter (this process has long imported everything)
and that the lazy imports did not drop a command. No timings: speed is measured elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app

HEAVY = ("fastapi", "starlette", "pydantic", "uvicorn", "pyvrp", "numpy", "simpy", "jinja2",
         "httpx")

COMMANDS = ["init", "audit", "proof", "verify-proof", "bench", "contracts", "trace",
            "bench-trace", "recall", "serve", "demo", "bench-pages", "bench-orders", "kpi",
            "bench-readings", "keys", "tx", "route", "experiment", "epcis", "emissions",
            "dispatch"]
SUBCOMMANDS = {"keys": ["new", "show", "rotate", "rewrap"], "tx": ["submit"], "route": ["solve"],
               "experiment": ["platforms", "tamper", "throughput"],
               "epcis": ["import", "export"], "emissions": ["report"],
               "dispatch": ["plan", "show"]}


def _listed(help_text: str, name: str) -> bool:
    # A command row starts with its name (after the box border) and then spaces; this keeps
    # "bench" from being found inside "bench-trace".
    return re.search(rf"(?m)^[│|\s]*{re.escape(name)}\s", help_text) is not None


def test_import_loads_no_heavy_library() -> None:
    code = ("import sys, supplyledger.cli.main; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]", f"imported at CLI start-up: {out.stdout.strip()}"


def test_help_lists_every_command() -> None:
    script = Path(sys.executable).with_name("supplyledger")
    cmd = ([str(script)] if script.exists() else
           [sys.executable, "-c", "from supplyledger.cli.main import app; app()"])
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    missing = [c for c in COMMANDS if not _listed(out.stdout, c)]
    assert not missing, f"not in `supplyledger --help`: {missing}\n{out.stdout}"


@pytest.mark.parametrize("group", sorted(SUBCOMMANDS))
def test_group_help_lists_its_commands(group: str) -> None:
    res = CliRunner().invoke(app, [group, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    missing = [c for c in SUBCOMMANDS[group] if not _listed(res.output, c)]
    assert not missing, f"not in `supplyledger {group} --help`: {missing}\n{res.output}"


def test_throughput_default_sizes_match_the_benchmark() -> None:
    # The CLI spells the default out so that listing options does not import the benchmark.
    from supplyledger.bench.throughput import SIZES
    from supplyledger.cli.experiment_throughput import DEFAULT_SIZES

    assert ",".join(map(str, SIZES)) == DEFAULT_SIZES
