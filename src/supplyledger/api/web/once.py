"""Single-use tokens for the plain (non-htmx) forms that sign a transaction.

A browser that reloads the page a POST returned, or goes back to it, sends the same POST
again; without a guard that signs a second transaction (a second event, a second shared
record). Each rendered form carries a fresh random token; the first POST with it claims it
and stores its outcome, and any later POST with the same token gets that outcome back
instead of signing anything. A submission refused before signing releases its token, so
correcting the form and sending it again works. Forms without a token (programs, tests)
are not guarded. Tokens live in memory, a bounded number of them: a restarted server
forgets them, and so do very old pages.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Any

__all__ = ["PENDING", "Once"]

PENDING = object()  # claimed, the first submission is still running


class Once:
    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], Any] = OrderedDict()

    @staticmethod
    def issue() -> str:
        return secrets.token_urlsafe(16)

    def claim(self, who: str, token: str) -> tuple[bool, Any]:
        """(True, None) when ``token`` is new (it is now taken), else (False, the first
        submission's outcome, or ``PENDING``)."""
        if not token:
            return True, None
        key = (who, token)
        with self._lock:
            if key in self._seen:
                return False, self._seen[key]
            self._seen[key] = PENDING
            while len(self._seen) > self.limit:
                self._seen.popitem(last=False)
        return True, None

    def settle(self, who: str, token: str, outcome: Any) -> None:
        """Record the outcome of the submission that claimed ``token``; ``None`` releases
        it (nothing was signed)."""
        if not token:
            return
        with self._lock:
            if outcome is None:
                self._seen.pop((who, token), None)
            else:
                self._seen[(who, token)] = outcome
