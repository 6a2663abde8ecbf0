"""Web accounts and sessions: who is logged in, and how their key signs without being stored.

Paper 001 Alg. 3 logs stakeholders in with id and password; Alg. 4 hands a user their key
only in encrypted form. Here:

* A password is stored only as an Argon2id hash (argon2-cffi). Logins are rate-limited per
  client address and an account locks after repeated failures (doubling lockout).
* A web user's private key is stored only sealed under their password (``keyfile.seal``:
  scrypt + AES-256-GCM); ``sealed_key`` returns exactly that (Alg. 4).
* At login the key is opened once (the password is at hand then) and re-wrapped with
  AES-256-GCM under a key derived (HKDF) from the session token. The token lives only in
  the user's cookie or bearer header; the server keeps the wrapped key in memory and only
  SHA-256(token) on disk. Each signing request unwraps, signs and drops the key.

Why not keep the password-derived key in the session? It would open the key file for the
session's whole life, so a memory dump alone would yield the key; with the wrap, a dump
needs a live token as well, and the disk holds nothing that opens a key without the
password. After a restart, logout or expiry the wrapped key is gone and the user re-enters
the password (``unlock``); reads keep working meanwhile.

An account also keeps the time zone its pages show and read times in (``time_zone``):
its own choice, else the node's (``ApiSettings.time_zone``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from supplyledger.api.errors import KeyLocked, RateLimited, Unauthenticated
from supplyledger.api.settings import ApiSettings, check_time_zone
from supplyledger.errors import AlreadyExists, KeyFileError, ValidationError
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.keyfile import KdfParams, seal, unseal
from supplyledger.store.localdb import AccountRow, LocalDB

__all__ = ["BAD_LOGIN", "Accounts", "Session"]

Clock = Callable[[], float]
BAD_LOGIN = "unknown login or wrong password"
_LOGIN = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
_MAX_CLIENTS = 10_000  # addresses remembered before those past their window are dropped


@dataclass(frozen=True, slots=True)
class Session:
    did: str
    token: str
    expires: int

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The form token of a session: derived from the secret session token, so it needs no
    storage and a page on another site cannot compute it."""
    return hmac.new(token.encode(), b"supplyledger csrf", hashlib.sha256).hexdigest()[:40]


def _wrap_key(token: str) -> AESGCM:
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"supplyledger session key wrap").derive(token.encode())
    return AESGCM(kek)


