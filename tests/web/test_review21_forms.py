"""Review 21: the hand-written forms (record an event, share data, the account) said why
a submission was refused only at the top of the page; now the input at fault is marked
(``aria-invalid``), described by the message shown beside it, and keeps what was typed.
The privacy tables showed readers and access-log changes as raw participant ids; now by
name, the id in the tooltip. Real pages of a week of the demo, over HTTP on loopback.
"""

from __future__ import annotations

import html
import re

from _serving import DemoServed as Served
from _serving import demo_fixture, form_fields
from api.conftest import CHEAP

served = demo_fixture("forms21", weeks=1, api=CHEAP)


def _tag(page: str, fid: str) -> str:
    """The opening tag of the element with id ``fid``."""
    found = re.search(rf'<(?:input|select|textarea)[^>]* id="{fid}"[^>]*>', page)
    assert found, page[-3000:]
    return found[0]


def _attr(tag: str, name: str) -> str | None:
    found = re.search(rf' {name}="([^"]*)"', tag)
    return html.unescape(found[1]) if found else None


def _beside(page: str, fid: str) -> str:
    """The message shown beside input ``fid``; the input is marked and described by it."""
    tag = _tag(page, fid)
    assert _attr(tag, "aria-invalid") == "true", tag
    assert f"{fid}-error" in (_attr(tag, "aria-describedby") or "").split(), tag
    found = re.search(rf'<small class="bad" id="{fid}-error">(.*?)</small>', page, re.S)
    assert found, page[-3000:]
    return html.unescape(found[1])


def _unmarked(page: str, *fids: str) -> None:
    for fid in fids:
        assert _attr(_tag(page, fid), "aria-invalid") is None, fid
        assert f'id="{fid}-error"' not in page, fid


def _summary(page: str, id_: str) -> str:
    found = re.search(rf'id="{id_}">(.*?)</div>', page, re.S)
    assert found, page[-3000:]
    return html.unescape(re.sub(r"<[^>]+>", "", found[1]))


# -- the event form ---------------------------------------------------------------------------
def test_an_unknown_lot_marks_the_batch_field_and_keeps_what_was_typed(served: Served) -> None:
    height = served.height
    with served.web("farm") as web:
        form = form_fields(web.get("/events/new").text, "/events/new")
        r = web.post("/events/new", data={**form, "batch": "NO-SUCH-LOT", "quantity": "12",
                                          "note": "sacks wet on arrival"})
    assert r.status_code == 422
    said = "no batch with lot number 'NO-SUCH-LOT': choose a suggested batch or give its " \
           "GS1 Digital Link"
    assert _beside(r.text, "ev-batch") == said
    # Described by its hint as before, and by the message.
    assert _attr(_tag(r.text, "ev-batch"), "aria-describedby") == "held-hint ev-batch-error"
    assert said in _summary(r.text, "event-error")  # the summary at the top stays
    _unmarked(r.text, "ev-qty", "ev-loc", "ev-note")
    assert _attr(_tag(r.text, "ev-qty"), "value") == "12"
    assert _attr(_tag(r.text, "ev-note"), "value") == "sacks wet on arrival"
    assert served.height == height


def test_a_location_that_is_no_gln_marks_the_location_field(served: Served) -> None:
    [held] = served.service.reads.rows("custody_holdings", 1, None).items
    height = served.height
    with served.web("farm") as web:
        r = web.post("/events/new", data={
            **form_fields(web.get("/events/new").text, "/events/new"),
            "batch": held["batch"], "location": "1234567890123"})
    assert r.status_code == 422
    assert _beside(r.text, "ev-loc") == \
        "GLN 1234567890123 has check digit 3, expected 8"
    assert _attr(_tag(r.text, "ev-loc"), "aria-describedby") == "places-hint ev-loc-error"
    assert _attr(_tag(r.text, "ev-loc"), "value") == "1234567890123"
    _unmarked(r.text, "ev-batch", "ev-qty")
    assert served.height == height


