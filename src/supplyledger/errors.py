"""The one error tree of supplyledger.

Every error the platform raises on purpose derives from :class:`SupplyLedgerError`. Each
class has a stable ``code`` (used in receipts, JSON error bodies and CLI output) and typed
attributes. HTTP statuses are mapped only in ``supplyledger.api``.

::

    SupplyLedgerError
    ├── EncodingError                 value cannot be canonically encoded/decoded
    │   └── NonCanonical              bytes are not in canonical form
    ├── ValidationError               malformed input (schema, type, size, range)
    │   ├── PayloadTooLarge           size limit exceeded
    │   ├── AmountError               negative, zero or overflowing amount
    │   ├── ValueMismatch             declared customs value is not the order's price
    │   └── EPCISValidationError      EPCIS document or event rejected (per-event reasons)
    ├── CryptoError
    │   ├── InvalidSignature          signature does not verify
    │   ├── KeyFileError              key file unreadable or wrong password
    │   └── DecryptionError           ciphertext or wrapped key does not open
    ├── TransactionRejected           envelope-level checks before a block
    │   ├── WrongChain                chain id differs
    │   ├── UnknownSigner             signer not registered
    │   ├── RevokedKey                signer's key revoked or rotated away
    │   ├── ReplayedTransaction       transaction id already seen
    │   └── StaleTransaction          time outside the accepted window
    ├── ContractError                 a contract call failed (recorded in its receipt)
    │   ├── UnknownContract / UnknownMethod
    │   ├── RoleDenied                caller lacks a required role
    │   ├── NotFound                  unknown id (product, batch, order, …)
    │   ├── AlreadyExists             id taken
    │   │   └── PrefixOverlap         GS1 company prefix overlaps another org's
    │   ├── InvalidState              illegal transition; names the current state
    │   ├── Forbidden                 caller is not the party entitled to act
    │   │   └── PrefixOwned           GS1 key under another org's company prefix
    │   ├── InsufficientFunds         balance below the amount needed
    │   ├── AccessDenied              no grant for private data
    │   └── RulesUnsupported          the ledger runs a contract's rules this code lacks
    ├── StoreError                    storage failure or inconsistency
    │   ├── MigrationError
    │   ├── LedgerInUse               another process holds the ledger's writer lock
    │   └── NotRepairable             damage the blocks cannot restore
    ├── NodeError
    │   ├── NodeStopped               node is not accepting work
    │   └── Overloaded                admission queue is full
    ├── ProofError                    inclusion proof does not check
    └── SolverError                   routing problem cannot be read or solved
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "AmountError",
    "ContractError",
    "CryptoError",
    "DecryptionError",
    "EPCISValidationError",
    "EncodingError",
    "Forbidden",
    "InsufficientFunds",
    "InvalidSignature",
    "InvalidState",
    "KeyFileError",
    "LedgerInUse",
    "MigrationError",
    "NodeError",
    "NodeStopped",
    "NonCanonical",
    "NotFound",
    "NotRepairable",
    "Overloaded",
    "PayloadTooLarge",
    "PrefixOverlap",
    "PrefixOwned",
    "ProofError",
    "ReplayedTransaction",
    "RevokedKey",
    "RoleDenied",
    "RulesUnsupported",
    "SolverError",
    "StaleTransaction",
    "StoreError",
    "SupplyLedgerError",
    "TransactionRejected",
    "UnknownContract",
    "UnknownMethod",
    "UnknownSigner",
    "ValidationError",
    "ValueMismatch",
    "WrongChain",
    "error_from_code",
]


class SupplyLedgerError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``message`` is for people."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class EncodingError(SupplyLedgerError):
    code = "encoding_error"


class NonCanonical(EncodingError):
    code = "non_canonical"


class ValidationError(SupplyLedgerError):
    code = "validation_error"


class PayloadTooLarge(ValidationError):
    code = "payload_too_large"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message, size=size, limit=limit)
        self.size = size
        self.limit = limit


class AmountError(ValidationError):
    code = "invalid_amount"


class ValueMismatch(ValidationError):
    """A customs declaration naming an order declares another value than its price."""

    code = "value_mismatch"


class EPCISValidationError(ValidationError):
    """``errors`` lists ``{"event": index or None, "reason": text}`` for every problem found."""

    code = "epcis_invalid"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, errors=errors or [])
        self.errors = errors or []


class CryptoError(SupplyLedgerError):
    code = "crypto_error"


class InvalidSignature(CryptoError):
    code = "invalid_signature"


class KeyFileError(CryptoError):
    code = "key_file_error"


class DecryptionError(CryptoError):
    code = "decryption_error"


class TransactionRejected(SupplyLedgerError):
    code = "tx_rejected"


class WrongChain(TransactionRejected):
    code = "wrong_chain"


class UnknownSigner(TransactionRejected):
    code = "unknown_signer"


class RevokedKey(TransactionRejected):
    code = "revoked_key"


class ReplayedTransaction(TransactionRejected):
    code = "replayed_tx"

    def __init__(self, message: str, *, tx_id: str) -> None:
        super().__init__(message, tx_id=tx_id)
        self.tx_id = tx_id


class StaleTransaction(TransactionRejected):
    code = "stale_tx"


class ContractError(SupplyLedgerError):
    code = "contract_error"


class UnknownContract(ContractError):
    code = "unknown_contract"


class UnknownMethod(ContractError):
    code = "unknown_method"


class RoleDenied(ContractError):
    code = "role_denied"

    def __init__(self, message: str, *, required: list[str], held: list[str]) -> None:
        super().__init__(message, required=required, held=held)
        self.required = required
        self.held = held


class NotFound(ContractError):
    code = "not_found"


class AlreadyExists(ContractError):
    code = "already_exists"


class InvalidState(ContractError):
    code = "invalid_state"

    def __init__(self, message: str, *, current: str, **details: Any) -> None:
        super().__init__(message, current=current, **details)
        self.current = current


class Forbidden(ContractError):
    code = "forbidden"


class PrefixOwned(Forbidden):
    """A GS1 key under a company prefix recorded for another organisation."""

    code = "prefix_owned"

    def __init__(self, message: str, *, prefix: str, owner: str) -> None:
        super().__init__(message, prefix=prefix, owner=owner)
        self.prefix = prefix
        self.owner = owner


class PrefixOverlap(AlreadyExists):
    """A GS1 company prefix that is, or starts, another organisation's prefix."""

    code = "prefix_overlap"

    def __init__(self, message: str, *, prefix: str, other: str, owner: str) -> None:
        super().__init__(message, prefix=prefix, other=other, owner=owner)
        self.prefix, self.other, self.owner = prefix, other, owner