class Accounts:
    def __init__(self, db: LocalDB, settings: ApiSettings, clock: Clock = time.time) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.hasher = PasswordHasher(time_cost=settings.argon2_time_cost,
                                     memory_cost=settings.argon2_memory_kib,
                                     parallelism=settings.argon2_parallelism, type=Type.ID)
        self._dummy = self.hasher.hash(secrets.token_hex(16))
        self._wrapped: dict[str, tuple[bytes, bytes]] = {}  # token hash -> (nonce, ct)
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._enrolling: set[str] = set()

    # -- accounts -------------------------------------------------------------------------
    def check_new(self, login: str, password: str) -> None:
        """Refuse a login ``create`` would refuse (bad name, short password, name taken),
        so callers can ask before they register anything on the ledger for it."""
        if not _LOGIN.fullmatch(login):
            raise ValidationError("a login is 2-64 characters: a-z, 0-9, '.', '_' or '-'",
                                  arg="login")
        if len(password) < 8:
            raise ValidationError("a password needs at least 8 characters", arg="password")
        if self.db.account_by_login(login) is not None:
            raise AlreadyExists(f"login {login!r} is taken", login=login)

    @contextlib.contextmanager
    def reserving(self, login: str, password: str) -> Iterator[None]:
        """Hold ``login`` for one enrolment: a second enrolment of the same login while the
        first waits for the ledger is refused before it registers a participant whose key
        nobody would hold."""
        with self._lock:
            self.check_new(login, password)
            if login in self._enrolling:
                raise AlreadyExists(f"login {login!r} is being enrolled", login=login)
            self._enrolling.add(login)
        try:
            yield
        finally:
            with self._lock:
                self._enrolling.discard(login)

    def create(self, did: str, login: str, password: str, key: PrivateKey) -> None:
        """Store a login for participant ``did``: Argon2id hash + key sealed under the
        password. The plaintext key is never written."""
        self.check_new(login, password)
        params = KdfParams(n=2 ** self.settings.seal_log2_n)
        row = AccountRow(did, login, self.hasher.hash(password), seal(key, password, params),
                         int(self.clock()), 0, 0)
        if not self.db.insert_account(row):
            raise AlreadyExists(f"participant {did} or login {login!r} already has an account")

    def sealed_key(self, did: str) -> bytes:
        """Alg. 4 key retrieval: the key as stored, sealed under its owner's password."""
        acct = self.db.account(did)
        if acct is None:
            raise Unauthenticated("no account")
        return acct.sealed_key

    # -- the pages' time zone -------------------------------------------------------------
    def chosen_time_zone(self, did: str) -> str:
        """The zone ``did`` chose for its pages; "" for none (the node's applies)."""
        return self.db.time_zone(did)

    def time_zone(self, did: str) -> str:
        """The IANA zone ``did``'s pages use: the account's choice, else the node's. A
        choice this machine's zone files no longer know falls back to the node's too."""
        chosen = self.chosen_time_zone(did)
        if chosen:
            with contextlib.suppress(ValidationError):
                return check_time_zone(chosen)
        return self.settings.time_zone

    def set_time_zone(self, did: str, name: str) -> str:
        """Keep ``name`` (an IANA zone, any letter case) as ``did``'s; "" goes back to the
        node's. An unknown name is refused and nothing is kept. Returns the name kept."""
        zone = check_time_zone(name) if name.strip() else ""
        if self.db.account(did) is None:
            raise Unauthenticated("no account")
        self.db.set_time_zone(did, zone)
        return zone

    # -- login ----------------------------------------------------------------------------
    def _throttle(self, client: str) -> None:
        now = self.clock()
        window = self.settings.login_window_s
        with self._lock:
            if len(self._attempts) > _MAX_CLIENTS:  # forget clients whose window has passed
                self._attempts = {c: q for c, q in self._attempts.items()
                                  if q and q[-1] > now - window}
            q = self._attempts.setdefault(client, deque())
            while q and q[0] <= now - window:
                q.popleft()
            if len(q) >= self.settings.login_rate:
                raise RateLimited("too many login attempts; wait and try again",
                                  retry_after=max(1, int(q[0] + window - now) + 1))
            q.append(now)

    def _check_password(self, login: str, password: str) -> AccountRow:
        acct = self.db.account_by_login(login)
        now = self.clock()
        if acct is None:
            # Same cost as a real check, so timing does not reveal which logins exist.
            with contextlib.suppress(VerificationError):
                self.hasher.verify(self._dummy, password)
            raise Unauthenticated(BAD_LOGIN)
        if acct.locked_until > now:
            raise RateLimited("account locked after repeated failures",
                              retry_after=int(acct.locked_until - now) + 1)
        try:
            self.hasher.verify(acct.password_hash, password)
        except (VerificationError, InvalidHashError):
            s = self.settings
            over = acct.failures + 1 - s.lockout_after
            until = 0 if over < 0 else int(now + min(s.lockout_max_s,
                                                     s.lockout_s * 2 ** min(over, 20)))
            self.db.record_failure(acct.did, until)
            raise Unauthenticated(BAD_LOGIN) from None
        if acct.failures:
            self.db.clear_failures(acct.did)
        return acct

    def login(self, login: str, password: str, client: str) -> Session:
        self._throttle(client)
        acct = self._check_password(login, password)
        key = self._open(acct, password)
        token = secrets.token_urlsafe(32)
        now = int(self.clock())
        expires = now + self.settings.session_ttl_s
        self.db.insert_session(token_hash(token), acct.did, now, expires)
        self._keep(token, acct.did, key)
        return Session(acct.did, token, expires)

    def _open(self, acct: AccountRow, password: str) -> PrivateKey:
        try:
            return unseal(acct.sealed_key, password)
        except KeyFileError:  # hash and sealed key disagree: treat as a failed login
            raise Unauthenticated(BAD_LOGIN) from None

    def _keep(self, token: str, did: str, key: PrivateKey) -> None:
        nonce = os.urandom(12)
        ct = _wrap_key(token).encrypt(nonce, key.pkcs8_der(), did.encode())
        with self._lock:
            self._wrapped[token_hash(token)] = (nonce, ct)

    # -- sessions -------------------------------------------------------------------------
    def session(self, token: str) -> Session:
        th = token_hash(token)
        found = self.db.session(th)
        if found is None or found[1] < self.clock():
            with self._lock:
                self._wrapped.pop(th, None)
            raise Unauthenticated("not logged in or session expired")
        return Session(found[0], token, found[1])

    def signing_key(self, sess: Session) -> PrivateKey:
        with self._lock:
            wrapped = self._wrapped.get(token_hash(sess.token))
        if wrapped is None:
            raise KeyLocked("enter your password again to unlock your signing key")
        der = _wrap_key(sess.token).decrypt(wrapped[0], wrapped[1], sess.did.encode())
        return PrivateKey.from_pkcs8_der(der)

    def unlocked(self, sess: Session) -> bool:
        with self._lock:
            return token_hash(sess.token) in self._wrapped

    def unlock(self, sess: Session, password: str, client: str) -> None:
        self._throttle(client)
        acct = self.db.account(sess.did)
        if acct is None:
            raise Unauthenticated("no account")
        acct = self._check_password(acct.login, password)
        self._keep(sess.token, acct.did, self._open(acct, password))

    def logout(self, sess: Session) -> None:
        th = token_hash(sess.token)
        self.db.delete_session(th)
        with self._lock:
            self._wrapped.pop(th, None)

    # -- key rotation (``api/web/rotate.py`` drives it) ----------------------------------
    def open_key(self, sess: Session, password: str, client: str) -> PrivateKey:
        """The user's key as stored, for an action that asks for the password again (a
        key rotation): rate-limited and counted as a login attempt."""
        self._throttle(client)
        acct = self.db.account(sess.did)
        if acct is None:
            raise Unauthenticated("no account")
        acct = self._check_password(acct.login, password)
        return self._open(acct, password)

    def seal_key(self, key: PrivateKey, password: str) -> bytes:
        """``key`` sealed as this node seals account keys."""
        return seal(key, password, KdfParams(n=2 ** self.settings.seal_log2_n))

    def replace_key(self, sess: Session, sealed: bytes, key: PrivateKey) -> None:
        """Store the user's rotated key (``sealed`` under the same password). Every other
        session ends: the key it holds wrapped signs nothing any more; this one signs with
        the new key."""
        acct = self.db.account(sess.did)
        if acct is None:
            raise Unauthenticated("no account")
        self.db.update_credentials(acct.did, acct.password_hash, sealed)
        self.db.delete_sessions_of(acct.did)
        self.db.insert_session(token_hash(sess.token), acct.did, int(self.clock()),
                               sess.expires)
        self._keep(sess.token, acct.did, key)

    def change_password(self, sess: Session, old: str, new: str, client: str) -> None:
        """Re-seal the key under the new password; every other session of the user ends."""
        self._throttle(client)
        acct = self.db.account(sess.did)
        if acct is None:
            raise Unauthenticated("no account")
        acct = self._check_password(acct.login, old)
        key = self._open(acct, old)
        if len(new) < 8:
            raise ValidationError("a password needs at least 8 characters", arg="new_password")
        params = KdfParams(n=2 ** self.settings.seal_log2_n)
        self.db.update_credentials(acct.did, self.hasher.hash(new), seal(key, new, params))
        self.db.delete_sessions_of(acct.did)
        now = int(self.clock())
        # Other sessions' rows are gone, so their tokens fail ``session`` (which also drops
        # their wrapped keys); this one continues.
        self.db.insert_session(token_hash(sess.token), acct.did, now, sess.expires)
