"""The service object under the HTTP API and the web pages.

Routers parse and render; everything they do goes through :class:`LedgerService`, which
owns the node, the accounts and the read queries, and raises only errors of the one error
tree. Tests build it over a node in ``tmp_path`` and drive it in-process.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from supplyledger.api.accounts import Accounts, Session
from supplyledger.api.errors import Unauthenticated
from supplyledger.api.features import Features
from supplyledger.api.reads import Reads
from supplyledger.api.settings import ApiSettings
from supplyledger.contracts.builtin import custody, identity, payments
from supplyledger.contracts.builtin.rules import PREFIX, version_of
from supplyledger.contracts.runtime import Contract, Method, prepare_call, role_refusal
from supplyledger.contracts.schema import validate_args
from supplyledger.errors import (
    Forbidden,
    NotFound,
    RoleDenied,
    UnknownContract,
    UnknownMethod,
    ValidationError,
    error_from_code,
)
from supplyledger.gs1 import sscc_link
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.keyfile import KDF_COST_WRITTEN, unseal
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import AuditReport, run_audit
from supplyledger.node.receipts import Receipt
from supplyledger.node.service import Node
from supplyledger.node.signers import participant_for, stale_adoption
from supplyledger.store.localdb import LocalDB

__all__ = ["LedgerService", "Principal"]

# Per contract, the fields of each method that hold free text shown to people.
_SHOWN_TEXT = {"identity": identity.SHOWN_TEXT, "payments": payments.SHOWN_TEXT,
               "custody": custody.SHOWN_TEXT}


@dataclass(frozen=True, slots=True)
class Principal:
    """A logged-in participant as the pages and routers see it."""

    did: str
    name: str
    org: str | None
    roles: frozenset[str]
    session: Session
    via_cookie: bool

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


AUDITORS = ("admin", "auditor")  # may run the audit


class _Gate:
    """Many submitters or one auditor: the audit reads the ledger file while nothing is
    half-committed, so it never reports a block that was still being written."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False

    def shared(self) -> _Held:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._active += 1
        return _Held(self, exclusive=False)

    def exclusive(self) -> _Held:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._exclusive = True
            self._cond.wait_for(lambda: self._active == 0)
        return _Held(self, exclusive=True)

    def release(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._exclusive = False
            else:
                self._active -= 1
            self._cond.notify_all()


class _Held:
    def __init__(self, gate: _Gate, *, exclusive: bool) -> None:
        self.gate, self.exclusive = gate, exclusive

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.gate.release(self.exclusive)


class LedgerService:
    def __init__(self, node: Node, settings: ApiSettings | None = None) -> None:
        self.node = node
        self.settings = settings or ApiSettings()
        self.contracts: dict[str, Contract] = dict(node.contracts)
        self.localdb = LocalDB(node.store.path)
        self.accounts = Accounts(self.localdb, self.settings)
        self.reads = Reads(node.store, self.contracts, self.settings)
        self.features = Features(node)
        self._gate = _Gate()
        self._audit_lock = threading.Lock()
        self.last_audit: AuditReport | None = None

    def close(self) -> None:
        self.localdb.close()

    @property
    def chain(self) -> str:
        return self.node.chain

    # -- who ------------------------------------------------------------------------------
    def participant(self, did: str) -> dict[str, Any] | None:
        raw = self.node.store.get_state(f"identity/p/{did}")
        return None if raw is None else dict(decode(raw))

    def principal(self, sess: Session, *, via_cookie: bool) -> Principal:
        """The session's participant; Unauthenticated once it is revoked on the ledger
        (a member that left, or whose key was stolen, reads nothing more here)."""
        found = self.participant(sess.did)
        if found is not None and found.get("status") != "active":
            raise Unauthenticated(f"participant {sess.did} is {found.get('status')}")
        p = found or {}
        return Principal(sess.did, str(p.get("name", sess.did)), p.get("org"),
                         frozenset(p.get("roles", ())), sess, via_cookie)

    def login(self, login: str, password: str, client: str) -> Session:
        """A new session, for a participant that is still active."""
        sess = self.accounts.login(login, password, client)
        try:
            self.principal(sess, via_cookie=False)
        except Unauthenticated:
            self.accounts.logout(sess)
            raise
        return sess

    # -- writes ---------------------------------------------------------------------------
    def submit_raw(self, raw: bytes) -> Receipt:
        """Admit transaction bytes signed by their author; wait for the durable commit."""
        with self._gate.shared():
            return self.node.submit(raw).result(self.settings.commit_timeout_s)

    def method(self, contract: str, method: str) -> Method:
        c = self.contracts.get(contract)
        if c is None:
            raise UnknownContract(f"no contract named {contract!r}")
        m = c.methods.get(method)
        if m is None:
            raise UnknownMethod(f"contract {contract!r} has no method {method!r}")
        return m

    def may_call(self, who: Principal, contract: str, method: str) -> bool:
        """Whether ``who``'s roles let them call the method (False if it is not deployed):
        pages do not offer what the contract would refuse for the caller's roles (a machine
        key, under identity rules v3, only what is open to it)."""
        m = self.contracts.get(contract)
        found = None if m is None else m.methods.get(method)
        return found is not None and role_refusal(contract, found, who.roles,
                                                  self._identity_rules) is None

    def _identity_rules(self) -> int:
        return self.rules_version("identity")

    def call(self, who: Principal, contract: str, method: str,
             args: dict[str, Any]) -> Receipt:
        """Sign ``contract.method(args)`` with the caller's own key and commit it.

        Arguments, roles (as the identity rules in force decide: a machine key's too) and
        the method's stateless checks (its ``prepare`` step) come first, and an adoption of
        rules already in force, so a request the contract would refuse for those reasons is
        answered without adding anything to the ledger."""
        m = self.method(contract, method)
        validate_args(m.args, args)
        denied = role_refusal(contract, m, who.roles, self._identity_rules)
        if denied is not None:
            raise denied
        _, refused = prepare_call(self.contracts, contract, method, args)
        # A crashing prepare step ("contract_bug") is the contract's fault, not the
        # caller's: it goes to the ledger, which records it like any node would.
        if refused is not None and refused["code"] != "contract_bug":
            raise error_from_code(refused["code"], refused["message"], refused.get("details"))
        stale = stale_adoption(self.node.store.get_state, self.contracts, contract, method,
                               args)
        if stale is not None:
            raise stale
        self.check_shown_text(contract, method, args)
        key = self.accounts.signing_key(who.session)
        tx = make_tx(key, chain=self.chain, contract=contract, method=method, args=args,
                     time_ms=self.node.clock(), nonce=secrets.token_hex(8), signer=who.did)
        return self.submit_raw(tx.raw)

    def register_member(self, admin: Principal, *, org: str, name: str, roles: list[str],
                        login: str, password: str) -> Receipt:
        """Admin enrols a web user: a fresh RSA key (RSA so it can also receive encrypted
        customer data), registered on the ledger, kept only sealed under ``password``. The
        login is checked first: a refused login must not leave a registered participant
        whose key nobody holds, and the login stays reserved until the account is stored."""
        with self.accounts.reserving(login, password):
            self.check_shown_text("identity", "register_member", {"name": name})
            self.check_membership(org, roles)
            key = generate("rsa")
            receipt = self.call(admin, "identity", "register_member",
                                {"org": org, "public_key": key.public.b64, "name": name,
                                 "roles": roles})
            if receipt.ok:
                self.accounts.create(str(receipt.result["did"]), login, password, key)
        return receipt

    def rules_version(self, contract: str) -> int:
        """The version of ``contract``'s rules in force on the ledger (1 until adopted)."""
        raw = self.node.store.get_state(PREFIX + contract)
        return 1 if raw is None else version_of(PREFIX + contract, raw)

    def check_shown_text(self, contract: str, method: str, args: dict[str, Any]) -> None:
        """Refuse, before anything is signed, the names and reasons that the rules in force
        refuse (identity v2, payments v3: control or bidi characters, only whitespace): the
        contract's own check, run as the ledger would run it, which else leaves a failed
        transaction on the ledger for good."""
        fields = _SHOWN_TEXT.get(contract, {}).get(method, ())
        version = self.rules_version(contract) if fields else 1
        for name in fields:
            if isinstance(args.get(name), str):
                identity.check_shown_text(version, name, args[name])

    def check_membership(self, org: str, roles: list[str]) -> None:
        """Refuse, before a key is made or anything signed, what ``identity``'s
        ``register_member`` would refuse about the organisation: one that is not
        registered, or roles it may not hold (it would be a failed call on the ledger)."""
        raw = self.node.store.get_state(f"identity/o/{org}")
        if raw is None:
            raise NotFound(f"no organisation {org}", org=org)
        allowed = sorted(decode(raw).get("roles", ()))
        bad = sorted(set(roles) - set(allowed))
        if bad:
            raise Forbidden(f"organisation {org} may not hold roles {bad}; it may hold "
                            f"{', '.join(allowed)}", org=org, roles=bad, allowed=allowed)

    def import_account(self, sealed: bytes, password: str, login: str, client: str) -> str:
        """Give a web login to a participant whose key file (``supplyledger keys new`` or
        ``init``) and password the caller holds; the key must be its registered one."""
        self.accounts._throttle(client)
        # The file's own scrypt cost is the caller's to choose: no more than keys that
        # supplyledger writes (32 MiB), or one request could take a GiB and seconds of CPU.
        key = unseal(sealed, password, max_cost=KDF_COST_WRITTEN)
        # The one look-up of whom a key signs for: unregistered (UnknownSigner), or its
        # participant revoked or rotated to another key since (RevokedKey).
        owner = str(participant_for(self.node.store.get_state, key.public)["did"])
        self.accounts.create(owner, login, password, key)
        return owner

    # -- audit ----------------------------------------------------------------------------
    def audit(self, who: Principal) -> AuditReport:
        """Run the audit. Only admins and auditors: submissions wait while it runs (it
        reads the ledger with nothing half-committed), so anyone else could stall the
        node with it."""
        if not who.has(*AUDITORS):
            raise RoleDenied("running the audit needs the admin or auditor role",
                             required=list(AUDITORS), held=sorted(who.roles))
        with self._audit_lock, self._gate.exclusive():
            report = run_audit(self.node.store.path.parent,
                               workers=self.node.settings.verify_workers)
        self.last_audit = report
        return report

    # -- traceability (when the traceability queries exist) -----------------------------
    def resolve_batch(self, text: str) -> list[str]:
        """Batch ids a user's input may mean: an EPC (URN or Digital Link) as it is, a lot
        number as typed on a bag (paper 002 queries by batch number), or an SSCC."""
        text = text.strip()
        if "://" in text or text.startswith("urn:") or "batches" not in self.reads.tables:
            return [text]
        found = [str(r["id"]) for r in self.reads.rows("batches", 20, None,
                                                        {"lot": text}).items]
        # An SSCC as labels and pages print it (18 digits) is its logistic unit, unless a
        # lot has that number.
        return found or [sscc_link(text) or text]

    def _queries(self) -> Any:
        if self.features.trace is None:
            raise NotFound("trace queries are not available yet on this node")
        return self.features.trace

    def one_batch(self, text: str) -> str:
        """The one batch ``text`` means; a lot number on several products is refused with
        their ids rather than guessed (as the CLI does): a recall of the wrong product's
        lot would reach the wrong holders."""
        found = self.resolve_batch(text)
        if len(found) > 1:
            raise ValidationError(f"lot {text.strip()} is on several products; give one of: "
                                  f"{', '.join(found)}", arg="batch", batches=found)
        return found[0]

    def trace(self, batch: str, *, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        return dict(self._queries().trace(self.one_batch(batch), page=page,
                                          page_size=page_size))

    def recall(self, batch: str, *, page: int = 1, page_size: int = 50) -> dict[str, Any]:
        return dict(self._queries().recall(self.one_batch(batch), page=page,
                                           page_size=page_size))

    def proof(self, tx_id: str) -> dict[str, Any]:
        from supplyledger.node.proofs import proof_for

        if not self.node.store.has_tx(tx_id):
            raise NotFound(f"no committed transaction {tx_id}")
        return proof_for(self.node.store, tx_id)
