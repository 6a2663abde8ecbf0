"""Single-use tokens for the plain (non-htmx) forms that sign a transaction.

A browser that reloads the page a POST returned, or goes back to it, sends the same POST
again; without a guard that signs a second transaction (a second event, a second shared
record). Each rendered form carries a fresh random token; the first POST with it claims it
and stores its outcome, and any later POST with the same token gets that outcome back
instead of signing anything. A submission refused before signing releases its token, so
correcting the form and sending it again works. Forms without a token (programs, tests)
are not guarded.

Design decisions:

* Claims live in the node's local SQLite table ``local_form_tokens`` (not ledger data:
  listed in ``store.migrations.LOCAL_TABLES``, so the audit reports it as uncovered), so a
  restarted server still knows which forms were sent. Issuing writes nothing (a page view
  stays a read); a token is recorded when first claimed.
* The claim is one ``INSERT ... ON CONFLICT DO NOTHING`` on the primary key (who, token
  hash), checked by its rowcount: of two concurrent POSTs, in one process or two, exactly
  one inserts. Tokens are stored hashed (SHA-256) like session tokens.
* A claim expires ``ttl_s`` after it was made (default 24 h; a page older than that signs
  again, as a new form would); expired rows are purged on the next claim. A claim whose
  submission was cut off by a crash stays "still being processed" until then: whether it
  was signed is unknown, so refusing to sign it again is the safe answer.
* Outcomes are stored as JSON (a receipt dict, or a message).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supplyledger.store.localdb import LocalDB

__all__ = ["PENDING", "Once"]

PENDING = object()  # claimed, the first submission is still running (or was cut off)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Once:
    def __init__(self, path: Path, *, ttl_s: int = 24 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._db = LocalDB(path)

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def issue() -> str:
        return secrets.token_urlsafe(16)

    def claim(self, who: str, token: str) -> tuple[bool, Any]:
        """(True, None) when ``token`` is new (it is now taken), else (False, the first
        submission's outcome, or ``PENDING``)."""
        if not token:
            return True, None
        now = int(self.clock())
        taken = self._db.claim_form_token(who, _hash(token), now, now + self.ttl_s)
        if taken is None:  # released in between: the other submission signed nothing
            return self.claim(who, token)
        fresh, outcome = taken
        if fresh:
            return True, None
        return False, PENDING if outcome is None else json.loads(outcome)

    def settle(self, who: str, token: str, outcome: Any) -> None:
        """Record the outcome of the submission that claimed ``token``; ``None`` releases
        it (nothing was signed)."""
        if token:
            self._db.settle_form_token(who, _hash(token), None if outcome is None
                                       else json.dumps(outcome, default=str))
