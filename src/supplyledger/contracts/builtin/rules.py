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

What the installed code implements must never decide a recorded outcome, or a later release
would re-execute history differently. So an adoption of rules (or of a contract) this code
lacks is refused before it is ordered, like a revoked signer (:func:`refusal`, asked by the
executor): it leaves no receipt, and the audit stops on it instead. The body decides only
from state (rules move forward). Likewise argument schemas and ``prepare`` steps run before
ordering (in verifier processes) and cannot know the version in force: a rule change that
alters validation must branch on ``ctx.version`` in the body, never in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import Call, Contract, Ctx, method, unsupported
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import (
    InvalidState,
    RulesUnsupported,
    SupplyLedgerError,
    UnknownContract,
)
from supplyledger.ledger.encoding import decode

__all__ = ["CONTRACT", "PREFIX", "check_ledger_rules", "in_force", "refusal", "rules_rows",
           "version_of"]

PREFIX = "rules/v/"  # full state key of a contract's version in force (1 when absent)


def refusal(contracts: Mapping[str, Contract], call: Call) -> SupplyLedgerError | None:
    """Why ``call`` may not be ordered: an adoption of rules, or of a contract, that
    ``contracts`` lack (the executor rejects it unrecorded, the audit stops on it)."""
    if call.contract != "rules" or call.method != "adopt" or call.error is not None:
        return None
    name, version = call.value["contract"], call.value["version"]
    c = contracts.get(name)
    if c is None:
        return UnknownContract(f"no contract named {name!r} in this supplyledger",
                               contract=name, version=version)
    return None if version in c.versions else RulesUnsupported(
        f"{name} rules v{version} are not implemented by this supplyledger (it implements "
        f"{', '.join(f'v{v}' for v in c.versions)})", contract=name, version=version,
        supported=list(c.versions))


def version_of(key: str, raw: bytes) -> int:
    """The version stored under ``key``; RulesUnsupported for anything but a positive int
    (only a tampered or foreign state holds one)."""
    try:
        v = decode(raw)
    except SupplyLedgerError:
        v = None
    if type(v) is not int or v < 1:
        raise RulesUnsupported(f"state {key} holds {raw[:40]!r}, not a rules version",
                               contract=key[len(PREFIX):], version=0, supported=[])
    return v


def in_force(stored: Mapping[str, bytes]) -> dict[str, int]:
    """Contract name -> rules version, from the state's ``rules/v/`` entries (key ->
    stored bytes); contracts without an entry run v1."""
    return {k[len(PREFIX):]: version_of(k, raw) for k, raw in stored.items()
            if k.startswith(PREFIX)}


def rules_rows(contracts: Mapping[str, Contract], versions: Mapping[str, int]
               ) -> list[dict[str, Any]]:
    """Per contract of this release, and per contract whose rules the ledger names but this
    release lacks: the version in force, the versions implemented, whether this release
    can run it and which newer versions it could adopt."""
    rows = []
    for name in sorted(set(contracts) | set(versions)):
        v = versions.get(name, 1)
        implemented = list(contracts[name].versions) if name in contracts else []
        rows.append({"contract": name, "in_force": v, "implemented": implemented,
                     "runnable": v in implemented, "newer": [n for n in implemented if n > v]})
    return rows


def check_ledger_rules(contracts: Mapping[str, Contract], versions: Mapping[str, int]) -> None:
    """Raise RulesUnsupported unless ``contracts`` implement every rules version in force
    (``versions``, from :func:`in_force`), a node's condition to start on a ledger."""
    for row in rules_rows(contracts, versions):
        if row["runnable"]:
            continue
        name, v = row["contract"], row["in_force"]
        if name not in contracts:
            raise RulesUnsupported(
                f"the ledger runs {name} rules v{v}; this supplyledger has no {name} "
                f"contract: install a release that implements it", contract=name,
                version=v, supported=[])
        raise unsupported(contracts[name], v)


@method(roles="admin", args={
    "contract": Str(max_len=64, pattern=r"[a-z][a-z0-9_]*", doc="a built-in contract's name"),
    "version": Int(min=1, max=1_000_000, doc="the rules version to put in force"),
}, errors=(UnknownContract, RulesUnsupported, InvalidState))
def adopt(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Admin: put a newer rules version of a contract in force from this transaction on."""
    # Contracts and versions this code lacks were refused before ordering (refusal).
    name, version = a["contract"], a["version"]
    previous = ctx.get(f"v/{name}") or 1  # the key the executor reads
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
