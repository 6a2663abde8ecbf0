"""Contract runtime: methods, the call context, and deterministic execution of one call.

A contract is a module exposing ``CONTRACT`` (a :class:`Contract`). Its methods are plain
functions ``(ctx, args) -> result`` declared with :func:`method`, which records the roles
allowed to call and the argument schema. ``ctx`` gives only the signer, its roles, the
transaction's own time and id, namespaced state reads/writes and event emission: no clock,
IO or randomness, so every node (and the audit) computes the same outcome.

A contract's rules are versioned: ``Contract.versions`` lists the rule versions its code
implements, and ``ctx.version`` is the one in force on the ledger (recorded in state by
``rules.adopt``, 1 until then). A change that would decide a recorded transaction
differently keeps the old behaviour under the old number and adds a new one, so every
block re-executes, in the node and in the audit, under the rules it was decided by.

Machine keys (identity rules v3): a participant whose roles are all :data:`MACHINE_ROLES`
(a sensor logger's ``device`` key, easy to lift from its hardware; a ``node`` key) may sign
a method open to any participant only if the method is declared ``machines=True`` (its own
key rotation, say); methods naming its role stay its own. :func:`role_refusal` decides it,
for the executor and for the CLI and web API before they sign.

Role refusals are receipt words, so their wording is identity rules too: from v4
(:data:`ROLE_WORDS_RULES`) one names the roles in words ("needs the role admin or
seller"); older rules keep printing the list they recorded.

Admission checks: a method may declare ``admit=(since, check)``, a check that needs no
state (only the signer, the arguments and the transaction's own signed time: a transfer to
oneself, a reversed window, a window already over). From its contract's rules ``since`` on,
the executor runs ``check(signer, value, version, time)`` before the call and a refusal
rejects the transaction, as an unknown signer is: the
submitter gets the error and no block records it (DESIGN: bad input never enters a block).
Under older rules the check in the method's body still decides, recording a failed
receipt, so old blocks re-execute as they were decided. The check raises the error the
body's check gives under the same rules, in the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from supplyledger.contracts.projection import Projector, Table
from supplyledger.contracts.schema import Arg, validate_args
from supplyledger.errors import (
    EncodingError,
    RoleDenied,
    RulesUnsupported,
    SupplyLedgerError,
    UnknownContract,
    UnknownMethod,
)
from supplyledger.ledger.encoding import canonical, canonical_framed, decode

__all__ = [
    "ANY_PARTICIPANT",
    "MACHINE_ROLES",
    "MACHINE_RULES",
    "ROLE_WORDS_RULES",
    "AdmitCheck",
    "Call",
    "Contract",
    "Ctx",
    "Method",
    "StateReader",
    "call_from_env",
    "execute_call",
    "method",
    "prepare_call",
    "role_refusal",
    "unsupported",
]

ANY_PARTICIPANT = "*"
# Keys that run on machines, often unattended: a member holding only these roles never acts
# for its organisation (a device signs readings, a node signs blocks).
MACHINE_ROLES = frozenset({"device", "node"})
# The identity rules version from which machine keys sign only what is open to them.
MACHINE_RULES = 3
# The identity rules version from which a role refusal names the roles in words.
ROLE_WORDS_RULES = 4
StateReader = Callable[[str], bytes | None]
# An admission check: (signer, the method's value, rules version, the call's signed time
# in ms, ``Call.time``: the same on every node) -> None, or raises.
AdmitCheck = Callable[[str, Any, int, int], None]
_MISSING = object()


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[[Ctx, Any], Any]
    roles: frozenset[str]
    args: Mapping[str, Arg]
    doc: str
    errors: tuple[str, ...]
    # Stateless step run before ordering (in parallel, off the executor's core): turns
    # validated arguments into what ``fn`` needs. Must be a pure function of the arguments.
    prepare: Callable[[dict[str, Any]], Any] | None = None
    # Full state keys the call will probably read, from its prepared value: the executor
    # fetches those of a whole block in a few batched queries instead of one per read.
    # Only a hint: a key left out is read on demand, an extra key costs one lookup.
    reads: Callable[[Any], Iterable[str]] | None = None
    # For one large transaction (a whole EPCIS document): ``prepare_part(args, i, n)`` is
    # the i-th of n independent shares of ``prepare``, so several verifier processes can
    # work on it at once, and ``merge_parts`` joins the shares into exactly what
    # ``prepare(args)`` returns (the audit runs the whole ``prepare``).
    prepare_part: Callable[[dict[str, Any], int, int], Any] | None = None
    merge_parts: Callable[[list[Any]], Any] | None = None
    # Open to machine keys under identity rules v3 (only with ``roles="*"``).
    machines: bool = False
    # (since, check): the stateless check the executor runs before the call from the
    # contract's rules ``since`` on (see the module docstring).
    admit: tuple[int, AdmitCheck] | None = None

    def admission(self, signer: str, value: Any, version: int,
                  time: int) -> SupplyLedgerError | None:
        """Why the call signed at ``time`` is refused before execution under rules
        ``version``, or None."""
        if self.admit is None or version < self.admit[0]:
            return None
        try:
            self.admit[1](signer, value, version, time)
        except SupplyLedgerError as exc:
            return exc
        except Exception:  # a bug in a check must not stop blocks: the body decides
            return None
        return None


def method(
    *,
    roles: tuple[str, ...] | str,
    args: Mapping[str, Arg],
    errors: tuple[type[SupplyLedgerError], ...] = (),
    prepare: Callable[[dict[str, Any]], Any] | None = None,
    reads: Callable[[Any], Iterable[str]] | None = None,
    parts: tuple[Callable[[dict[str, Any], int, int], Any], Callable[[list[Any]], Any]]
    | None = None,
    machines: bool = False,
    admit: tuple[int, AdmitCheck] | None = None,
) -> Callable[[Callable[[Ctx, Any], Any]], Method]:
    """Declare a contract method. ``roles="*"`` admits any registered participant; under
    identity rules v3 machine keys too only with ``machines=True``.

    ``fn(ctx, value)`` receives the validated arguments, or what ``prepare`` made of them.
    ``parts=(prepare_part, merge_parts)`` lets large calls be prepared in shares.
    ``admit=(since, check)`` refuses before execution from rules ``since`` on what
    ``check(signer, value, version, time)`` refuses (see the module docstring).
    """
    if admit is not None and admit[0] < 2:
        raise ValueError("an admission check is new rules: since must be 2 or later")
    if parts is not None and prepare is None:
        raise ValueError("parts needs a prepare step to split")
    part_fn, merge_fn = parts or (None, None)
    role_set = frozenset([roles] if isinstance(roles, str) else roles)
    if machines and ANY_PARTICIPANT not in role_set:
        raise ValueError("machines=True opens a method for any participant to machine keys; "
                         "a method naming roles admits machine keys by naming theirs")

    def wrap(fn: Callable[[Ctx, Any], Any]) -> Method:
        doc = (fn.__doc__ or "").strip()
        return Method(fn.__name__, fn, role_set, dict(args), doc, tuple(e.code for e in errors),
                      prepare, reads, part_fn, merge_fn, machines, admit)

    return wrap


class Call(NamedTuple):
    """A transaction as the executor needs it: envelope fields plus prepared arguments
    (or the error preparing them gave). ``raw`` is the stored transaction bytes.
    (A named tuple: immutable, and made several times faster than a frozen dataclass, one
    per transaction on the node's busiest thread.)"""

    tx_id: str
    signer: str
    contract: str
    method: str
    time: int
    chain: str
    raw: bytes
    value: Any
    error: dict[str, Any] | None = None


def prepare_call(contracts: Mapping[str, Contract], contract: str, method_name: str,
                 args: dict[str, Any], part: tuple[int, int] | None = None
                 ) -> tuple[Any, dict[str, Any] | None]:
    """(prepared value, None) or (None, error dict). Pure: the node runs it in worker
    processes and the audit re-runs it, and both must get the same answer. With ``part``
    ``(i, n)`` (only for methods declaring ``parts``) the value is the i-th share."""
    try:
        c = contracts.get(contract)
        if c is None:
            raise UnknownContract(f"no contract named {contract!r}")
        m = c.methods.get(method_name)
        if m is None:
            raise UnknownMethod(f"contract {contract!r} has no method {method_name!r}")
        validate_args(m.args, args)
        if part is not None and m.prepare_part is not None:
            return m.prepare_part(args, *part), None
        return (args if m.prepare is None else m.prepare(args)), None
    except SupplyLedgerError as exc:
        return None, exc.to_dict()
    except Exception as exc:  # a bug in a prepare step: deterministic, like in execution
        return None, {"code": "contract_bug", "message": f"{type(exc).__name__}: {exc}"}


def call_from_env(contracts: Mapping[str, Contract], tx_id: str, env: dict[str, Any],
                  raw: bytes) -> Call:
    value, error = prepare_call(contracts, env["contract"], env["method"], env["args"])
    return Call(tx_id, env["signer"], env["contract"], env["method"], env["time"],
                env["chain"], raw, value, error)


@dataclass(frozen=True)
class Contract:
    name: str
    doc: str
    methods: Mapping[str, Method]
    tables: tuple[Table, ...] = ()
    projectors: Mapping[str, Projector] = field(default_factory=dict)
    # Rule versions this code can execute, oldest first (see the module docstring).
    versions: tuple[int, ...] = (1,)

    @classmethod
    def of(
        cls,
        name: str,
        doc: str,
        methods: list[Method],
        tables: tuple[Table, ...] = (),
        projectors: Mapping[str, Projector] | None = None,
        versions: tuple[int, ...] = (1,),
    ) -> Contract:
        if not versions or list(versions) != sorted(set(versions)) or versions[0] < 1:
            raise ValueError(f"contract {name!r}: versions must be distinct, ascending, >= 1")
        return cls(name, doc, {m.name: m for m in methods}, tables, dict(projectors or {}),
                   versions)


class Ctx:
    """What a contract call may see and do. Writes land in a per-call overlay that the
    runtime merges only if the call succeeds (snapshot/revert)."""

    __slots__ = ("_events", "_read", "_writes", "contract", "org", "roles", "signer", "time",
                 "tx_id", "version")

    def __init__(
        self,
        *,
        contract: str,
        signer: str,
        roles: frozenset[str],
        org: str | None,
        time: int,
        tx_id: str,
        read: StateReader,
        version: int = 1,
    ) -> None:
        self.contract = contract
        self.version = version
        self.signer = signer
        self.roles = roles
        self.org = org
        self.time = time
        self.tx_id = tx_id
        self._read = read
        self._writes: dict[str, bytes | None] = {}
        self._events: list[list[Any]] = []

    def _raw(self, full_key: str) -> bytes | None:
        v = self._writes.get(full_key, _MISSING)
        if v is _MISSING:
            return self._read(full_key)
        return v  # type: ignore[return-value]

    def get(self, key: str) -> Any:
        """Read this contract's state (a fresh copy: mutating it changes nothing)."""
        raw = self._raw(f"{self.contract}/{key}")
        return None if raw is None else decode(raw)

    def read(self, contract: str, key: str) -> Any:
        """Read another contract's state (read-only)."""
        raw = self._raw(f"{contract}/{key}")
        return None if raw is None else decode(raw)

    def exists(self, key: str) -> bool:
        return self._raw(f"{self.contract}/{key}") is not None

    def put(self, key: str, value: Any) -> None:
        self._writes[f"{self.contract}/{key}"] = canonical(value)

    def put_other(self, contract: str, key: str, value: Any) -> None:
        """Write another contract's namespace; only for contracts built to cooperate
        (e.g. orders moving custody). Kept explicit so reviewers can grep for it."""
        self._writes[f"{contract}/{key}"] = canonical(value)

    def delete(self, key: str) -> None:
        self._writes[f"{self.contract}/{key}"] = None

    def emit(self, event_type: str, **data: Any) -> None:
        self._events.append([f"{self.contract}.{event_type}", data])

    def has_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


def unsupported(c: Contract, version: int) -> RulesUnsupported:
    return RulesUnsupported(
        f"the ledger runs {c.name} rules v{version}; this supplyledger implements "
        f"{', '.join(f'v{v}' for v in c.versions)}: install a release that implements "
        f"v{version}", contract=c.name, version=version, supported=list(c.versions))


def role_refusal(contract: str, m: Method, roles: frozenset[str],
                 identity: int | Callable[[], int]) -> RoleDenied | None:
    """Why a participant holding ``roles`` may not call ``contract.m``, or None. ``identity``
    is the identity rules version in force (or a function reading it, asked only when a
    refusal may follow): from v3 (:data:`MACHINE_RULES`) a key whose roles are all machine
    roles signs only methods that name one of them or are declared ``machines=True``; from
    v4 (:data:`ROLE_WORDS_RULES`) a refusal names the roles in words."""
    def rules() -> int:
        return identity if isinstance(identity, int) else identity()

    if ANY_PARTICIPANT not in m.roles:
        if m.roles.isdisjoint(roles):
            needed = sorted(m.roles)
            if rules() >= ROLE_WORDS_RULES:
                *rest, last = needed
                words = f"{', '.join(rest)} or {last}" if rest else last
                msg = f"{contract}.{m.name} needs the role {words}"
            else:  # the Python list older receipts recorded
                msg = f"{contract}.{m.name} needs one of the roles {needed}"
            return RoleDenied(msg, required=needed, held=sorted(roles))
        return None
    if m.machines or not roles or not roles <= MACHINE_ROLES:
        return None
    if rules() < MACHINE_RULES:
        return None
    held = sorted(roles)
    return RoleDenied(f"identity rules v{MACHINE_RULES}: a machine key (roles "
                      f"{', '.join(held)}) signs only methods that name its role, not "
                      f"{contract}.{m.name}: a member of its organisation signs it",
                      required=[ANY_PARTICIPANT], held=held)


@dataclass(slots=True)
class CallOutcome:
    receipt: bytes
    ok: bool
    writes: dict[str, bytes | None]
    events: list[list[Any]]


def execute_call(
    contracts: Mapping[str, Contract],
    call: Call,
    *,
    roles: frozenset[str],
    org: str | None,
    read: StateReader,
    version: int = 1,
    identity: int = 1,
) -> CallOutcome:
    """Run one prepared call under rules ``version`` of its contract, with identity rules
    ``identity`` in force (who may sign what: :func:`role_refusal`). Failures become an
    error receipt and leave no writes."""
    tx_id = call.tx_id
    ctx = Ctx(contract=call.contract, signer=call.signer, roles=roles, org=org, time=call.time,
              tx_id=tx_id, read=read, version=version)
    try:
        c = contracts.get(call.contract)
        m = c.methods.get(call.method) if c is not None else None
        if c is not None and version not in c.versions:
            raise unsupported(c, version)
        refused = None if m is None else role_refusal(call.contract, m, roles, identity)
        if refused is not None:
            raise refused
        if call.error is not None or m is None:
            err = call.error or {"code": "unknown_method", "message": "no such method"}
            return CallOutcome(canonical({"tx": tx_id, "ok": False, "error": err}), False, {},
                               [])
        result = m.fn(ctx, call.value)
        events = ctx._events
        # The frame is canonical by construction (the id a hex string, each event a pair
        # [type string, data] made by Ctx.emit): only the contract's values are checked.
        receipt = canonical_framed({"tx": tx_id, "ok": True, "result": result,
                                    "events": events}, [result, *(d for _, d in events)])
        return CallOutcome(receipt, True, ctx._writes, events)
    except SupplyLedgerError as exc:
        err = exc.to_dict()
    except Exception as exc:  # a bug in contract code must still give a deterministic receipt
        err = {"code": "contract_bug", "message": f"{type(exc).__name__}: {exc}"}
    try:
        receipt = canonical({"tx": tx_id, "ok": False, "error": err})
    except EncodingError as exc:  # details a contract put in its error cannot be stored
        receipt = canonical({"tx": tx_id, "ok": False, "error": {
            "code": err.get("code", "contract_bug"), "message": f"{err.get('message')} "
            f"(details dropped: {exc.message})"}})
    return CallOutcome(receipt, False, {}, [])