def test_a_ledger_refusal_naming_its_argument_marks_that_field(served: Served) -> None:
    """The contract refuses pieces of a lot declared in kilograms (its details name
    ``uom``): the unit's select says so, the quantity typed stays."""
    lots = [r["batch"] for r in served.service.reads.rows("custody_holdings", 2, None).items]
    with served.web("mill") as web:
        form = form_fields(web.get("/events/new?link=processing").text, "/events/new")
        r = web.post("/events/new", data={**form, "batch": lots[0], "inputs": lots[1],
                                          "quantity": "5", "uom": "H87"})
    assert r.status_code == 422
    said = _beside(r.text, "ev-uom")
    assert any(said == f"quantity 5 H87 of {lot}: H87 cannot be compared with KGM, the "
               "unit of the lot's declared quantity" for lot in lots), said
    assert said in _summary(r.text, "event-error")
    assert '<option value="H87" selected>' in r.text
    _unmarked(r.text, "ev-qty", "ev-batch")
    assert _attr(_tag(r.text, "ev-qty"), "value") == "5"


# -- data sharing -----------------------------------------------------------------------------
def _share_form(page: str) -> dict[str, str]:
    found = re.search(r'<form method="post" action="/privacy">\s*<input[^>]*name="csrf".*?'
                      r'value="share".*?</form>', page, re.S)
    assert found, page[-3000:]
    return dict(re.findall(r'name="(csrf|once)" value="([^"]*)"', found[0]))


def test_a_share_with_no_recipient_marks_the_list_and_keeps_the_data(served: Served) -> None:
    records = served.service.reads.count("private_records")
    with served.web("customer") as web:
        form = _share_form(web.get("/privacy").text)
        r = web.post("/privacy", data={**form, "action": "share",
                                       "data": "Flat 2, 9 Elm St"})
        empty = web.post("/privacy", data={**_share_form(r.text), "action": "share",
                                           "data": "  "})
    assert r.status_code == 422
    said = "choose at least one recipient other than yourself (you always read your own " \
           "records)"
    assert _beside(r.text, "pr") == said
    assert _attr(_tag(r.text, "pr"), "aria-describedby") == "pr-hint pr-error"
    assert said in _summary(r.text, "privacy-error")
    assert re.search(r'<textarea id="pd"[^>]*>Flat 2, 9 Elm St</textarea>', r.text)
    _unmarked(r.text, "pd")
    assert empty.status_code == 422
    assert _beside(empty.text, "pd") == "enter 1-4096 characters to share"
    _unmarked(empty.text, "pr")
    assert served.service.reads.count("private_records") == records


def test_a_refused_grant_marks_the_field_of_its_own_record(served: Served) -> None:
    """A machine key may not read private data: the grant form of that record says so,
    by the device's name, and no other form on the page is marked."""
    me = served.did("customer")
    device = next(r for r in served.service.reads.rows("participants", 500, None).items
                  if r["roles"] == "device")
    [rec] = served.service.reads.rows("private_records", 1, None, {"author": me}).items
    height = served.height
    with served.web("customer") as web:
        page = web.get("/privacy").text
        row = re.search(rf'<form method="post" action="/privacy" class="row grant">'
                        rf'(?:(?!</form>).)*value="{rec["id"]}".*?</form>', page, re.S)
        assert row, page[-3000:]
        fid = re.search(r'id="(gr-\d+)"', row[0])
        assert fid
        form = dict(re.findall(r'name="(csrf|once)" value="([^"]*)"', row[0]))
        r = web.post("/privacy", data={**form, "action": "grant", "record": rec["id"],
                                       "recipient": device["did"]})
    assert r.status_code == 422
    said = _beside(r.text, fid[1])
    assert said.startswith(f"{device['name']} is a machine key (device)"), said
    assert device["did"] not in said
    _unmarked(r.text, "pd", "pr")
    assert 'aria-invalid="true"' not in r.text.replace(_tag(r.text, fid[1]), "")
    assert served.height == height


