"""Contract sets whose code implements a contract's rules only up to an older version: a
ledger made with them starts there (its genesis names each contract's newest), as one made
by an earlier release would."""

from __future__ import annotations

from dataclasses import replace

from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract


def up_to(contract: str, newest: int) -> dict[str, Contract]:
    return {n: replace(c, versions=tuple(v for v in c.versions if v <= newest))
            if n == contract else c for n, c in load_builtin().items()}
