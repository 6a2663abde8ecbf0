"""Discovers the built-in contracts: every module in ``contracts.builtin`` that defines
``CONTRACT``. Adding a contract is adding one module; nothing registers on import."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from supplyledger.contracts import builtin
from supplyledger.contracts.projection import Table
from supplyledger.contracts.runtime import Contract

__all__ = ["all_tables", "load_builtin"]


def load_builtin() -> dict[str, Contract]:
    found: dict[str, Contract] = {}
    for info in sorted(pkgutil.iter_modules(builtin.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{builtin.__name__}.{info.name}")
        contract = getattr(module, "CONTRACT", None)
        if isinstance(contract, Contract):
            if contract.name in found:
                raise RuntimeError(f"two contracts named {contract.name!r}")
            found[contract.name] = contract
    return found


def all_tables(contracts: Mapping[str, Contract]) -> list[Table]:
    tables: list[Table] = []
    seen: set[str] = set()
    for c in contracts.values():
        for t in c.tables:
            if t.name in seen:
                raise RuntimeError(f"projection table {t.name!r} declared twice")
            seen.add(t.name)
            tables.append(t)
    return tables
