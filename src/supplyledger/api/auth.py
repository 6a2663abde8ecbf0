"""Who is calling: session cookie (browsers) or bearer token (programs), and CSRF.

A browser carries its session token in an HttpOnly, SameSite=Strict cookie; every
state-changing request authenticated by that cookie must also carry the session's CSRF
token (form field ``csrf`` or header ``X-CSRF-Token``), which only pages of this site can
read. A program sends ``Authorization: Bearer <token>``, which a browser never attaches on
its own, so bearer requests need no CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from supplyledger.api.accounts import Session
from supplyledger.api.errors import CsrfFailed, Unauthenticated
from supplyledger.api.service import LedgerService, Principal

__all__ = [
    "COOKIE",
    "check_csrf",
    "client_of",
    "current",
    "optional",
    "service_of",
    "set_session_cookie",
    "writer",
]

COOKIE = "sl_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Declared on ``current`` and ``writer`` so the OpenAPI document names both ways to log in
# on every operation that needs one; ``optional`` reads the credentials itself.
_BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="token from POST /api/auth/token")
_SESSION = APIKeyCookie(name=COOKIE, auto_error=False, scheme_name="session",
                        description="web session from POST /api/auth/login; writes also "
                                    "send its csrf value as X-CSRF-Token")
Bearer = HTTPAuthorizationCredentials | None


def service_of(request: Request) -> LedgerService:
    svc: LedgerService = request.app.state.service
    return svc


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token(request: Request) -> tuple[str, bool] | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else None


def optional(request: Request) -> Principal | None:
    """The caller, or None when no (valid) credentials came with the request."""
    cached: Principal | bool | None = getattr(request.state, "principal", False)
    if cached is not False:
        return cached if isinstance(cached, Principal) else None
    found = _token(request)
    who: Principal | None = None
    if found is not None and found[0]:
        svc = service_of(request)
        try:
            who = svc.principal(svc.accounts.session(found[0]), via_cookie=found[1])
        except Unauthenticated:
            who = None
    request.state.principal = who
    return who


def current(request: Request, _bearer: Bearer = Security(_BEARER),
            _session: str | None = Security(_SESSION)) -> Principal:
    who = optional(request)
    if who is None:
        raise Unauthenticated("log in first (session cookie or bearer token)")
    return who


def check_csrf(who: Principal, request: Request, form: Mapping[str, Any] | None = None) -> None:
    """Cookie-authenticated writes must prove they come from one of our pages."""
    if not who.via_cookie or request.method in _SAFE:
        return
    sent = request.headers.get(CSRF_HEADER) or (form or {}).get("csrf") or ""
    if not isinstance(sent, str) or not hmac.compare_digest(sent, who.session.csrf):
        raise CsrfFailed("missing or wrong CSRF token; reload the page and try again")


def writer(request: Request, _bearer: Bearer = Security(_BEARER),
           _session: str | None = Security(_SESSION)) -> Principal:
    """Dependency for JSON writes: authenticated, and CSRF-checked when cookie-borne."""
    who = current(request)
    check_csrf(who, request)
    return who


def set_session_cookie(response: Response, sess: Session, *, max_age: int,
                       secure: bool) -> None:
    response.set_cookie(COOKIE, sess.token, max_age=max_age, httponly=True,
                        samesite="strict", secure=secure, path="/")
