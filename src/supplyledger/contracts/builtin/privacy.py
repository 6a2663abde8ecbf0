"""privacy — customer data shared per recipient (paper 001 Alg. 1), done right.

Personal data never reaches the ledger. It is encrypted off the ledger with AES-256-GCM
under a fresh data key, the data key is wrapped with RSA-OAEP-SHA256 for each authorised
recipient, and the customer signs the plaintext inside the ciphertext (the paper's
"encrypt with the private key" is a signature; confidentiality comes from the recipients'
public keys). The ledger holds only the record's commitment (SHA-256 of the ciphertext),
its author and its recipient list, so access is decided and audited here while the bytes
live in the node's private store (``supplyledger.node.private_data``).

Revoking a recipient re-encrypts under a new data key (a new commitment) so the revoked
party's old wrapped key opens nothing that is served any more. Erasure crypto-shreds: the
ledger marks the record erased and the store deletes ciphertext and wrapped keys; the
commitment left behind reveals nothing and the ledger still audits clean.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import List, Str
from supplyledger.errors import AlreadyExists, Forbidden, InvalidState, NotFound

__all__ = ["CONTRACT", "erasable", "record_key"]

_RID = Str(min_len=32, max_len=32, pattern="[0-9a-f]{32}", doc="record id (random, hex)")
_HASH = Str(min_len=64, max_len=64, pattern="[0-9a-f]{64}",
            doc="SHA-256 of the ciphertext (hex)")
_DID = Str(max_len=128)


def record_key(record: str) -> str:
    return f"r/{record}"


def _record(ctx: Ctx, rid: str, *, author_only: bool = True) -> dict[str, Any]:
    rec = ctx.get(record_key(rid))
    if rec is None:
        raise NotFound(f"no private record {rid}")
    if author_only and rec["author"] != ctx.signer:
        raise Forbidden(f"only the author of record {rid} may change who reads it")
    if rec["status"] != "active":
        raise InvalidState(f"record {rid} is {rec['status']}", current=rec["status"])
    return rec  # type: ignore[no-any-return]


def _known(ctx: Ctx, did: str) -> None:
    p = ctx.read("identity", participant_key(did))
    if p is None or p["status"] != "active":
        raise NotFound(f"no active participant {did}")


@method(roles="customer", args={"record": _RID, "commitment": _HASH,
                                "recipients": List(item=_DID, max_items=50)},
        errors=(AlreadyExists, NotFound))
def publish(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register a private record: commitment and recipients (the author always reads)."""
    rid = args["record"]
    if ctx.exists(record_key(rid)):
        raise AlreadyExists(f"record {rid} already exists")
    recipients = sorted({ctx.signer, *args["recipients"]})
    for did in recipients:
        _known(ctx, did)
    rec = {"author": ctx.signer, "commitment": args["commitment"], "recipients": recipients,
           "status": "active", "since": ctx.time}
    ctx.put(record_key(rid), rec)
    ctx.emit("published", record=rid, **rec)
    return {"record": rid, "recipients": recipients}


@method(roles=ANY_PARTICIPANT, args={"record": _RID, "recipient": _DID},
        errors=(NotFound, Forbidden, InvalidState, AlreadyExists))
