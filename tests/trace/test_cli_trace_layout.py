"""``supplyledger trace`` on a terminal: a table of twelve columns squeezed the fault
reasons into a column a few letters wide ("row: sto…"), unreadable below ~200 columns. The
reasons now follow the events, numbered as their rows; under 160 columns each event takes
two lines instead of a table row."""

from __future__ import annotations

from typer.testing import CliRunner

from supplyledger.bench.flourmill import FlourMill
from supplyledger.cli.main import app

from .conftest import sql


def _faulty(mill: FlourMill) -> None:
    batch, seq = mill.events["processing"]
    sql(mill.c, "UPDATE trace_events SET signer='did:sl:forged' WHERE batch=? AND seq=?",
        (batch, seq))


def _trace(mill: FlourMill, columns: int) -> str:
    out = CliRunner().invoke(app, ["trace", mill.flour, "--data", str(mill.c.dir)],
                             env={"COLUMNS": str(columns)})
    assert out.exit_code == 1, out.output
    return out.output


def test_on_80_columns_each_event_is_two_lines_and_every_reason_is_whole(
        mill: FlourMill) -> None:
    _faulty(mill)
    text = _trace(mill, 80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in text  # nothing cut short
    rows = [ln for ln in lines if " event " in ln and " · " in ln]
    assert len(rows) == 6, text
    [bad] = [ln for ln in rows if "FAULT, see below" in ln]
    number = bad.split()[0]
    flat = " ".join(text.split())
    assert f"#{number} (processing, batch" in flat, text
    after = flat.split(f"#{number} (processing")[1]
    assert "row: stored data disagrees with the ledger: signer 'did:sl:forged'" in after


def test_on_a_wide_terminal_the_events_are_a_table(mill: FlourMill) -> None:
    _faulty(mill)
    text = _trace(mill, 220)
    assert "recorded" in text and "verified" in text and "FAULT, see below" in text
    flat = " ".join(text.split())
    assert "(processing, batch" in flat and "row: stored data disagrees" in flat


def test_recall_on_80_columns_cuts_nothing(mill: FlourMill) -> None:
    out = CliRunner().invoke(app, ["recall", mill.wheat, "--data", str(mill.c.dir)],
                             env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "…" not in out.output, out.output
    lots = [ln for ln in out.output.splitlines() if ln.startswith("lot · https://")]
    assert len(lots) == 2 and "  custodian: " in out.output, out.output
