"""Review 21: the refusals of the hand-written forms (record an event, share data, the
account) tied to their fields, seen in Debian's Chromium against a week of the demo served
on loopback, on a desk and on a phone.

Found fine, and pinned here: the input at fault is marked invalid, described by its hint
and by the message, which shows beside it (visible, in view with the field) while the
summary at the top is still an alert; app.js, which marks a contract method form's field
from its notice's ``data-arg``, adds no second message on these pages, nor do the server's
marks on the method form.

Found wrong: after a refusal a keyboard user started at the top of the page, with nothing
leading to the field but tabbing through the menu and every field before it (a grant's
field is in a row of the records table). The summary now links to the field, and following
the link puts focus in it.
"""

from __future__ import annotations

from typing import Any

import pytest

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP

DESK = {"width": 1280, "height": 800}

served = demo_fixture("field_marks21", weeks=1, api=CHEAP)
browser = browser_fixture()

# What a user meets at field ``f`` after a refusal: its marks, the texts of what describes
# it (each id resolved), whether the message beside it shows and is in view with the field
# scrolled to, how far below the field it is, and what else on the page says so.
SEEN = """f => {
  const ids = (f.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  const note = document.getElementById(f.id + '-error');
  f.scrollIntoView({block: 'center'});
  const r = note ? note.getBoundingClientRect() : null, fr = f.getBoundingClientRect();
  return {invalid: f.getAttribute('aria-invalid'),
          missing: ids.filter(i => !document.getElementById(i)),
          described: ids.map(i => (document.getElementById(i) || {}).textContent || ''),
          note: note ? note.textContent : null,
          shown: !!note && note.checkVisibility({visibilityProperty: true, opacityProperty: true})
                 && r.width > 0 && r.height > 0,
          inView: !!r && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0
                  && r.right <= innerWidth && fr.top >= 0 && fr.bottom <= innerHeight,
          below: r ? Math.round(r.top - fr.bottom) : null,
          marked: [...document.querySelectorAll('[aria-invalid=true]')].map(e => e.id),
          notes: document.querySelectorAll('small.bad[id$="-error"]').length,
          byScript: document.querySelectorAll('[data-refused-by], .notice[data-arg]').length,
          alerts: [...document.querySelectorAll('[role=alert]')].map(a => a.textContent)};
}"""

# (The browser scrolls the field to the top edge, its label just above it out of view:
# a scroll margin in app.css would keep the label in sight.)
IN_VIEW = """f => { const r = f.getBoundingClientRect(),
  n = document.getElementById(f.id + '-error').getBoundingClientRect();
  return r.top >= -1 && n.bottom <= innerHeight; }"""


def _event(p: Any, served: Served) -> str:
    p.goto(served.url + "/events/new")
    p.locator("#ev-batch").fill("NO-SUCH-LOT")
    p.locator("#ev-note").fill("sacks wet on arrival")
    p.locator("#record").click()
    return "ev-batch"


def _share(p: Any, served: Served) -> str:
    p.goto(served.url + "/privacy")
    p.locator("#pd").fill("Flat 2, 9 Elm St")
    p.locator("#pr").evaluate("f => f.required = false")  # (sent as a browser without it)
    p.get_by_role("button", name="Encrypt and share").click()
    return "pr"


def _device(served: Served) -> dict[str, Any]:
    return next(r for r in served.service.reads.rows("participants", 500, None).items
                if r["roles"] == "device")


def _grant(p: Any, served: Served) -> str:
    """A device's id sent from a record's grant form (as one typed where the list is cut):
    a row of the records table, far down the page."""
    device = _device(served)
    p.goto(served.url + "/privacy")
    form = p.locator("form.grant").last
    fid = str(form.locator("[name=recipient]").get_attribute("id"))
    form.locator("select").evaluate("(s, d) => { s.add(new Option('a device', d)); "
                                    "s.value = d; }", device["did"])
    form.get_by_role("button", name="Grant").click()
    return fid


def _password(p: Any, served: Served) -> str:
    p.goto(served.url + "/account")
    p.locator("#pw-old").fill("not-it")
    p.locator("#pw-new").fill("long enough")
    p.get_by_role("button", name="Change password").click()
    return "pw-old"


