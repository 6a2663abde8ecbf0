"""Review 20: the web UI used by keyboard only, with a screen reader and at 200 % zoom, in
Debian's Chromium and over HTTP against a week of the demo served on loopback. What such
a user tripped over, each pinned here:

* a table of objects shown inside a cell or a result (an order's rating factors, a customs
  declaration's assessment) had no name: a screen reader announced "table" and nothing more;
* the table page's search field was named "is" (its label, the last word of "Find rows
  whose [column] is"), and the event form's two readings each had a "Type" and a "Value";
* a block's transactions said "✔" alone for a committed call (read as "heavy check mark");
* a refusal about one field ("Transporter is required") was announced, but the field was
  neither marked invalid nor described by it: back at the field, nothing said why;
* the main menu's focus ring was clipped by the menu (it scrolls sideways): the phone's
  menu button showed none, a menu item only the sides of one.

Found fine, and guarded here: every text colour of app.css on its backgrounds meets WCAG AA.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from _serving import PHONE, browser_fixture, demo_fixture, page_as
from _serving import DemoServed as Served
from api.conftest import CHEAP
from supplyledger.api.web.render import TEMPLATES

DESK = {"width": 1280, "height": 800}
CSS = TEMPLATES.parent / "static" / "app.css"

served = demo_fixture("a11y20", weeks=1, api=CHEAP)
browser = browser_fixture()


def _text(fragment: str) -> str:
    """What a screen reader reads of ``fragment``: its text, without what is aria-hidden."""
    fragment = re.sub(r'<(\w+)[^>]*aria-hidden="true"[^>]*>.*?</\1>', "", fragment, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# -- tables ----------------------------------------------------------------------------------
PAGES = ("/", "/account", "/area/products", "/area/orders", "/area/customs",
         "/area/logistics", "/tables/balances", "/tables/orders", "/explorer", "/audit",
         "/admin", "/emissions", "/privacy")


def test_every_table_has_a_name_and_scoped_headings(served: Served) -> None:
    with served.web("admin") as web:
        pages = {p: web.get(p).text for p in PAGES}
    tables = [(p, t) for p, page in pages.items()
              for t in re.findall(r"<table[^>]*>.*?</table>", page, re.S)]
    nested = [t for _, t in tables if 'class="small"' in t[:40]]
    assert len(tables) > 30 and nested  # rating factors and customs assessments among them
    unnamed = [(p, t[:120]) for p, t in tables
               if "<caption" not in t and not re.match(r"<table[^>]* aria-label=\"[^\"]+\"", t)]
    assert not unnamed
    unscoped = [(p, h) for p, t in tables for h in re.findall(r"<th(?: [^>]*)?>", t)
                if "scope=" not in h]
    assert not unscoped
    # a table of objects in a cell is named by its column
    assert any(re.match(r'<table class="small" aria-label="Factors"', t) for t in nested)


# -- form labels -----------------------------------------------------------------------------
def _names(page: str) -> list[list[tuple[str, str]]]:
    """Per form of ``page``: (id, accessible name) of each field a user fills in."""
    labels = {i: _text(t) for i, t in re.findall(r'<label for="([^"]+)"[^>]*>(.*?)</label>',
                                                 page, re.S)}
    ids = {i: _text(t) for i, t in re.findall(r'<label[^>]* id="([^"]+)"[^>]*>(.*?)</label>',
                                              page, re.S)}
    out = []
    for form in re.findall(r"<form[ >].*?</form>", page, re.S):
        fields = []
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", form):
            if re.search(r'type="(hidden|submit|checkbox|radio)"', tag):
                continue  # (boxes and choices are named by the label around them)
            fid = re.search(r' id="([^"]+)"', tag)
            by = re.search(r' aria-labelledby="([^"]+)"', tag)
            own = re.search(r' aria-label="([^"]+)"', tag)
            name = (" ".join(ids.get(i, "…") for i in by[1].split()) if by
                    else html.unescape(own[1]) if own
                    else labels.get(fid[1], "") if fid else "")
            fields.append((fid[1] if fid else tag, name))
        out.append(fields)
    return out


def test_every_field_has_a_name_of_its_own(served: Served) -> None:
    with served.web("admin") as web:
        pages = {p: web.get(p).text for p in ("/tables/orders", "/events/new", "/account",
                                                "/admin", "/emissions", "/explorer",
                                                "/contracts/orders/place")}
    for path, page in pages.items():
        for fields in _names(page):
            names = [n for _, n in fields]
            assert all(names), (path, fields)
            assert len(set(names)) == len(names), (path, fields)
    table = dict(f for fs in _names(pages["/tables/orders"]) for f in fs)
    assert table["tf-value"] == "Find rows whose … is"  # (the select's choice in between)
    assert 'aria-labelledby="tf-col-l tf-col tf-value-l"' in pages["/tables/orders"]
    readings = dict(f for fs in _names(pages["/events/new"]) for f in fs)
    assert readings["r1t"] == "Type of reading 1" and readings["r2v"] == "Value of reading 2"


def test_a_block_says_each_outcome_in_words(served: Served) -> None:
    with served.web("auditor") as web:
        height = re.search(r'<a href="/explorer/blocks/(\d+)">', web.get("/explorer").text)
        assert height
        page = web.get(f"/explorer/blocks/{height[1]}").text
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", page, re.S)
    outcomes = [_text(re.findall(r"<td>(.*?)</td>", r, re.S)[-1]) for r in rows]
    assert outcomes and all(o == "committed" or o.startswith("refused: ") for o in outcomes)


# -- refusals tied to their fields -----------------------------------------------------------
def test_a_refusal_names_the_argument_it_is_about(served: Served) -> None:
    with served.web("driver") as web:
        form = web.get("/contracts/shipments/create").text
        once = re.search(r'name="once" value="([^"]+)"', form)
        assert once
        r = web.post("/contracts/shipments/create",
                     data={"csrf": web.headers["X-CSRF-Token"], "once": once[1], "id": "S-1"})
    assert r.status_code == 422
    assert re.search(r'<div class="notice bad" role="alert" data-arg="transporter">\s*'
                     r"<strong>Refused: validation_error</strong> — Transporter is required",
                     r.text)


def _field(page: Any, selector: str) -> dict[str, Any]:
    return dict(page.locator(selector).evaluate(
        """f => ({invalid: f.getAttribute('aria-invalid'),
                  described: (f.getAttribute('aria-describedby') || '').split(' ')
                    .map(i => (document.getElementById(i) || {}).textContent || '?')
                    .join(' | ')})"""))


@pytest.mark.browser
def test_the_field_a_refusal_is_about_says_so(browser: Any, served: Served) -> None:
    p = page_as(browser, served, "driver", DESK)
    # the method's own page (a whole page back)
    p.goto(served.url + "/contracts/shipments/create")
    p.locator("form [required]").evaluate_all("fs => fs.forEach(f => f.required = false)")
    p.locator("#m-id").fill("S-2")
    p.get_by_role("button", name="Sign and submit").click()
    p.wait_for_selector("[role=alert]")
    transporter = _field(p, "#m-transporter")
    assert transporter["invalid"] == "true"
    assert "participant id" in transporter["described"]  # the hint, still
    assert "Transporter is required" in transporter["described"]
    assert _field(p, "#m-id")["invalid"] is None
    # a form of the contracts page (an htmx result): corrected, the next refusal moves
    p.goto(served.url + "/contracts")
    box = p.locator("#m-shipments-create")
    box.locator("summary").click()
    box.locator("[required]").evaluate_all("fs => fs.forEach(f => f.required = false)")
    box.locator("#shipments-create-id").fill("S-3")
    box.get_by_role("button", name="Sign and submit").click()
    p.wait_for_selector("#shipments-create-transporter[aria-invalid=true]")
    assert "Transporter is required" in _field(p, "#shipments-create-transporter")["described"]
    box.locator("#shipments-create-transporter").fill(served.did("driver"))
    box.get_by_role("button", name="Sign and submit").click()
    p.wait_for_selector("#shipments-create-legs[aria-invalid=true]")
    assert _field(p, "#shipments-create-transporter") == {
        "invalid": None, "described": "participant id — up to 128 characters"}
    assert "Legs is required" in _field(p, "#shipments-create-legs")["described"]
    p.context.close()


# -- focus -----------------------------------------------------------------------------------
CLIPPED = """e => { e.focus(); const s = getComputedStyle(e), r = e.getBoundingClientRect();
  const grow = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth);
  const n = e.closest('nav'), c = n.getBoundingClientRect();
  return [document.activeElement === e && s.outlineStyle !== 'none',
          r.top - grow < c.top + n.clientTop - .5, r.bottom + grow > c.top + n.clientTop
          + n.clientHeight + .5, r.left - grow < c.left - .5, r.right + grow > c.right + .5]; }"""


@pytest.mark.browser
@pytest.mark.parametrize(("viewport", "item"), [(DESK, "nav.main-nav a[href='/trace']"),
                                                (PHONE, "nav.main-nav .menu-toggle")],
                         ids=["desk", "phone"])
def test_the_menu_s_focus_ring_is_drawn_whole(browser: Any, served: Served,
                                              viewport: dict[str, int], item: str) -> None:
    p = page_as(browser, served, "admin", viewport)
    p.goto(served.url + "/account")
    ringed, *clipped = p.locator(item).evaluate(CLIPPED)
    assert ringed and not any(clipped), clipped
    p.context.close()


# -- contrast --------------------------------------------------------------------------------
def _rgb(colour: str) -> tuple[float, ...]:
    h = colour.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))


def _ratio(a: str, b: str) -> float:
    def lum(c: str) -> float:
        r, g, b_ = (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
                    for v in _rgb(c))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_text_colour_of_the_css_meets_aa_on_its_backgrounds() -> None:
    css = CSS.read_text()
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))

    def c(v: str) -> str:
        return var[v[2:]] if v.startswith("--") else v

    link, th, notice = "#1d4ed8", "#eef1f5", "#eef2ff"
    assert f"a {{ color: {link}; }}" in css and f"th {{ background: {th};" in css
    pairs = [("--ink", b) for b in ("--bg", "--card", th, notice, "#e5e7eb", "#fbfcfd")]
    pairs += [("--muted", b) for b in ("--bg", "--card", th, "#fbfcfd")]
    pairs += [(link, b) for b in ("--bg", "--card", th, notice, "--bad-bg", "--good-bg")]
    pairs += [("#ffffff", b) for b in ("--brand", "--accent", "#115e59", "--bad", "--good",
                                       "#991b1b")]
    pairs += [("--warn", "--warn-bg"), ("#14532d", "--good-bg"), ("#7f1d1d", "--bad-bg"),
              ("--good", "--card"), ("--bad", "--card"), ("--bad", "--bad-bg"),
              ("#e2e8f0", "#0f172a")]
    low = [(f, b, round(_ratio(c(f), c(b)), 2)) for f, b in pairs if _ratio(c(f), c(b)) < 4.5]
    assert not low
    # the focus ring against what it is drawn on (3:1 for a control's outline)
    assert min(_ratio(c("--focus"), c(b)) for b in ("--card", "--bg", "--brand")) >= 3
