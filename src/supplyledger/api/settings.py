"""Web settings: one frozen object built at the edge (``serve``, ``demo``, tests), passed down.

Nothing here is a secret: session tokens are random per login, and passwords never have a
default. The costs of password hashing are settings so tests can use cheap ones while a
served node keeps the defaults.

``time_zone`` is the zone the web pages show and read times in for an account that chose
none (``supplyledger serve --time-zone``); each account may choose its own on its Account
page. Zones are IANA names (``Asia/Shanghai``), known from the system's zone files or, on
a machine without them, the ``tzdata`` package (``zoneinfo`` falls back to it).
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass

from supplyledger.errors import ValidationError

__all__ = ["ApiSettings", "check_time_zone", "time_zones"]

# Names among the zone files that are no place's zone: the machine's own ("localtime",
# whatever the host happens to be set to), a build artefact and an old compatibility link.
_NOT_ZONES = frozenset(("localtime", "Factory", "posixrules"))


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA zone names a user may choose, sorted (read once: it scans the zone files)."""
    return tuple(sorted(zoneinfo.available_timezones() - _NOT_ZONES))


@functools.cache
def _by_lower() -> dict[str, str]:
    return {z.lower(): z for z in time_zones()}


def check_time_zone(name: str, arg: str = "time_zone") -> str:
    """``name`` as its IANA zone spells it ("asia/shanghai" is "Asia/Shanghai"); an unknown
    name is refused, naming ``arg``."""
    found = _by_lower().get(name.strip().lower())
    if found is None:
        said = name.strip()
        said = said if len(said) <= 64 else said[:64] + "…"
        raise ValidationError(f"{said!r} is not a time zone this node knows: choose "
                              "one of the list, e.g. Asia/Shanghai or Europe/Amsterdam",
                              arg=arg)
    return found


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
    # The web pages' time zone for accounts that chose none (an IANA name).
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        # Refused where the settings are made (``serve --time-zone``), not at a page view.
        object.__setattr__(self, "time_zone", check_time_zone(self.time_zone, "time_zone"))
