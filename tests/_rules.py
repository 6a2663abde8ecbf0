"""Contract sets whose code implements some contracts' rules only up to older versions: a
ledger made with them starts there (its genesis names each contract's newest), as one made
by an earlier release would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial

import pytest

from supplyledger.bench import consortium
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Contract
from supplyledger.node.bootstrap import init_ledger


def older(newest: Mapping[str, int]) -> dict[str, Contract]:
    """The built-in contracts, each named in ``newest`` implementing versions up to its
    number only."""
    return {n: replace(c, versions=tuple(v for v in c.versions if v <= newest[n]))
            if n in newest else c for n, c in load_builtin().items()}


def up_to(contract: str, newest: int) -> dict[str, Contract]:
    return older({contract: newest})


def consortiums_start_at(monkeypatch: pytest.MonkeyPatch, newest: Mapping[str, int]) -> None:
    """Ledgers a :class:`~supplyledger.bench.consortium.Consortium` makes from now on (in
    this test) start at ``newest`` for the contracts it names."""
    monkeypatch.setattr(consortium, "init_ledger",
                        partial(init_ledger, contracts=older(newest)))
