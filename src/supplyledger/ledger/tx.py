"""Transactions: a canonical envelope plus a signature over its bytes.

Wire and stored form: ``{"env": {...}, "sig": "<base64>"}`` in canonical encoding. Because
"env" sorts before "sig" and base64 holds no quote or comma, the envelope bytes are a slice
of the stored bytes, so auditing needs no re-encoding. The id is SHA-256 of the envelope
bytes only: RSA-PSS signatures are randomised, so an id over the signature would let one
signed intent enter twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from supplyledger.errors import CryptoError, EncodingError, PayloadTooLarge, ValidationError
from supplyledger.ledger.crypto import PrivateKey, b64d, b64e
from supplyledger.ledger.encoding import MAX_INT, canonical, canonical_decoded, decode

__all__ = [
    "ENVELOPE_FIELDS",
    "MAX_ARGS_DEPTH",
    "MAX_ID",
    "SignedTx",
    "check_args_bounds",
    "check_envelope",
    "envelope_bytes_of",
    "is_id",
    "make_tx",
    "parse_tx",
]

ENVELOPE_FIELDS = frozenset({"chain", "contract", "method", "args", "signer", "nonce", "time"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}\Z")
_SIG_SEP = b',"sig":"'
# Objects and lists nested in envelope.args, the args object itself counting as one. Far
# above what any method takes (an EPCIS event with extensions nests about ten deep), far
# below where recursion fails: a verifier process pickling its verdict, canonical
# re-encoding and contract code all recurse once per level, and where that fails depends
# on each thread's stack, which no receipt may.
MAX_ARGS_DEPTH = 64
MAX_ID = 128  # characters of a chain or signer id


@dataclass(frozen=True, slots=True)
class SignedTx:
    id: str
    env: dict[str, Any]
    env_bytes: bytes
    sig: bytes
    raw: bytes

    @property
    def signer(self) -> str:
        return str(self.env["signer"])

    @property
    def time(self) -> int:
        return int(self.env["time"])

    @property
    def contract(self) -> str:
        return str(self.env["contract"])

    @property
    def method(self) -> str:
        return str(self.env["method"])

    @property
    def args(self) -> dict[str, Any]:
        args: dict[str, Any] = self.env["args"]
        return args


def is_id(value: Any) -> bool:
    """Whether ``value`` can be an envelope's chain or signer id (so a ledger's chain id
    must be one, or no transaction could name it)."""
    return type(value) is str and 0 < len(value) <= MAX_ID


def check_envelope(env: Any) -> None:
    if type(env) is not dict:
        raise ValidationError("transaction envelope must be an object")
    keys = env.keys()
    if keys != ENVELOPE_FIELDS:
        missing = sorted(ENVELOPE_FIELDS - keys)
        extra = sorted(keys - ENVELOPE_FIELDS)
        raise ValidationError(f"envelope fields wrong: missing {missing}, unexpected {extra}")
    for field in ("chain", "signer"):
        if not is_id(env[field]):
            raise ValidationError(f"envelope.{field} must be a string of 1-{MAX_ID} "
                                  "characters")
    for field in ("contract", "method"):
        v = env[field]
        if type(v) is not str or not _NAME.match(v):
            raise ValidationError(f"envelope.{field} must match [a-z][a-z0-9_]{{0,47}}")
    if type(env["args"]) is not dict:
        raise ValidationError("envelope.args must be an object")
    nonce = env["nonce"]
    if not ((type(nonce) is int and 0 <= nonce <= MAX_INT)
            or (type(nonce) is str and 0 < len(nonce) <= 64)):
        raise ValidationError("envelope.nonce must be a non-negative integer or a short string")
    t = env["time"]
    if type(t) is not int or not 0 <= t <= MAX_INT:
        raise ValidationError("envelope.time must be a non-negative integer (ms since epoch)")


def check_args_bounds(args: dict[str, Any]) -> None:
    """Refuse arguments nested deeper than :data:`MAX_ARGS_DEPTH` or holding an integer
    outside ±(2**53-1). :func:`~supplyledger.ledger.encoding.decode` lets both through, and
    argument schemas bound only the integers they declare, not those inside free-form
    objects, which would otherwise enter a block and fail only when stored."""
    stack: list[tuple[Any, int]] = [(args, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth = pop()
        for v in value.values() if type(value) is dict else value:
            t = type(v)
            if t is dict or t is list:
                if depth >= MAX_ARGS_DEPTH:
                    raise ValidationError(f"envelope.args nests objects and lists more than "
                                          f"{MAX_ARGS_DEPTH} levels deep")
                push((v, depth + 1))
            elif t is int and not -MAX_INT <= v <= MAX_INT:
                digits = str(abs(v))
                raise EncodingError(f"envelope.args holds an integer of {len(digits)} digits "
                                    f"({digits[:12]}…), outside the exact range ±(2**53-1)")


def make_tx(
    key: PrivateKey,
    *,
    chain: str,
    contract: str,
    method: str,
    args: dict[str, Any],
    time_ms: int,
    nonce: int | str,
    signer: str | None = None,
) -> SignedTx:
    """Sign a transaction. ``signer`` defaults to the key's own id; after a key rotation
    the participant keeps its original id, so pass it explicitly."""
    env = {
        "chain": chain,
        "contract": contract,
        "method": method,
        "args": args,
        "signer": signer or key.did,
        "nonce": nonce,
        "time": time_ms,
    }
    check_envelope(env)
    check_args_bounds(args)
    env_bytes = canonical(env)
    sig = key.sign(env_bytes)
    raw = b'{"env":' + env_bytes + _SIG_SEP + b64e(sig).encode() + b'"}'
    return SignedTx(hashlib.sha256(env_bytes).hexdigest(), env, env_bytes, sig, raw)


def envelope_bytes_of(raw: bytes) -> tuple[bytes, str]:
    """Split stored canonical tx bytes into (envelope bytes, base64 signature)."""
    cut = raw.rfind(_SIG_SEP)
    if not raw.startswith(b'{"env":') or cut < 0 or not raw.endswith(b'"}'):
        raise EncodingError("stored transaction is not in canonical form")
    return raw[7:cut], raw[cut + len(_SIG_SEP) : -2].decode("ascii")


def parse_tx(raw: bytes, *, max_bytes: int) -> SignedTx:
    """Decode and schema-check submitted bytes. The signature is checked by the caller,
    who knows the signer's current key."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"transaction is {len(raw)} bytes; the limit is {max_bytes}", size=len(raw),
            limit=max_bytes,
        )
    doc = decode(raw)
    if type(doc) is not dict or doc.keys() != {"env", "sig"} or type(doc["sig"]) is not str:
        raise ValidationError('a transaction is {"env": {...}, "sig": "<base64>"}')
    env = doc["env"]
    check_envelope(env)
    check_args_bounds(env["args"])
    env_bytes = canonical_decoded(env)
    try:
        sig = b64d(doc["sig"])
    except CryptoError as exc:  # say which field: an envelope holds base64 keys too
        raise CryptoError(f"transaction signature: {exc.message}") from None
    raw_c = b'{"env":' + env_bytes + _SIG_SEP + doc["sig"].encode() + b'"}'
    return SignedTx(hashlib.sha256(env_bytes).hexdigest(), env, env_bytes, sig, raw_c)