def test_privacy_tables_show_readers_and_changes_by_name(served: Served) -> None:
    me = served.did("customer")
    sales = served.did("sales")
    [rec] = served.service.reads.rows("private_records", 1, None, {"author": me}).items
    with served.web("customer") as web:
        page = web.get("/privacy").text
        row = re.search(rf'class="row grant">(?:(?!</form>).)*value="{rec["id"]}".*?</form>',
                        page, re.S)
        assert row, page[-3000:]
        form = dict(re.findall(r'name="(csrf|once)" value="([^"]*)"', row[0]))
        ok = web.post("/privacy", data={**form, "action": "grant", "record": rec["id"],
                                        "recipient": sales})
        assert ok.status_code == 200, _summary(ok.text, "privacy-error")
        records = web.get("/tables/private_records", params={"id": rec["id"]}).text
        log = web.get("/tables/private_access_log", params={"record": rec["id"]}).text
        mine = web.get("/privacy").text
    name = served.service.reads.rows("participants", 1, None, {"did": sales}).items[0]["name"]
    shown = f'<span title="{sales}">{html.escape(name)}</span>'
    # The readers, the access log's "grant <id>", and the privacy page's own table.
    assert re.search(rf"<td>[^<]*(?:<span[^>]*>[^<]*</span>[^<]*)*{re.escape(shown)}", records)
    assert f"<td>grant {shown}</td>" in log
    assert shown in mine
    for page in (records, log):
        cells = re.findall(r"<td>(.*?)</td>", page, re.S)
        assert not any(re.search(r"(?<![\"=])did:sl:", re.sub(r"<[^>]+>", "", c))
                       for c in cells), cells


# -- the account --------------------------------------------------------------------------------
def test_account_refusals_are_shown_beside_the_field_at_fault(served: Served) -> None:
    pw = served.password("auditor")
    with served.web("auditor") as web:
        csrf = web.headers["X-CSRF-Token"]
        short = web.post("/account", data={"csrf": csrf, "action": "password",
                                           "old_password": pw, "new_password": "short"})
        wrong = web.post("/account", data={"csrf": csrf, "action": "password",
                                           "old_password": "not-it", "new_password": "long enough"})
        page = web.get("/account").text
        once = re.search(r'name="action" value="rotate">\s*<input type="hidden" name="once" '
                         r'value="([^"]*)"', page)
        assert once, page[-3000:]
        unconfirmed = web.post("/account", data={"csrf": csrf, "action": "rotate",
                                                 "once": once[1], "password": pw})
        rotate = web.post("/account", data={"csrf": csrf, "action": "rotate", "once": once[1],
                                            "password": "not-it", "confirm": "yes"})
    assert short.status_code == 400
    assert _beside(short.text, "pw-new") == "a password needs at least 8 characters"
    _unmarked(short.text, "pw-old", "r-pw", "r-confirm")
    assert wrong.status_code == 400
    assert _beside(wrong.text, "pw-old") == \
        "Your current password is not right: the password was not changed."
    _unmarked(wrong.text, "pw-new", "r-pw")
    assert _beside(unconfirmed.text, "r-confirm") == \
        "tick the box to confirm that you want a new key"
    _unmarked(unconfirmed.text, "r-pw", "pw-old")
    assert _beside(rotate.text, "r-pw") == "Wrong password: your key was not rotated."
    _unmarked(rotate.text, "pw-old", "r-confirm")
    assert " checked" in _tag(rotate.text, "r-confirm")  # the box ticked stays ticked
    assert pw not in rotate.text  # (a password typed is never sent back)
    for refused in (short, wrong, unconfirmed, rotate):
        assert '<div class="notice bad" role="alert">' in refused.text  # the summary stays
