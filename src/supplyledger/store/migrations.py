"""Recorded schema migrations for the core tables. Append only: never edit a shipped step.

Projection tables are not migrated: they are derived data, dropped and rebuilt from blocks
whenever their declared schema changes (see ``SQLiteStore.ensure_projections``).
"""

from __future__ import annotations

__all__ = ["LOCAL_TABLES", "MIGRATIONS"]

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "core ledger tables",
        """
        CREATE TABLE blocks (
            height INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            header BLOB NOT NULL,
            signature BLOB NOT NULL,
            time INTEGER NOT NULL
        );
        CREATE TABLE txs (
            pos INTEGER PRIMARY KEY,  -- height * 2**20 + idx: block order is rowid order
            id TEXT NOT NULL UNIQUE,
            height INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            raw BLOB NOT NULL,
            signer TEXT NOT NULL,
            contract TEXT NOT NULL,
            method TEXT NOT NULL,
            ok INTEGER NOT NULL,
            receipt BLOB NOT NULL
        );
        CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE projection_schema (name TEXT PRIMARY KEY, hash TEXT NOT NULL);
        """,
    ),
    (
        2,
        "local tables: settings and sessions (not ledger data)",
        """
        CREATE TABLE local_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE local_sessions (
            token_hash TEXT PRIMARY KEY,
            did TEXT NOT NULL,
            created INTEGER NOT NULL,
            expires INTEGER NOT NULL
        );
        """,
    ),
    (
        3,
        "local table: web accounts (Argon2id hash, password-sealed key, lockout)",
        """
        CREATE TABLE local_accounts (
            did TEXT PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            sealed_key BLOB NOT NULL,
            created INTEGER NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            locked_until INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        4,
        "local table: single-use web form tokens (claims and outcomes, with expiry)",
        """
        CREATE TABLE local_form_tokens (
            who TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            outcome TEXT,
            expires INTEGER NOT NULL,
            PRIMARY KEY (who, token_hash)
        ) WITHOUT ROWID;
        CREATE INDEX local_form_tokens_expires ON local_form_tokens (expires);
        """,
    ),
    (
        5,
        "transaction ids indexed by their first 12 hex digits (store/tx_ids.py)",
        """
        ALTER TABLE txs RENAME TO txs_v1;
        CREATE TABLE txs (
            pos INTEGER PRIMARY KEY,  -- height * 2**20 + idx: block order is rowid order
            id TEXT NOT NULL,
            height INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            raw BLOB NOT NULL,
            signer TEXT NOT NULL,
            contract TEXT NOT NULL,
            method TEXT NOT NULL,
            ok INTEGER NOT NULL,
            receipt BLOB NOT NULL
        );
        INSERT INTO txs SELECT * FROM txs_v1 ORDER BY pos;
        DROP TABLE txs_v1;
        CREATE INDEX txs_id_prefix ON txs (substr(id, 1, 12));
        """,
    ),
]

# Tables the audit does not cover, each with its reason (they hold no ledger data).
LOCAL_TABLES: dict[str, str] = {
    "schema_migrations": "records which schema steps ran on this node; local bookkeeping",
    "projection_schema": "records the schema hash of each projection table; local bookkeeping",
    "local_settings": "node-local settings (such as each web login's time zone for the "
                      "pages), not ledger data",
    "local_sessions": "login sessions of this node's web users, not ledger data",
    "local_accounts": "web logins of this node: Argon2id password hashes and keys sealed "
                      "under each owner's password; credentials, not ledger data",
    "local_form_tokens": "single-use tokens of this node's web forms (a resent form is not "
                         "signed twice); local bookkeeping, not ledger data",
}