class InsufficientFunds(ContractError):
    code = "insufficient_funds"

    def __init__(self, message: str, *, needed: int, available: int, currency: str) -> None:
        super().__init__(message, needed=needed, available=available, currency=currency)
        self.needed = needed
        self.available = available
        self.currency = currency


class AccessDenied(ContractError):
    code = "access_denied"


class RulesUnsupported(ContractError):
    """A contract's rules version that the installed code does not implement: asked for by
    ``rules.adopt``, or in force on a ledger this release cannot execute or audit."""

    code = "rules_unsupported"

    def __init__(self, message: str, *, contract: str, version: int,
                 supported: list[int]) -> None:
        super().__init__(message, contract=contract, version=version, supported=supported)
        self.contract, self.version, self.supported = contract, version, supported


class StoreError(SupplyLedgerError):
    code = "store_error"


class MigrationError(StoreError):
    code = "migration_error"


class LedgerInUse(StoreError):
    """Another process holds the ledger directory's writer lock (a running node, a repair)."""

    code = "ledger_in_use"


class NotRepairable(StoreError):
    """The audit found damage that the blocks cannot restore (the blocks or transactions
    themselves, or a table supplyledger did not create)."""

    code = "not_repairable"


class NodeError(SupplyLedgerError):
    code = "node_error"


class NodeStopped(NodeError):
    code = "node_stopped"


class Overloaded(NodeError):
    code = "overloaded"


class ProofError(SupplyLedgerError):
    code = "proof_error"


class SolverError(SupplyLedgerError):
    code = "solver_error"


def _all_subclasses(cls: type[SupplyLedgerError]) -> list[type[SupplyLedgerError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def error_from_code(code: str, message: str, details: dict[str, Any] | None = None) -> (
    SupplyLedgerError
):
    """Rebuild an error from a receipt's ``code`` (unknown codes give the base class)."""
    for cls in _all_subclasses(SupplyLedgerError):
        if cls.code == code:
            err = SupplyLedgerError.__new__(cls)
            SupplyLedgerError.__init__(err, message, **(details or {}))
            for k, v in (details or {}).items():
                setattr(err, k, v)
            return err
    return SupplyLedgerError(message, **(details or {}))
