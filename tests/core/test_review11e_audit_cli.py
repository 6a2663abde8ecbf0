"""Review 11e: ``supplyledger audit``'s human output at 80 columns. Findings went into a Rich
table whose last column got what the others left: a ``projection_schema`` finding wrapped to
about 18 lines of two or three words. And the cells were read as Rich markup, so a tampered
row holding ``[/]`` crashed the audit with a MarkupError instead of reporting it."""

from __future__ import annotations

import json
import lzma
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.node.audit import run_audit
from supplyledger.store.sqlite import DB_NAME

from .test_upgrade import FIXTURE

EDITED = "Flour [/] [bold red]edited"


@pytest.fixture
def tampered(tmp_path: Path) -> Path:
    """The earlier release's ledger (three ``projection_schema`` findings) with one product
    renamed behind the ledger's back to a name that looks like Rich markup."""
    d = tmp_path / "ledger"
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("*.xz", "logins.json"))
    with lzma.open(FIXTURE / "ledger.sqlite.xz") as src, (d / DB_NAME).open("wb") as dst:
        shutil.copyfileobj(src, dst)
    conn = sqlite3.connect(d / DB_NAME)
    with conn:
        conn.execute("UPDATE products SET name = ? WHERE rowid = "
                     "(SELECT MIN(rowid) FROM products)", (EDITED,))
    conn.close()
    return d


def _audit(d: Path, *extra: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["audit", "--data", str(d), *extra],
                             env={"COLUMNS": "80"})
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, res.output


def test_findings_read_at_80_columns_and_ledger_text_prints_literally(
        tampered: Path) -> None:
    code, out = _audit(tampered)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0] == "FINDINGS: 917 blocks, 917 transactions"
    assert all(len(line) <= 80 for line in lines), out
    # One block per finding: a head line naming kind and where, the detail indented below.
    heads = [line for line in lines if line and not line.startswith(" ")][1:]
    assert sorted(heads) == [
        "changed_row  table products  row 06901234000016",
        "projection_schema  table financing",
        "projection_schema  table sensor_breaches",
        "projection_schema  table shipments",
        "projection_schema  table trace_events",
        "projection_schema  table trace_unpacked",
        "projection_schema  table withdrawals"], out
    blocks: list[list[str]] = []
    for line in lines[1:lines.index(next(x for x in lines if "not covered:" in x))]:
        if line.startswith(" "):
            blocks[-1].append(line.strip())
        else:
            blocks.append([line])
    schema = [b for b in blocks if b[0].startswith("projection_schema")]
    assert len(schema) == 6
    for block in schema:
        assert "rebuilds it from the blocks" in " ".join(block), block
        assert len(block) <= 6, block  # a head and at most 5 lines (it was 18 lines)
    # The edited name is shown as stored, brackets and all (it raised a MarkupError).
    flat = " ".join(line.strip() for line in lines)
    assert f"'{EDITED}' stored" in flat, out
    assert "not covered: local_accounts — web logins" in out


def test_json_output_is_the_report_unchanged(tampered: Path) -> None:
    code, out = _audit(tampered, "--json")
    assert code == 1
    assert json.loads(out) == run_audit(tampered, workers=0).to_dict()
