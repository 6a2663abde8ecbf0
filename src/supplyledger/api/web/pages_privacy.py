"""Page: customer data sharing (paper 001 Alg. 1, done right).

A customer encrypts personal data (a delivery address, a phone number) for the parties
that need it; the ciphertext stays off the ledger, the ledger records a commitment and the
recipient list. Authors grant, revoke and erase; recipients see the decrypted data here,
which the server decrypts with the recipient's own key unwrapped for this one request.
Everyone else gets an access error. Uses the private-data service when the node has it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.errors import status_for
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.render import page
from supplyledger.errors import NotFound, SupplyLedgerError, ValidationError
from supplyledger.ledger.crypto import PublicKey

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MAX_DATA = 4096


def _records(svc: LedgerService, who: Principal) -> tuple[list[Any], list[Any]]:
    if "private_records" not in svc.reads.tables:
        return [], []
    mine = svc.reads.rows("private_records", 100, None, {"author": who.did}).items
    shared = [r for r in svc.reads.rows("private_records", 100, None, None,
                                        contains={"recipients": who.did}).items
              if r["author"] != who.did]
    return mine, shared


def _can_receive(svc: LedgerService, did: str) -> bool:
    """Data keys are wrapped with RSA-OAEP: an Ed25519 participant (a device, say) cannot
    be a recipient, so the form does not offer one that would always be refused."""
    p = svc.participant(did)
    try:
        return p is not None and PublicKey.from_b64(str(p.get("key"))).kind == "rsa"
    except SupplyLedgerError:
        return False


def _people(svc: LedgerService, who: Principal) -> list[dict[str, Any]]:
    rows = svc.reads.rows("participants", 500, None, {"status": "active"}).items
    return [r for r in rows if r["did"] != who.did and "node" not in r["roles"].split(",")
            and _can_receive(svc, r["did"])]


def _render(request: Request, status: int = 200, **extra: Any) -> Response:
    who = current(request)
    svc = service_of(request)
    mine, shared = _records(svc, who)
    names = {p["did"]: p["name"] for p in svc.reads.rows("participants", 500, None).items}
    return page(request, "privacy.html", status=status, title="Customer data sharing",
                available=svc.features.private is not None, mine=mine, shared=shared,
                people=_people(svc, who), names=names,
                can_share=svc.may_call(who, "privacy", "publish"), **extra)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request) -> Response:
    return _render(request)


def _act(svc: LedgerService, who: Principal, form: FormData) -> tuple[str, str | None]:
    """Perform the form's action; returns (message, decrypted text or None)."""
    private = svc.features.private
    if private is None:
        raise NotFound("private data sharing is not available yet on this node")
    action = str(form.get("action", ""))
    rid = str(form.get("record", ""))
    key = svc.accounts.signing_key(who.session)
    if action == "share":
        data = str(form.get("data", "")).strip()
        if not data or len(data) > MAX_DATA:
            raise ValidationError(f"enter 1-{MAX_DATA} characters to share", arg="data")
        recipients = [str(r) for r in form.getlist("recipients")]
        if not recipients:  # shared with nobody is a form sent too soon, not a wish
            raise ValidationError("choose at least one recipient", arg="recipients")
        rid = private.share(key, data.encode(), recipients)
        return f"Shared as record {rid}, encrypted for {len(recipients)} recipient(s).", None
    if action == "read":
        return f"Record {rid} decrypted and its author's signature verified.", \
            private.read(rid, key).decode("utf-8", errors="replace")
    recipient = str(form.get("recipient", ""))
    if action == "grant":
        private.grant(key, rid, recipient)
        return f"Granted access to record {rid}.", None
    if action == "revoke":
        private.revoke(key, rid, recipient)
        return f"Revoked access; record {rid} is re-encrypted for the remaining readers.", None
    if action == "erase":
        private.erase(key, rid)
        return f"Record {rid} erased: its ciphertext and keys are gone.", None
    raise ValidationError("unknown action", arg="action")


@router.post("/privacy", response_class=HTMLResponse)
async def privacy_post(request: Request) -> Response:
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    # Reading changes nothing; sharing, granting, revoking and erasing sign a transaction,
    # which a reload or a back-and-resend must not sign again (once.py).
    token = "" if form.get("action") == "read" else str(form.get("once", ""))
    fresh, earlier = request.app.state.once.claim(who.did, token)
    if not fresh:
        message = earlier if isinstance(earlier, str) else "It is still being processed."
        return _render(request, message=f"This form was already sent; nothing was signed "
                                        f"again. {message}")
    outcome: str | None = None
    try:
        message, plaintext = _act(svc, who, form)
        outcome = message
    except SupplyLedgerError as exc:
        if exc.code == "key_locked":
            raise
        return _render(request, status=status_for(exc), error=f"{exc.message} [{exc.code}]",
                       typed=str(form.get("data", "")),
                       chosen=[str(r) for r in form.getlist("recipients")])
    finally:
        request.app.state.once.settle(who.did, token, outcome)
    return _render(request, message=message, plaintext=plaintext,
                   read_record=str(form.get("record", "")))
