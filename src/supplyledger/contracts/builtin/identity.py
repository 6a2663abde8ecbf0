"""identity — consortium membership, roles and keys (paper 001 Alg. 3; paper 000 §3.5.1).

Consortium admins come from genesis. Admins register organisations and their members; a
member's id is derived from the public key it registers with (a DID), so ids cannot be
chosen to impersonate anyone. Rotation keeps the id and swaps the key; revocation stops
every later transaction by that signer at admission.

GS1 company prefixes: an admin records the prefixes GS1 allocated to an organisation
(``set_prefixes``; 4-12 digits, replacing its previous list). GS1 keys embed the prefix of
the company that allocated them, so a prefix recorded for organisation X reserves X's SSCCs:
only X may first claim or register them (trace, ``products.register_unit``). No prefix may
be, or start, another organisation's prefix (``prefix_overlap``): then at most one recorded
prefix matches any key. The index is ``x/{first 4 digits}`` -> {prefix: org}, so a key's
owner is one state read whatever the prefix length (a Digital Link does not say where the
prefix ends, and a URN's split is notation a stranger could move, so the digits decide);
``g/{org}`` holds the organisation's list.

Rules v2: names, and the other free text shown to people (a revocation's reason), may hold
no control character (Unicode category Cc: NUL, line breaks, escapes …), no bidi control
(U+200E/F, U+202A to U+202E, U+2066 to U+2069, which reorder what a reader sees: "Acme", U+202E,
"gnippihs" shows as "Acmeshipping") and not only whitespace (ValidationError naming the
field). Rules v1, in ledgers made before, accepted them.

Rules v3: a machine key, a participant whose roles are all machine
roles (``device``: a sensor logger, whose key is easy to lift from its hardware; ``node``),
signs only methods that name its role (``sensors.record``, trace events) or are open to
machines: here ``rotate_key`` and ``revoke`` (a device rotating or retiring its own key).
Every other method open to any participant refuses it (``role_denied``) in every contract:
it cannot hand over custody of its organisation's goods, dispatch or deliver orders, offer
products for sale, grant private data or create shipments. Its organisation's people (or
a member holding a role beyond the machine ones) sign those. Rules v1 and v2 admitted it.

Rules v4 (new ledgers start on it) change only words: a call refused for want of a role
(``role_denied``, in every contract) names the roles in words, "needs the role admin or
seller", where v1 to v3 printed a list, "needs one of the roles ['admin', 'seller']".
Receipts store the words, so ledgers under v1 to v3 keep theirs.

Rules v5 (new ledgers start on it) refuse before execution what needs only the arguments
(``runtime`` admission checks): a name in ``register_org`` or ``register_member`` and a
reason in ``revoke`` that v2's check of shown text refuses, and a ``register_member``
``public_key`` that is not a usable key. Same error and words, but the submitter
gets them at once and no block records a failed transaction; v1 to v4 ledgers record it, as
they did (v1 takes such text). The admission runs first: an unusable key is refused so even
for an unknown organisation or roles it may not hold, which the body (and v1 to v4) checks
before the key.

Rules v6 (new ledgers start on it) refuse ``rotate_key`` to an unusable key before
execution too (v1 to v5 record the failed rotation; admission runs first, so such a key is
refused even where the body would first refuse the signer or an inactive participant), and
word an unusable key in supplyledger's own terms: not base64, not a DER-encoded
SubjectPublicKeyInfo, an RSA key of the wrong size, neither RSA nor Ed25519
(:func:`~supplyledger.ledger.crypto.spki_fault`). v1 to v5 append the base64 and crypto
libraries' messages, which change between their releases; receipts of v1 to v5 keep them.
"""

from __future__ import annotations

import base64
from itertools import pairwise
from typing import Any

