"""Where a benchmark keeps its ledger.

Given ``--data DIR`` the ledger goes to ``DIR/ledger`` and stays there for ``audit``;
without it the ledger lives in a temporary directory removed when the run ends, so that
repeated runs (a 200,000-transaction one writes about a gigabyte) do not fill the disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["kept", "ledger_dir"]


@contextmanager
def ledger_dir(data_dir: Path | None, prefix: str) -> Iterator[Path]:
    """The ledger directory of one run: ``data_dir/ledger``, or a temporary one."""
    if data_dir is not None:
        yield Path(data_dir) / "ledger"
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp) / "ledger"


def kept(data_dir: Path | None, ledger: Path) -> str | None:
    """What a result reports as its ledger: the path when it stays, None when removed."""
    return str(ledger) if data_dir is not None else None
