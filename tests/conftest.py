"""For every test: a contract method that fails with an error its ``errors`` do not declare
fails the run. docs/contracts.md lists each method's errors from those declarations, so
every refusal a test provokes is checked to be one the documentation names."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import Ctx, Method
from supplyledger.errors import SupplyLedgerError

# Outcomes older rules record and keep for their blocks' sake (contract, method, code, the
# first rules version that no longer gives it).
LEGACY = {("shipments", "create", "encoding_error"): 3}  # an ETA past 2**53, before v3


def _watch(contract: str, m: Method, found: list[str]) -> None:
    fn = m.fn

    @functools.wraps(fn)
    def watched(ctx: Ctx, value: Any) -> Any:
        try:
            return fn(ctx, value)
        except SupplyLedgerError as exc:
            if exc.code not in m.errors and ctx.version >= LEGACY.get(
                    (contract, m.name, exc.code), 0):
                found.append(f"{contract}.{m.name} (rules v{ctx.version}) raised {exc.code}: "
                             f"{exc}; it declares {', '.join(m.errors)}")
            raise

    object.__setattr__(m, "fn", watched)  # (Method is frozen)


@pytest.fixture(scope="session", autouse=True)
def declared_errors() -> Iterator[None]:
    found: list[str] = []
    methods = [(name, m) for name, c in load_builtin().items() for m in c.methods.values()]
    originals = [m.fn for _, m in methods]
    for name, m in methods:
        _watch(name, m, found)
    yield
    for (_, m), fn in zip(methods, originals, strict=True):
        object.__setattr__(m, "fn", fn)
    if found:
        pytest.fail("errors missing from methods' declarations:\n" + "\n".join(found[:20]),
                    pytrace=False)
