"""Page: customer data sharing (paper 001 Alg. 1, done right).

A customer encrypts personal data (a delivery address, a phone number) for the parties
that need it; the ciphertext stays off the ledger, the ledger records a commitment and the
recipient list. Authors grant, revoke and erase; recipients see the decrypted data here,
which the server decrypts with the recipient's own key unwrapped for this one request.
Everyone else gets an access error. Uses the private-data service when the node has it.
A refused form keeps what was typed and says why beside the field at fault as well as at
the top; readers and authors are shown by name, their ids in the tooltip.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.errors import status_for
from supplyledger.api.routers.common import Cursor
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.forms import Refusal, refusal
from supplyledger.api.web.names import DID_IN_TEXT, participant_names
from supplyledger.api.web.render import page
from supplyledger.errors import NotFound, SupplyLedgerError, ValidationError
from supplyledger.node.private_data import recipient_refusal
from supplyledger.store.listings import Page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MAX_DATA = 4096


RECORDS_PAGE = 50


def _records(svc: LedgerService, who: Principal, mine_cursor: str | None,
             shared_cursor: str | None) -> tuple[Page, Page]:
    """A page of the user's own records and one of those shared with them, each with
    the cursor of the next (a customer may have shared hundreds)."""
    if "private_records" not in svc.reads.tables:
        return Page([], None), Page([], None)
    mine = svc.reads.rows("private_records", RECORDS_PAGE, mine_cursor, {"author": who.did})
    shared = svc.reads.rows("private_records", RECORDS_PAGE, shared_cursor, None,
                            contains={"recipients": who.did})
    return mine, Page([r for r in shared.items if r["author"] != who.did],
                      shared.next_cursor)


def _people(svc: LedgerService, who: Principal) -> tuple[list[dict[str, Any]], bool]:
    """Participants that can receive encrypted data (the form offers none the service
    would refuse: machine keys, keys that are not RSA), and whether the list is cut (then
    the forms also take ids typed in)."""
    page_ = svc.reads.rows("participants", svc.settings.page_max, None, {"status": "active"})
    return [r for r in page_.items if r["did"] != who.did
            and recipient_refusal(r["did"], svc.participant(r["did"])) is None
            ], page_.next_cursor is not None


def _readers(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {r["id"]: r["recipients"].replace(",", " ").split() for r in records}


def _named(message: str, names: dict[str, str]) -> str:
    """An error message with the participant ids in it replaced by their names."""
    return DID_IN_TEXT.sub(lambda m: names.get(m.group(0), m.group(0)), message)


def _others(form: FormData) -> list[str]:
    """The recipients typed in (one per line), beyond those chosen from the list."""
    return [ln.strip() for ln in str(form.get("others", "")).splitlines() if ln.strip()]


def _refused(exc: SupplyLedgerError, form: FormData) -> Refusal | None:
    """The input ``exc`` is about, in the form that was sent: a grant's or a revoke's is in
    its record's row (``<action>:<record>``); a share's recipient refused is the one typed
    in when the message names it, else the list. Reading and erasing take no input but the
    record's own (hidden)."""
    action, rid = str(form.get("action", "")), str(form.get("record", ""))
    if action == "share":
        found = refusal(exc, "share")
        if found is not None and found.arg == "recipients" and any(
                did in exc.message for did in _others(form)):
            return replace(found, arg="others")
        return found
    if action in ("grant", "revoke"):
        return refusal(exc, f"{action}:{rid}", {"recipients": "recipient"})
    return None


def _render(request: Request, status: int = 200, *, mine_cursor: str | None = None,
            shared_cursor: str | None = None, **extra: Any) -> Response:
    who = current(request)
    svc = service_of(request)
    mine, shared = _records(svc, who, mine_cursor, shared_cursor)
    readers = _readers(mine.items)
    people, people_cut = _people(svc, who)
    names = participant_names(svc, {who.did, *(r["author"] for r in shared.items),
                                    *(d for ds in readers.values() for d in ds)})
    if extra.get("error"):
        error = str(extra["error"])
        extra["error"] = _named(error, {**names, **participant_names(
            svc, DID_IN_TEXT.findall(error))})
    if extra.get("refused"):
        said = extra["refused"].message
        extra["refused"] = replace(extra["refused"], message=_named(said, {
            **names, **participant_names(svc, DID_IN_TEXT.findall(said))}))
    return page(request, "privacy.html", status=status, private=True,
                title="Customer data sharing",
                available=svc.features.private is not None, mine=mine, shared=shared,
                readers=readers, people=people, people_cut=people_cut, names=names,
                can_share=svc.may_call(who, "privacy", "publish"),
                mine_cursor=mine_cursor or "", shared_cursor=shared_cursor or "", **extra)


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, mine_cursor: Cursor = None,
            shared_cursor: Cursor = None) -> Response:
    return _render(request, mine_cursor=mine_cursor, shared_cursor=shared_cursor)


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
        # Beyond the listed participants, ids typed in (one per line).
        recipients += _others(form)
        # Shared with nobody (the author always reads) is a form sent too soon, not a wish;
        # so is one naming only the author (their own id typed in).
        others = len(set(recipients) - {who.did})  # an id chosen and typed in is one reader
        if not others:
            raise ValidationError("choose at least one recipient other than yourself (you "
                                  "always read your own records)", arg="recipients")
        rid = private.share(key, data.encode(), recipients)
        return f"Shared as record {rid}, encrypted for {others} recipient(s).", None
    if not rid:  # else "no private record " (an id left out, named as empty)
        raise ValidationError("choose a record: this form names none", arg="record")
    if action == "read":
        return f"Record {rid} decrypted and its author's signature verified.", \
            private.read(rid, key).decode("utf-8", errors="replace")
    recipient = str(form.get("recipient", "")).strip()
    if action in ("grant", "revoke") and not recipient:
        raise ValidationError(f"choose the participant to {action}", arg="recipient")
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
                       refused=_refused(exc, form), typed=str(form.get("data", "")),
                       chosen=[str(r) for r in form.getlist("recipients")],
                       others=str(form.get("others", "")),
                       sent=f"{form.get('action', '')}:{form.get('record', '')}",
                       recipient=str(form.get("recipient", "")).strip())
    finally:
        request.app.state.once.settle(who.did, token, outcome)
    return _render(request, message=message, plaintext=plaintext,
                   read_record=str(form.get("record", "")))
