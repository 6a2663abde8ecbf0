"""Web settings: one frozen object built at the edge (``serve``, ``demo``, tests), passed down.

Nothing here is a secret: session tokens are random per login, and passwords never have a
default. The costs of password hashing are settings so tests can use cheap ones while a
served node keeps the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiSettings"]


@dataclass(frozen=True, slots=True)
class ApiSettings:
    # Sessions: a browser session and a program's bearer token last this long.
    session_ttl_s: int = 8 * 3600
    # Set when served behind TLS: the session cookie then carries ``Secure``.
    cookie_secure: bool = False
    # Password attacks: per client address at most ``login_rate`` attempts per
    # ``login_window_s``; per account, ``lockout_after`` consecutive failures lock it for
    # ``lockout_s`` (doubling with each further failure, up to ``lockout_max_s``).
    login_rate: int = 10
    login_window_s: int = 60
    lockout_after: int = 5
    lockout_s: int = 60
    lockout_max_s: int = 3600
    # Argon2id cost for password hashes: OWASP's minimum profile (19 MiB, 2 passes, one
    # lane), about 0.2 s per check on the project's 2-core machines. The login also opens
    # the scrypt-sealed key, so a login costs well under a second.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    # scrypt cost exponent for sealing keys under their owner's password (2**15 ~ 0.1 s).
    seal_log2_n: int = 15
    # Request bodies above this many bytes are refused with 413 before they are read whole.
    max_body_bytes: int = 256 * 1024
    # Pagination of every list.
    page_default: int = 50
    page_max: int = 500
    # How long a submitting request waits for its block to commit.
    commit_timeout_s: float = 30.0
    # Server-sent events: a comment line this often keeps proxies from closing the stream.
    sse_heartbeat_s: float = 15.0