def _rotate(p: Any, served: Served) -> str:
    p.goto(served.url + "/account")
    p.locator("#r-confirm").evaluate("f => f.required = false")
    p.locator("#r-pw").fill(served.password("auditor"))
    p.get_by_role("button", name="Rotate my key").click()
    return "r-confirm"


HINT_EV = "type any other's lot number or GS1 Digital Link."
HINT_PR = "Hold Ctrl or ⌘ to choose several."
CASES = {  # login, submit, the message, the start of the field's hint (if it has one)
    "event": ("farm", _event, "no batch with lot number 'NO-SUCH-LOT': choose a suggested "
              "batch or give its GS1 Digital Link", HINT_EV),
    "share": ("customer", _share, "choose at least one recipient other than yourself (you "
              "always read your own records)", HINT_PR),
    "grant": ("customer", _grant, "{device} is a machine key (device): private "
              "data is shared with people and organisations, not with the devices and nodes "
              "that run unattended", None),
    "password": ("auditor", _password,
                 "Your current password is not right: the password was not changed.", None),
    "rotate": ("auditor", _rotate, "tick the box to confirm that you want a new key", None),
}


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["desk", "phone"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_field_is_marked_described_and_reached_from_the_summary(
        browser: Any, served: Served, case: str, viewport: dict[str, int]) -> None:
    login, submit, said, hint = CASES[case]
    said = said.replace("{device}", _device(served)["name"])
    height = served.height
    p = page_as(browser, served, login, viewport)
    fid = submit(p, served)
    p.wait_for_selector(f"#{fid}[aria-invalid=true]")
    seen = p.locator(f"#{fid}").evaluate(SEEN)
    # Marked, and described by what exists: its hint (if any), then the message.
    assert seen["invalid"] == "true" and seen["marked"] == [fid]
    assert not seen["missing"]
    assert seen["described"][-1] == said == seen["note"]
    if hint:
        assert len(seen["described"]) == 2 and hint in seen["described"][0]
    else:
        assert len(seen["described"]) == 1
    # Shown beside the field: right below it, in view with it.
    assert seen["shown"] and seen["inView"], seen
    assert 0 <= seen["below"] <= 40, seen
    # One message beside the field (none added by app.js), and the summary still an alert.
    assert seen["notes"] == 1 and seen["byScript"] == 0
    [alert] = seen["alerts"]
    assert said in alert
    # From the summary a keyboard user goes straight to the field.
    p.evaluate("window.scrollTo(0, 0)")
    link = p.get_by_role("alert").get_by_role("link", name="Go to the field")
    assert link.count() == 1 and link.get_attribute("href") == f"#{fid}"
    link.focus()
    p.keyboard.press("Enter")
    p.wait_for_function(f"document.activeElement && document.activeElement.id === '{fid}'")
    assert p.locator(f"#{fid}").evaluate(IN_VIEW)  # with the message below it
    if case == "event":  # what was typed stays
        assert p.locator("#ev-note").input_value() == "sacks wet on arrival"
    p.context.close()
    assert served.height == height  # nothing was signed


@pytest.mark.browser
def test_a_method_form_s_refusal_is_marked_once_by_app_js(browser: Any,
                                                          served: Served) -> None:
    """The contract method form: app.js ties the field to the notice (data-arg); the
    server adds no note of its own, so the field is described by the message once."""
    p = page_as(browser, served, "driver", DESK)
    p.goto(served.url + "/contracts/shipments/create")
    p.locator("form [required]").evaluate_all("fs => fs.forEach(f => f.required = false)")
    p.locator("#m-id").fill("S-21")
    p.get_by_role("button", name="Sign and submit").click()
    p.wait_for_selector("#m-transporter[aria-invalid=true]")
    seen = p.locator("#m-transporter").evaluate(SEEN)
    assert seen["marked"] == ["m-transporter"] and not seen["missing"]
    assert seen["notes"] == 0 and seen["note"] is None
    assert [d for d in seen["described"] if "Transporter is required" in d] == \
        [seen["alerts"][0]]
    assert p.locator(".notice[data-arg=transporter]").count() == 1
    p.context.close()
