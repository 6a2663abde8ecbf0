"""This node's local tables for the web edge: ``local_accounts``, ``local_sessions``,
``local_form_tokens`` (see ``api/web/once.py``) and, in ``local_settings``, each web
account's time zone for the pages (key ``time_zone:<did>``; none: the node's). A setting
row rather than a column of ``local_accounts``: a ledger of an earlier release has that
table as its release made it, and the audit (before a node opens it) and ``repair`` find
nothing to object to.

They hold credentials and settings, not ledger data (listed with that reason in
``store.migrations.LOCAL_TABLES``, so the audit reports them as uncovered rather than
foreign). The store's writer connection belongs to the block committer; these rare writes
(a login, a logout) go through a connection of their own and SQLite's WAL lock serialises
them with block commits. A write that fails (a full disk, a database file made read-only)
raises :class:`StoreError` saying so, rather than SQLite's bare exception (an HTTP 500 with
a traceback), and logs it once: the operator, not the user, has to act on it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from supplyledger.errors import StoreError

__all__ = ["AccountRow", "LocalDB"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountRow:
    did: str
    login: str
    password_hash: str
    sealed_key: bytes
    created: int
    failures: int
    locked_until: int


_ACCOUNT_COLS = "did, login, password_hash, sealed_key, created, failures, locked_until"


class LocalDB:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                     timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _writing(self, table: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, for a write to ``table``."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:  # (an IntegrityError is the caller's)
                err = StoreError(f"writing this node's {table} failed: {exc} (free disk "
                                 "space, or make the ledger's files writable by the node's "
                                 "user)")
                _log.warning("%s", err.message)
                raise err from exc

    # -- accounts -------------------------------------------------------------------------
    def _account(self, where: str, value: str) -> AccountRow | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_ACCOUNT_COLS} FROM local_accounts WHERE {where}=?",
                (value,)).fetchone()
        if row is None:
            return None
        return AccountRow(row[0], row[1], row[2], bytes(row[3]), row[4], row[5], row[6])

    def account_by_login(self, login: str) -> AccountRow | None:
        """``login`` is the short login name or the participant id itself."""
        return self._account("login", login) or self._account("did", login)

    def account(self, did: str) -> AccountRow | None:
        return self._account("did", did)

    def accounts(self, after: str | None = None, limit: int = 50) -> list[tuple[str, str]]:
        """One page of (did, login), by login: the ``limit`` logins after ``after``. A node
        may hold thousands of customer logins, so nobody reads them all at once."""
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute(
                "SELECT did, login FROM local_accounts WHERE login > ? ORDER BY login "
                "LIMIT ?", ("" if after is None else after, limit))]

    def logins_of(self, dids: list[str]) -> dict[str, str]:
        """did -> login for those of ``dids`` that have a web account (one page's worth)."""
        if not dids:
            return {}
        marks = ",".join("?" * len(dids))
        with self._lock:
            return {r[0]: r[1] for r in self._conn.execute(
                f"SELECT did, login FROM local_accounts WHERE did IN ({marks})", dids)}

    def insert_account(self, row: AccountRow) -> bool:
        """False when the participant or the login name already has an account."""
        try:
            with self._writing("web logins (local_accounts)") as conn:
                conn.execute(
                    f"INSERT INTO local_accounts ({_ACCOUNT_COLS}) VALUES (?,?,?,?,?,?,?)",
                    (row.did, row.login, row.password_hash, row.sealed_key, row.created,
                     row.failures, row.locked_until))
        except sqlite3.IntegrityError:
            return False
        return True

    def update_credentials(self, did: str, password_hash: str, sealed_key: bytes) -> None:
        with self._writing("web logins (local_accounts)") as conn:
            conn.execute("UPDATE local_accounts SET password_hash=?, sealed_key=? "
                         "WHERE did=?", (password_hash, sealed_key, did))

    def record_failure(self, did: str, locked_until: int) -> None:
        with self._writing("web logins (local_accounts)") as conn:
            conn.execute("UPDATE local_accounts SET failures=failures+1, "
                         "locked_until=? WHERE did=?", (locked_until, did))

    def clear_failures(self, did: str) -> None:
        with self._writing("web logins (local_accounts)") as conn:
            conn.execute("UPDATE local_accounts SET failures=0, locked_until=0 "
                         "WHERE did=?", (did,))

    # -- each account's time zone ---------------------------------------------------------
    def time_zone(self, did: str) -> str:
        """The zone ``did`` chose for its pages; "" for none."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM local_settings WHERE key=?",
                                     (f"time_zone:{did}",)).fetchone()
        return "" if row is None else str(row[0])

    def set_time_zone(self, did: str, zone: str) -> None:
        """Keep ``zone`` as ``did``'s; "" forgets its choice."""
        with self._writing("web settings (local_settings)") as conn:
            if zone:
                conn.execute("INSERT INTO local_settings (key, value) VALUES (?,?) ON "
                             "CONFLICT (key) DO UPDATE SET value=excluded.value",
                             (f"time_zone:{did}", zone))
            else:
                conn.execute("DELETE FROM local_settings WHERE key=?", (f"time_zone:{did}",))

    # -- sessions -------------------------------------------------------------------------
    def insert_session(self, token_hash: str, did: str, created: int, expires: int) -> None:
        with self._writing("login sessions (local_sessions)") as conn:
            conn.execute("INSERT INTO local_sessions VALUES (?,?,?,?)",
                         (token_hash, did, created, expires))

    def session(self, token_hash: str) -> tuple[str, int] | None:
        """(did, expires) of a stored session."""
        with self._lock:
            row = self._conn.execute("SELECT did, expires FROM local_sessions "
                                     "WHERE token_hash=?", (token_hash,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def delete_session(self, token_hash: str) -> None:
        with self._writing("login sessions (local_sessions)") as conn:
            conn.execute("DELETE FROM local_sessions WHERE token_hash=?", (token_hash,))

    def delete_sessions_of(self, did: str) -> None:
        with self._writing("login sessions (local_sessions)") as conn:
            conn.execute("DELETE FROM local_sessions WHERE did=?", (did,))

    def purge_sessions(self, now_s: int) -> None:
        with self._writing("login sessions (local_sessions)") as conn:
            conn.execute("DELETE FROM local_sessions WHERE expires<?", (now_s,))

    # -- single-use form tokens -----------------------------------------------------------
    def claim_form_token(self, who: str, token_hash: str, now_s: int,
                         expires: int) -> tuple[bool, str | None] | None:
        """Take a token: (True, None) when this call took it; (False, the stored outcome,
        None while the first submission runs) when it was taken before; None when it was
        released between the two statements. One ``INSERT ... ON CONFLICT DO NOTHING``
        decides, so of two claims, in one process or two, exactly one takes it."""
        with self._writing("form tokens (local_form_tokens)") as conn:
            conn.execute("DELETE FROM local_form_tokens WHERE expires<?", (now_s,))
            cur = conn.execute(
                "INSERT INTO local_form_tokens (who, token_hash, outcome, expires) "
                "VALUES (?,?,NULL,?) ON CONFLICT DO NOTHING", (who, token_hash, expires))
            if cur.rowcount == 1:
                return True, None
            row = conn.execute("SELECT outcome FROM local_form_tokens WHERE who=? "
                               "AND token_hash=?", (who, token_hash)).fetchone()
        return None if row is None else (False, row[0])

    def settle_form_token(self, who: str, token_hash: str, outcome: str | None) -> None:
        """Store a claimed token's outcome (JSON); ``None`` releases an unsettled claim."""
        with self._writing("form tokens (local_form_tokens)") as conn:
            if outcome is None:
                conn.execute("DELETE FROM local_form_tokens WHERE who=? AND "
                             "token_hash=? AND outcome IS NULL", (who, token_hash))
            else:
                conn.execute("UPDATE local_form_tokens SET outcome=? WHERE who=? AND "
                             "token_hash=?", (outcome, who, token_hash))