from supplyledger.contracts.projection import Delete, EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, AdmitCheck, Contract, Ctx, method
from supplyledger.contracts.schema import Enum, List, Str
from supplyledger.errors import (
    AlreadyExists,
    CryptoError,
    Forbidden,
    InvalidState,
    NotFound,
    PrefixOverlap,
    PrefixOwned,
    ValidationError,
)
from supplyledger.ledger.crypto import PublicKey, spki_fault

__all__ = [
    "CONTRACT", "ROLES", "SHOWN_TEXT", "check_prefix", "check_shown_text", "genesis_writes",
    "participant_key",
]

ROLES = (
    "admin", "supplier", "manufacturer", "platform", "warehouse", "transporter", "customs",
    "financier", "customer", "auditor", "device", "inspector", "settlement", "arbiter", "node",
)
_ID = r"[a-z0-9][a-z0-9_.-]{1,62}"
_KEY = Str(min_len=40, max_len=1200, doc="SubjectPublicKeyInfo DER, base64")
_ROLES = List(item=Enum(values=ROLES), min_items=1, max_items=len(ROLES))
SSCC_DL = "https://id.gs1.org/00/"  # the canonical spelling of an SSCC
_HEAD = 4  # the shortest company prefix: every prefix is indexed under its first 4 digits


# Rules v2: characters that hide or reorder what a reader of a name sees. Cc is fixed by
# Unicode's stability policy (C0, DEL, C1), so every node decides the same on any Python.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _misleading(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F or ch in _BIDI


# Free text people read, per method: what ``check_shown_text`` applies to (the web API runs
# the same check before signing).
SHOWN_TEXT = {"register_org": ("name",), "register_member": ("name",), "revoke": ("reason",)}


def check_shown_text(version: int, field: str, value: str) -> None:
    """Refuse, under rules ``version`` >= 2, free text shown to people that is blank or holds
    a control or bidi character (rules v1 accepted them: their ledgers re-execute unchanged)."""
    if version < 2:
        return
    bad = next((ch for ch in value if _misleading(ch)), None)
    if bad is not None:
        kind = "bidi control" if bad in _BIDI else "control character"
        raise ValidationError(f"{field} holds the {kind} U+{ord(bad):04X}, which would hide "
                              "or reorder what people read", arg=field)
    if value.isspace():
        raise ValidationError(f"{field} is only whitespace", arg=field)


# From these rules on, the shown-text checks refuse before execution.
ADMIT_RULES = 5


def _admit_text(field: str) -> tuple[int, AdmitCheck]:
    """The admission check refusing what :func:`check_shown_text` refuses of ``field``."""
    def check(signer: str, a: dict[str, Any], version: int, time: int) -> None:
        check_shown_text(version, field, a[field])
    return ADMIT_RULES, check


