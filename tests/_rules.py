"""Contract sets whose code implements some contracts' rules only up to older versions: a
ledger made with them starts there (its genesis names each contract's newest), as one made
by an earlier release would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract


def older(newest: Mapping[str, int]) -> dict[str, Contract]:
    """The built-in contracts, each named in ``newest`` implementing versions up to its
    number only."""
    return {n: replace(c, versions=tuple(v for v in c.versions if v <= newest[n]))
            if n in newest else c for n, c in load_builtin().items()}


def up_to(contract: str, newest: int) -> dict[str, Contract]:
    return older({contract: newest})
