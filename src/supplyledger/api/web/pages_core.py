"""Pages: login, logout, unlock, account (with balances, withdrawals and key rotation),
dashboard."""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from supplyledger.api.accounts import BAD_LOGIN
from supplyledger.api.auth import (
    COOKIE,
    check_csrf,
    client_of,
    current,
    optional,
    service_of,
    set_session_cookie,
)
from supplyledger.api.errors import CsrfFailed, RateLimited, Unauthenticated
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.settings import time_zones
from supplyledger.api.web import charts, zones
from supplyledger.api.web.forms import Refusal, refusal
from supplyledger.api.web.money import money_context
from supplyledger.api.web.names import org_names
from supplyledger.api.web.once import PENDING
from supplyledger.api.web.render import page
from supplyledger.api.web.rotate import rotate_account_key
from supplyledger.errors import SupplyLedgerError, ValidationError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "sl_login_csrf"
# The account page's forms, by their ``action``: what a wrong password left undone.
_WRONG = {"password": "Your current password is not right: the password was not changed.",
          "rotate": "Wrong password: your key was not rotated.",
          "": "Wrong password: your signing key stays locked."}
# The password field each form's wrong password is about.
_PASSWORD_INPUT = {"password": "old_password", "rotate": "password", "unlock": "password"}
Text = Annotated[str, Form(max_length=1024)]


def _safe_next(target: str | None) -> str:
    """Only same-site paths: ``//evil.example`` and ``https://…`` become ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    if optional(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = secrets.token_urlsafe(16)
    resp = page(request, "login.html", title="Log in", next=_safe_next(next), login_csrf=token)
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login",
                    secure=service_of(request).settings.cookie_secure)
    return resp


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, login: Text, password: Text, csrf: Text = "",
          next: Text = "/") -> Response:
    svc = service_of(request)
    # Logins and participant ids are lower case: a phone's keyboard capitalises the first
    # letter and its word suggestion adds a space ("Customer ").
    login = login.strip().lower()
    expected = request.cookies.get(LOGIN_CSRF, "")
    error = None
    if not expected or not hmac.compare_digest(expected, csrf):
        error = "Your login form expired; please try again."
    else:
        try:
            sess = svc.login(login, password, client_of(request))
        except (Unauthenticated, RateLimited) as exc:
            error = exc.message
    if error is not None:
        token = secrets.token_urlsafe(16)
        again = page(request, "login.html", status=401, title="Log in",
                     next=_safe_next(next), login_csrf=token, error=error, login_value=login)
        again.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login",
                         secure=svc.settings.cookie_secure)
        return again
    resp = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(resp, sess, max_age=svc.settings.session_ttl_s,
                       secure=svc.settings.cookie_secure)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = current(request)
    check_csrf(who, request, dict(await request.form()))
    service_of(request).accounts.logout(who.session)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _account_page(request: Request, who: Principal, status: int = 200,
                  **ctx: Any) -> Response:
    svc = service_of(request)
    sealed = svc.accounts.sealed_key(who.did)
    ctx.setdefault("zone_typed", svc.accounts.chosen_time_zone(who.did))
    return page(request, "account.html", status=status, title="Your account", private=True,
                key_b64=base64.b64encode(sealed).decode(), zone_names=time_zones(),
                node_zone=svc.settings.time_zone,
                org_name=org_names(svc, [who.org]).get(who.org) if who.org else None, **ctx,
                **money_context(svc, who))


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    return _account_page(request, current(request))


@router.post("/account", response_class=HTMLResponse)
async def account_post(request: Request) -> Response:
    """Unlock the signing key again, change the password (the key is re-sealed), rotate
    the key, or choose the time zone of one's pages. A refusal is also shown beside the
    field at fault (in the form sent); passwords typed are never sent back."""
    who = current(request)
    form = await request.form()
    svc = service_of(request)
    msg, err = None, None
    action = str(form.get("action", ""))
    action = action if action in ("rotate", "password", "time_zone") else "unlock"
    refused: Refusal | None = None
    try:
        check_csrf(who, request, dict(form))
        if action == "rotate":
            msg = _rotate(request, who, form)
        elif action == "password":
            svc.accounts.change_password(who.session, str(form.get("old_password", "")),
                                         str(form.get("new_password", "")),
                                         client_of(request))
            msg = "Password changed; your key is now sealed under the new password."
        elif action == "time_zone":
            msg = _choose_zone(svc, who, str(form.get("time_zone", "")))
        else:
            svc.accounts.unlock(who.session, str(form.get("password", "")), client_of(request))
            msg = "Signing key unlocked for this session."
    except CsrfFailed:
        raise
    except Unauthenticated as exc:
        # The accounts' word is the login form's ("unknown login or wrong password"):
        # here the user is logged in, and only the password typed can be wrong.
        err = exc.message
        if exc.message == BAD_LOGIN:
            err = _WRONG.get(action, _WRONG[""])
            refused = Refusal(_PASSWORD_INPUT[action], err, action)
    except SupplyLedgerError as exc:
        err = exc.message
        refused = refusal(exc, action)
    typed = {"zone_typed": str(form.get("time_zone", ""))} if (
        refused is not None and refused.form == "time_zone") else {}
    return _account_page(request, who, 200 if err is None else 400, message=msg, error=err,
                         refused=refused, **typed,
                         # (ticked again only for a refused form: a done rotation's is new)
                         confirmed=err is not None and form.get("confirm") == "yes")


def _choose_zone(svc: LedgerService, who: Principal, name: str) -> str:
    """Keep the time zone ``who`` chose ("" for the node's); this page, too, is then
    shown in it."""
    kept = svc.accounts.set_time_zone(who.did, name)
    zones.keep(kept or svc.settings.time_zone)
    if kept:
        return f"Your pages now show times in {kept}, and your forms read them in it."
    return (f"Your pages now show times in this node's time zone, "
            f"{svc.settings.time_zone}.")


def _rotate(request: Request, who: Principal, form: FormData) -> str:
    """"Rotate my key", once per rendered form (a reload must not rotate twice)."""
    if form.get("confirm") != "yes":
        raise ValidationError("tick the box to confirm that you want a new key",
                              arg="confirm")
    once = request.app.state.once
    token = str(form.get("once", ""))
    fresh, earlier = once.claim(who.did, token)
    if not fresh:
        return ("This rotation was already sent." if earlier is PENDING
                else str(earlier.get("message")))
    try:
        done = rotate_account_key(service_of(request), who,
                                  str(form.get("password", "")), client_of(request))
    except BaseException:
        once.settle(who.did, token, None)  # (a lost answer is finished by rotating again)
        raise
    msg = (f"Key rotated: your new key is registered on the ledger and sealed under your "
           f"password; {len(done.rewrapped)} private record(s) re-wrapped for it.")
    if done.unreadable:
        msg += (f" {len(done.unreadable)} record(s) hold a data key for a key you no "
                "longer have and stay unreadable to you.")
    once.settle(who.did, token, {"message": msg})
    return msg


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    current(request)
    svc = service_of(request)
    figs = request.app.state.dashboard.figures(svc.node.height)
    return page(request, "dashboard.html", title="Dashboard", figs=figs,
                per_day=charts.columns(figs["per_day"], title="Transactions per UTC day"),
                by_step=charts.bars(figs["by_step"], title="Trace events by business step"),
                by_contract=charts.bars(figs["by_contract"], title="Transactions by contract"),
                failures=charts.bars(figs["failures"], title="Refused calls by error code",
                                     colour="bar bad"),
                orders=charts.bars(figs["orders"], title="Orders by status"),
                audit=svc.last_audit)