def _admit_member(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    """``register_member``'s checks of its arguments: the name, then the key. The body
    reads the organisation before the key, but from :data:`ADMIT_RULES` this runs first."""
    check_shown_text(version, "name", a["name"])
    _load_key(a["public_key"], version)


def _admit_rotation(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    _load_key(a["public_key"], version)


def participant_key(did: str) -> str:
    return f"p/{did}"


# From these rules on, key rotation checks its key at admission, and an unusable key is
# worded without the libraries' messages.
KEY_RULES = 6


def _load_key(b64: str, version: int) -> PublicKey:
    if version >= KEY_RULES:
        try:
            spki = base64.b64decode(b64, validate=True)
        except ValueError:
            fault: str | None = "it is not base64 (standard alphabet, padded)"
        else:
            fault = spki_fault(spki)
        if fault is not None:
            raise ValidationError(f"public_key is not a usable key: {fault}", arg="public_key")
        return PublicKey.from_spki(spki)
    try:
        return PublicKey.from_spki(base64.b64decode(b64, validate=True))
    except (CryptoError, ValueError) as exc:
        raise ValidationError(f"public_key is not a usable key: {exc}", arg="public_key") from None


def _participant(ctx: Ctx, did: str) -> dict[str, Any]:
    p = ctx.get(participant_key(did))
    if p is None:
        raise NotFound(f"no participant {did}")
    return p  # type: ignore[no-any-return]


@method(roles="admin", args={"id": Str(pattern=_ID), "name": Str(max_len=200),
                             "roles": _ROLES}, errors=(AlreadyExists, ValidationError),
        admit=_admit_text("name"))
def register_org(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register an organisation and the roles its members may hold (rules v2: a name
    without control or bidi characters, not only whitespace)."""
    check_shown_text(ctx.version, "name", args["name"])
    if ctx.exists(f"o/{args['id']}"):
        raise AlreadyExists(f"organisation {args['id']} already exists")
    org = {"id": args["id"], "name": args["name"], "roles": sorted(set(args["roles"])),
           "status": "active", "since": ctx.time}
    ctx.put(f"o/{args['id']}", org)
    ctx.emit("org_registered", **org)
    return {"id": args["id"]}


def _add_member(ctx: Ctx, org_id: str, key_b64: str, name: str, roles: list[str]) -> str:
    org = ctx.get(f"o/{org_id}")
    if org is None:
        raise NotFound(f"no organisation {org_id}")
    bad = sorted(set(roles) - set(org["roles"]))
    if bad:
        raise Forbidden(f"organisation {org_id} may not hold roles {bad}")
    key = _load_key(key_b64, ctx.version)
    did = key.did
    if ctx.exists(participant_key(did)) or ctx.exists(f"k/{key.fingerprint}"):
        raise AlreadyExists(f"participant {did} (or its key) is already registered")
    rec = {"did": did, "name": name, "org": org_id, "roles": sorted(set(roles)),
           "key": key_b64, "status": "active", "since": ctx.time}
    ctx.put(participant_key(did), rec)
    ctx.put(f"k/{key.fingerprint}", did)
    ctx.emit("member_registered", did=did, name=name, org=org_id, roles=rec["roles"],
             fingerprint=key.fingerprint)
    return did


@method(roles="admin", args={"org": Str(pattern=_ID), "public_key": _KEY,
                             "name": Str(max_len=200), "roles": _ROLES},
        errors=(NotFound, Forbidden, AlreadyExists, ValidationError),
        admit=(ADMIT_RULES, _admit_member))
def register_member(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Register a member of an organisation; its id is derived from its public key (rules
    v2: a name without control or bidi characters, not only whitespace)."""
    check_shown_text(ctx.version, "name", args["name"])
    did = _add_member(ctx, args["org"], args["public_key"], args["name"], args["roles"])
    return {"did": did}


@method(roles="admin", args={"did": Str(max_len=128), "roles": _ROLES},
        errors=(NotFound, Forbidden))
def set_roles(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Replace a participant's roles (within what its organisation may hold)."""
    p = _participant(ctx, args["did"])
    org = ctx.get(f"o/{p['org']}")
    allowed = set(org["roles"]) if org else set(ROLES)
    bad = sorted(set(args["roles"]) - allowed)
    if bad:
        raise Forbidden(f"organisation {p['org']} may not hold roles {bad}")
    p["roles"] = sorted(set(args["roles"]))
    ctx.put(participant_key(p["did"]), p)
    ctx.emit("roles_set", did=p["did"], roles=p["roles"])
    return {"did": p["did"], "roles": p["roles"]}


@method(roles=ANY_PARTICIPANT, machines=True,
        args={"did": Str(max_len=128), "public_key": _KEY},
        errors=(NotFound, Forbidden, AlreadyExists, InvalidState, ValidationError),
        admit=(KEY_RULES, _admit_rotation))
def rotate_key(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Replace a participant's key: by the participant itself, or by an admin (lost key);
    rules v6: an unusable key is refused before execution."""
    if args["did"] != ctx.signer and "admin" not in ctx.roles:
        raise Forbidden("only the participant itself or an admin may rotate its key")
    p = _participant(ctx, args["did"])
    if p["status"] != "active":
        raise InvalidState(f"participant {p['did']} is {p['status']}", current=p["status"])
    key = _load_key(args["public_key"], ctx.version)
    if ctx.exists(f"k/{key.fingerprint}"):
        raise AlreadyExists("that key is already registered")
    p["key"] = args["public_key"]
    ctx.put(participant_key(p["did"]), p)
    ctx.put(f"k/{key.fingerprint}", p["did"])
    ctx.emit("key_rotated", did=p["did"], fingerprint=key.fingerprint)
    return {"did": p["did"], "fingerprint": key.fingerprint}


@method(roles=ANY_PARTICIPANT, machines=True,
        args={"did": Str(max_len=128), "reason": Str(max_len=500)},
        errors=(NotFound, Forbidden, InvalidState, ValidationError),
        admit=_admit_text("reason"))
def revoke(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Revoke a participant: every later transaction it signs is rejected (rules v2: a
    reason without control or bidi characters, not only whitespace)."""
    check_shown_text(ctx.version, "reason", args["reason"])
    if args["did"] != ctx.signer and "admin" not in ctx.roles:
        raise Forbidden("only the participant itself or an admin may revoke it")
    p = _participant(ctx, args["did"])
    if p["status"] == "revoked":
        raise InvalidState(f"participant {p['did']} is already revoked", current="revoked")
    p["status"] = "revoked"
    ctx.put(participant_key(p["did"]), p)
    ctx.emit("revoked", did=p["did"], reason=args["reason"])
    return {"did": p["did"], "status": "revoked"}


def _prefixes(args: dict[str, Any]) -> dict[str, Any]:
    # Stateless, in the verifier workers: the list in one order, no prefix twice or inside
    # another of the list (one of them would be redundant, and the index allows one match).
    prefixes = sorted(set(args["prefixes"]))
    for a, b in pairwise(prefixes):
        if b.startswith(a):
            raise ValidationError(f"prefix {b} starts with {a}, also in the list",
                                  arg="prefixes")
    return {"org": args["org"], "prefixes": prefixes}


@method(roles="admin", prepare=_prefixes, args={
    "org": Str(pattern=_ID),
    "prefixes": List(item=Str(min_len=_HEAD, max_len=12, pattern="[0-9]+",
                              doc="GS1 company prefix"), max_items=50,
                     doc="the organisation's GS1 company prefixes (replaces the list; [] clears)"),
}, errors=(NotFound, PrefixOverlap, ValidationError))
def set_prefixes(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Record an organisation's GS1 company prefixes: SSCCs under them are its own to claim."""
    org = args["org"]
    if not ctx.exists(f"o/{org}"):
        raise NotFound(f"no organisation {org}")
    new, old = args["prefixes"], ctx.get(f"g/{org}") or []
    heads: dict[str, dict[str, str]] = {}
    for p in (*old, *new):
        heads.setdefault(p[:_HEAD], ctx.get(f"x/{p[:_HEAD]}") or {})
    for p in new:
        for other, owner in heads[p[:_HEAD]].items():
            if owner != org and (p.startswith(other) or other.startswith(p)):
                raise PrefixOverlap(f"prefix {p} overlaps prefix {other} of organisation "
                                    f"{owner}", prefix=p, other=other, owner=owner)
    for p in old:
        heads[p[:_HEAD]].pop(p, None)
    for p in new:
        heads[p[:_HEAD]][p] = org
    for head, index in sorted(heads.items()):
        if index:
            ctx.put(f"x/{head}", dict(sorted(index.items())))
        else:
            ctx.delete(f"x/{head}")
    if new:
        ctx.put(f"g/{org}", new)
    else:
        ctx.delete(f"g/{org}")
    ctx.emit("prefixes_set", org=org, prefixes=new, removed=sorted(set(old) - set(new)))
    return {"org": org, "prefixes": new}


def check_prefix(ctx: Ctx, ident: str) -> None:
    """Refuse the signer's first claim of ``ident`` if it is an SSCC (canonical Digital Link)
    under a company prefix recorded for another organisation. One state read; other
    identifiers, and prefixes nobody recorded, pass (consortia adopt prefixes gradually)."""
    digits = ident[len(SSCC_DL) + 1:]  # after the extension digit: the company prefix
    if not ident.startswith(SSCC_DL) or len(digits) != 17 or not digits.isdigit():
        return
    org = ctx.org or ""
    for prefix, owner in (ctx.read("identity", f"x/{digits[:_HEAD]}") or {}).items():
        if digits.startswith(prefix) and owner != org:
            raise PrefixOwned(f"{ident} is under GS1 company prefix {prefix} of organisation "
                              f"{owner}: only it may first record on or register the unit, "
                              f"not organisation {org or '-'}", prefix=prefix, owner=owner)


def genesis_writes(admins: list[dict[str, Any]], orgs: list[dict[str, Any]], time: int) -> (
    dict[str, Any]
):
    """Initial identity state from the genesis document (not a transaction: nobody exists
    yet to sign one)."""
    writes: dict[str, Any] = {}
    for org in orgs:
        writes[f"identity/o/{org['id']}"] = {"id": org["id"], "name": org["name"],
                                             "roles": sorted(org["roles"]), "status": "active",
                                             "since": time}
    for a in admins:
        key = _load_key(a["public_key"], KEY_RULES)
        writes[f"identity/p/{key.did}"] = {"did": key.did, "name": a["name"], "org": a["org"],
                                           "roles": sorted(a["roles"]), "key": a["public_key"],
                                           "status": "active", "since": time}
        writes[f"identity/k/{key.fingerprint}"] = key.did
    return writes


PARTICIPANTS = Table(
    "participants",
    (("did", "TEXT"), ("name", "TEXT"), ("org", "TEXT"), ("roles", "TEXT"), ("status", "TEXT"),
     ("fingerprint", "TEXT"), ("since", "INTEGER"), ("tx", "TEXT")),
    ("did",),
    (("org",),),
)
ORGANISATIONS = Table(
    "organisations",
    (("id", "TEXT"), ("name", "TEXT"), ("roles", "TEXT"), ("status", "TEXT"),
     ("since", "INTEGER")),
    ("id",),
)
PREFIXES = Table("gs1_prefixes", (("prefix", "TEXT"), ("org", "TEXT"), ("since", "INTEGER"),
                                  ("tx", "TEXT")), ("prefix",), (("org",),))


def _p_registered(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("participants", (e["did"], e["name"], e["org"], ",".join(e["roles"]),
                                    "active", e["fingerprint"], m.time, m.tx))]


def _p_update(col: str, value_of: str) -> Any:
    def project(e: dict[str, Any], m: EventMeta) -> list[Op]:
        v = e[value_of]
        return [Update("participants", (e["did"],),
                       ((col, ",".join(v) if isinstance(v, list) else v),))]
    return project


def _o_registered(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("organisations", (e["id"], e["name"], ",".join(e["roles"]), e["status"],
                                     e["since"]))]


def _prefixes_set(e: dict[str, Any], m: EventMeta) -> list[Op]:
    ops: list[Op] = [Delete("gs1_prefixes", (p,)) for p in e["removed"]]
    return ops + [Upsert("gs1_prefixes", (p, e["org"], m.time, m.tx)) for p in e["prefixes"]]


def _revoked(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("participants", (e["did"],), (("status", "revoked"),))]


CONTRACT = Contract.of(
    "identity",
    __doc__ or "",
    [register_org, register_member, set_roles, rotate_key, revoke, set_prefixes],
    tables=(PARTICIPANTS, ORGANISATIONS, PREFIXES),
    versions=(1, 2, 3, 4, 5, 6),
    projectors={
        "identity.member_registered": _p_registered,
        "identity.org_registered": _o_registered,
        "identity.roles_set": _p_update("roles", "roles"),
        "identity.key_rotated": _p_update("fingerprint", "fingerprint"),
        "identity.revoked": _revoked,
        "identity.prefixes_set": _prefixes_set,
    },
)
