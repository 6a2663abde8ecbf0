"""rules — which version of each contract's rules the ledger runs.

Built-in contracts change between releases of supplyledger. A change that would decide a
recorded transaction differently must not rewrite history: the audit re-executes every
block with the installed code, and the node executes new blocks with it. So a contract
declares the rule versions its code implements (``Contract.versions``) and branches on
``ctx.version`` where they differ, and the version in force is ledger state, changed only
by a consortium admin's signed ``adopt``. Blocks before the adoption re-execute under the
old rules and blocks after it under the new ones, in the node and in the audit alike.

Every contract runs rules v1 until an adoption says otherwise (state key
``rules/v/<contract>``). An adoption may only move forward, to a version the executing
code implements: adopting rules nobody can run would stop the ledger. A node whose code
does not implement a version in force refuses to start, and the audit stops at the first
block it cannot re-execute (``rules_unsupported``), instead of reporting every later
receipt as changed.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import Contract, Ctx, method
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import InvalidState, RulesUnsupported, UnknownContract

__all__ = ["CONTRACT"]


@method(roles="admin", args={
    "contract": Str(max_len=64, pattern=r"[a-z][a-z0-9_]*", doc="a built-in contract's name"),
    "version": Int(min=1, max=1_000_000, doc="the rules version to put in force"),
}, errors=(UnknownContract, RulesUnsupported, InvalidState))
def adopt(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Admin: put a newer rules version of a contract in force from this transaction on."""
    name, version = a["contract"], a["version"]
    supported = ctx.rules_supported(name)
    if supported is None:
        raise UnknownContract(f"no contract named {name!r}")
    if version not in supported:
        raise RulesUnsupported(
            f"{name} rules v{version} are not implemented by this supplyledger (it implements "
            f"{', '.join(f'v{v}' for v in supported)})", contract=name, version=version,
            supported=list(supported))
    previous = ctx.get(f"v/{name}") or 1  # the key executor.rules_in_force reads
    if version <= previous:
        raise InvalidState(f"{name} already runs rules v{previous}; rules only move forward",
                           current=f"v{previous}")
    ctx.put(f"v/{name}", version)
    ctx.emit("adopted", contract=name, version=version, previous=previous)
    return {"contract": name, "version": version, "previous": previous}


RULES_ADOPTED = Table(
    "rules_adopted",
    (("contract", "TEXT"), ("version", "INTEGER"), ("previous", "INTEGER"),
     ("height", "INTEGER"), ("time", "INTEGER"), ("signer", "TEXT"), ("tx", "TEXT")),
    ("contract", "version"))


def _adopted(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("rules_adopted", (e["contract"], e["version"], e["previous"], m.height,
                                     m.time, m.signer, m.tx))]


CONTRACT = Contract.of("rules", __doc__ or "", [adopt], tables=(RULES_ADOPTED,),
                       projectors={"rules.adopted": _adopted})