def grant(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Let one more participant read the record: only its author."""
    rec = _record(ctx, args["record"])
    _known(ctx, args["recipient"])
    if args["recipient"] in rec["recipients"]:
        raise AlreadyExists(f"{args['recipient']} already reads record {args['record']}")
    rec["recipients"] = sorted([*rec["recipients"], args["recipient"]])
    ctx.put(record_key(args["record"]), rec)
    ctx.emit("access", record=args["record"], recipients=rec["recipients"],
             commitment=rec["commitment"], change=f"grant {args['recipient']}")
    return {"record": args["record"], "recipients": rec["recipients"]}


@method(roles=ANY_PARTICIPANT, args={"record": _RID, "recipient": _DID, "commitment": _HASH},
        errors=(NotFound, Forbidden, InvalidState))
def revoke(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Stop a participant reading the record from now on: only its author, who supplies
    the commitment of the data re-encrypted under a new key."""
    rec = _record(ctx, args["record"])
    if args["recipient"] not in rec["recipients"] or args["recipient"] == rec["author"]:
        raise NotFound(f"{args['recipient']} is not a revocable reader of {args['record']}")
    if args["commitment"] == rec["commitment"]:
        raise InvalidState("revocation needs the data re-encrypted under a new key",
                           current=rec["commitment"])
    rec["recipients"] = [d for d in rec["recipients"] if d != args["recipient"]]
    rec["commitment"] = args["commitment"]
    ctx.put(record_key(args["record"]), rec)
    ctx.emit("access", record=args["record"], recipients=rec["recipients"],
             commitment=rec["commitment"], change=f"revoke {args['recipient']}")
    return {"record": args["record"], "recipients": rec["recipients"]}


@method(roles=ANY_PARTICIPANT, args={"record": _RID},
        errors=(NotFound, Forbidden, InvalidState))
def erase(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Erase the record (crypto-shredding): only its author. Nobody reads it afterwards.
    Rules v2: also a consortium admin, once the author is no longer an active participant
    (a revoked customer signs nothing, yet its data must stay erasable on request)."""
    rid = args["record"]
    rec = erasable(ctx, rid)
    by = {} if rec["author"] == ctx.signer else {"by": ctx.signer}
    rec["status"], rec["recipients"] = "erased", []
    ctx.put(record_key(rid), rec)
    ctx.emit("erased", record=rid, **by)
    return {"record": rid, "status": "erased", **by}


def erasable(ctx: Ctx, rid: str) -> dict[str, Any]:
    """Record ``rid`` if the signer may erase it (as :func:`erase` decides), else the
    contract's refusal. (The web's row buttons ask it too, for an admin.)"""
    if ctx.version >= 2 and "admin" in ctx.roles:
        rec = _record(ctx, rid, author_only=False)
        if rec["author"] != ctx.signer and _active(ctx, rec["author"]):
            raise Forbidden(f"the author of record {rid} is an active participant: only it "
                            "may erase the record (an admin erases a record only once its "
                            "author is revoked)", author=rec["author"])
        return rec
    return _record(ctx, rid)


def _active(ctx: Ctx, did: str) -> bool:
    p = ctx.read("identity", participant_key(did))
    return p is not None and p["status"] == "active"


RECORDS = Table(
    "private_records",
    (("id", "TEXT"), ("author", "TEXT"), ("commitment", "TEXT"), ("recipients", "TEXT"),
     ("status", "TEXT"), ("since", "INTEGER"), ("tx", "TEXT")),
    ("id",), (("author",),),
)
ACCESS_LOG = Table(
    "private_access_log",
    (("record", "TEXT"), ("tx", "TEXT"), ("change", "TEXT"), ("time", "INTEGER")),
    ("record", "tx"),
)


def _published(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("private_records", (e["record"], e["author"], e["commitment"],
                                       " ".join(e["recipients"]), "active", m.time, m.tx)),
            Upsert("private_access_log", (e["record"], m.tx, "publish", m.time))]


def _access(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("private_records", (e["record"],), (
                ("commitment", e["commitment"]), ("recipients", " ".join(e["recipients"])))),
            Upsert("private_access_log", (e["record"], m.tx, e["change"], m.time))]


def _erased(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("private_records", (e["record"],), (("status", "erased"),
                                                        ("recipients", ""))),
            Upsert("private_access_log", (e["record"], m.tx,
                                          f"erase by {e['by']}" if "by" in e else "erase",
                                          m.time))]


CONTRACT = Contract.of(
    "privacy", __doc__ or "", [publish, grant, revoke, erase],
    tables=(RECORDS, ACCESS_LOG),
    projectors={"privacy.published": _published, "privacy.access": _access,
                "privacy.erased": _erased},
    versions=(1, 2),
)
