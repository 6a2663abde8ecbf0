"""``/api/auth`` and ``/api/accounts``: logins, bearer tokens, keys and web accounts."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from supplyledger.api import schemas as s
from supplyledger.api.auth import (
    COOKIE,
    client_of,
    current,
    service_of,
    set_session_cookie,
    writer,
)
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import (
    Cursor,
    Limit,
    StrictJsonRoute,
    declared_query,
    receipt_response,
)
from supplyledger.api.service import Principal
from supplyledger.errors import RoleDenied
from supplyledger.store.listings import decode_cursor, encode_cursor

__all__ = ["router"]

router = APIRouter(tags=["auth"], dependencies=[Depends(declared_query)],
                   route_class=StrictJsonRoute)

_LOGIN = Field(min_length=1, max_length=200, description="login name or participant id")
_PW = Field(min_length=1, max_length=1024)


class LoginIn(BaseModel):
    login: str = _LOGIN
    password: str = _PW


class UnlockIn(BaseModel):
    password: str = _PW


class PasswordIn(BaseModel):
    old_password: str = _PW
    new_password: str = Field(min_length=8, max_length=1024)


class ImportIn(BaseModel):
    login: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]+$")
    password: str = _PW
    key_file: str = Field(min_length=1, max_length=16384,
                          description="the sealed key file's JSON text")


class EnrolIn(BaseModel):
    org: str = Field(min_length=2, max_length=63)
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, max_length=16)
    login: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=1024)


def _me(who: Principal, unlocked: bool) -> dict[str, Any]:
    return {"did": who.did, "name": who.name, "org": who.org, "roles": sorted(who.roles),
            "key_unlocked": unlocked, "expires": who.session.expires}


@router.post("/api/auth/login", summary="Log in; sets the session cookie for the web UI",
             response_model=None, responses=answer(s.LoginAnswer, "Logged in", 401, 429))
def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
    svc = service_of(request)
    sess = svc.login(body.login, body.password, client_of(request))
    set_session_cookie(response, sess, max_age=svc.settings.session_ttl_s,
                       secure=svc.settings.cookie_secure)
    return {"did": sess.did, "csrf": sess.csrf, "expires": sess.expires}


@router.post("/api/auth/token", summary="Log in a program; returns a bearer token",
             response_model=None, responses=answer(s.TokenAnswer, "The token", 401, 429))
def token(body: LoginIn, request: Request) -> dict[str, Any]:
    sess = service_of(request).login(body.login, body.password, client_of(request))
    return {"token": sess.token, "token_type": "bearer", "did": sess.did,
            "expires": sess.expires}


@router.post("/api/auth/logout", summary="End this session (cookie or bearer token)",
             response_model=None, responses=answer(s.Ok, "Logged out"))
def logout(request: Request, response: Response,
           who: Principal = Depends(writer)) -> dict[str, Any]:
    service_of(request).accounts.logout(who.session)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/api/auth/me", summary="The logged-in participant", response_model=None,
            responses=answer(s.Me, "Who is logged in"))
def me(request: Request, who: Principal = Depends(current)) -> dict[str, Any]:
    return _me(who, service_of(request).accounts.unlocked(who.session))


@router.post("/api/auth/unlock",
             summary="Re-enter the password to unlock signing (after a server restart)",
             response_model=None, responses=answer(s.Me, "Unlocked", 429))
def unlock(body: UnlockIn, request: Request,
           who: Principal = Depends(writer)) -> dict[str, Any]:
    svc = service_of(request)
    svc.accounts.unlock(who.session, body.password, client_of(request))
    return _me(who, True)


@router.post("/api/auth/password", summary="Change password; the key is re-sealed under it",
             response_model=None, responses=answer(s.Ok, "Changed", 429))
def change_password(body: PasswordIn, request: Request,
                    who: Principal = Depends(writer)) -> dict[str, Any]:
    service_of(request).accounts.change_password(who.session, body.old_password,
                                                 body.new_password, client_of(request))
    return {"ok": True}


@router.get("/api/auth/key",
            summary="Key retrieval (paper 001 Alg. 4): the key sealed under your password",
            response_model=None, responses=answer(s.SealedKey, "The sealed key file"))
def sealed_key(request: Request, who: Principal = Depends(current)) -> dict[str, Any]:
    sealed = service_of(request).accounts.sealed_key(who.did)
    return {"did": who.did, "format": "supplyledger-key/1",
            "key_file_b64": base64.b64encode(sealed).decode()}


@router.post("/api/accounts/import",
             summary="Web login for the holder of a registered key file and its password",
             response_model=None, responses=answer(s.Imported, "The new login",
                                                   401, 403, 409, 429))
def import_account(body: ImportIn, request: Request) -> dict[str, Any]:
    did = service_of(request).import_account(body.key_file.encode(), body.password,
                                              body.login, client_of(request))
    return {"did": did, "login": body.login}


@router.get("/api/accounts", summary="Web accounts on this node (admins)",
            response_model=None, responses=answer(s.AccountPage, "A page of accounts", 403))
def accounts(request: Request, limit: Limit = None, cursor: Cursor = None,
             who: Principal = Depends(current)) -> dict[str, Any]:
    if not who.has("admin"):
        raise RoleDenied("listing accounts needs the admin role", required=["admin"],
                         held=sorted(who.roles))
    svc = service_of(request)
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    n = limit or svc.settings.page_default
    # Keyset pages by login (unique, the list's order); one more row says whether more follow.
    rows = svc.localdb.accounts(after, n + 1)
    return {"items": [{"did": d, "login": name} for d, name in rows[:n]],
            "next_cursor": encode_cursor([rows[n - 1][1]]) if len(rows) > n else None}


@router.post("/api/accounts", summary="Enrol a member with a new key and a web login (admins)",
             response_model=None, responses=answer(s.CallAnswer, "Registered: the receipt",
                                                   404, 409, 503))
def enrol(body: EnrolIn, request: Request, response: Response,
          who: Principal = Depends(writer)) -> Any:
    receipt = service_of(request).register_member(
        who, org=body.org, name=body.name, roles=body.roles, login=body.login,
        password=body.password)
    return receipt_response(receipt, response)
