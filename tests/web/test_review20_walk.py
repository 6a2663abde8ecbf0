"""Review 20: a logistics team's first morning with the web UI, as the demo consortium's
seller, buyer, courier, bank, admin, auditor and platform, in Debian's Chromium and over
HTTP against a week of the demo served on loopback. What they tripped over, each pinned
here:

* the products table offered "Order" on a product of Highland Noodle Co., a revoked
  supplier (its products stay listed for sale), and on a product of the user's own
  organisation: both end as a failed call on the ledger ("no active participant", "an
  organisation cannot buy from itself");
* a currency typed in lower case was refused with the schema's regular expression
  ("currency does not match [A-Z]{3}");
* an amount typed as 18.50 in a whole-minor-units field got Chromium's own word, "The two
  nearest valid values are 18 and 19", which leads to 0.18;
* a phone's keyboard capitalises the login ("Customer "), which was "unknown login or
  wrong password";
* a wrong current password on the account page was "unknown login or wrong password" to a
  user who is logged in.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from _serving import PHONE, browser_fixture, demo_fixture, form_fields, page_as, row_buttons
from _serving import DemoServed as Served
from api.conftest import CHEAP

served = demo_fixture("walk20", weeks=1, api=CHEAP)
browser = browser_fixture()


def _main(html: str) -> str:
    found = re.search(r"<main[^>]*>(.*)</main>", html, re.S)
    assert found, html
    return found.group(1)


# -- "Order" only where orders.place would take the seller -----------------------------------
def test_no_order_button_on_a_revoked_suppliers_product(served: Served) -> None:
    with served.web("customer") as web:
        products = web.get("/tables/products").text
    assert row_buttons(products, lambda r: "Highland Noodle Co." in r) == {}
    live = row_buttons(products, lambda r: "Riverside Baking Supplies" in r)
    assert list(live) == ["Order"] and "product=06901234200010" in live["Order"]


def test_no_order_button_on_a_product_of_ones_own_organisation(served: Served) -> None:
    with served.web("admin") as web:
        form = form_fields(web.get("/admin").text, "/admin/enrol")
        r = web.post("/admin/enrol", data={**form, "org": "supplier-a", "name": "A. Clerk",
                                           "login": "clerk-a", "roles": "supplier",
                                           "password": "clerk-pass-1"})
    assert r.status_code == 200, _main(r.text)[:2000]
    with httpx.Client(base_url=served.url, timeout=60) as web:
        assert web.post("/api/auth/login", json={"login": "clerk-a",
                                                 "password": "clerk-pass-1"}).is_success
        products = web.get("/tables/products").text
    assert row_buttons(products, lambda r: "Riverside Baking Supplies" in r) == {}
    assert list(row_buttons(products, lambda r: "Orchard Oils" in r)) == ["Order"]


# -- a value that does not fit its pattern, in words ----------------------------------------
def test_a_lower_case_currency_is_refused_in_words_before_signing(served: Served) -> None:
    height = served.height
    path = "/contracts/orders/place"
    with served.web("customer") as web:
        form = form_fields(web.get(path).text, path)
        r = web.post(path, data={**form, "id": "W20-1", "seller": served.did("supplier-a"),
                                 "product": "06901234200010", "quantity": "2",
                                 "unit_price": "1850", "freight": "0", "currency": "cny",
                                 "earliest": "2026-11-25 10:00",
                                 "latest": "2026-11-26 10:00"})
    main = _main(r.text)
    assert r.status_code == 422
    assert "Currency must be 3 capital letters, not &#39;cny&#39;" in main
    assert "[A-Z]" not in main and "does not match" not in main
    assert "Nothing was signed or recorded." in main
    assert 'name="currency" type="text" value="cny"' in main  # what was typed stays
    assert served.height == height


# -- logging in from a phone, the account's password ----------------------------------------
def test_a_capitalised_login_with_a_trailing_space_logs_in(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as web:
        page = web.get("/login").text
        assert re.search(r'<input id="login"[^>]*autocapitalize="none"', page)
        r = web.post("/login", data={**form_fields(page, "/login"), "login": "Customer ",
                                     "password": served.password("customer")})
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize(("fields", "said"), [
    ({"action": "password", "old_password": "not-my-password", "new_password": "n3w-pass-1"},
     "Your current password is not right: the password was not changed."),
    ({"action": "unlock", "password": "not-my-password"},
     "Wrong password: your signing key stays locked."),
])
def test_a_wrong_password_on_the_account_page_is_said_so(
        served: Served, fields: dict[str, str], said: str) -> None:
    with served.web("bank") as web:
        form = form_fields(web.get("/account").text, "/account")
        r = web.post("/account", data={**form, **fields})
    assert r.status_code == 400
    main = _main(r.text)
    assert said in main and "unknown login" not in main


# -- an amount with a decimal point, in the browser -----------------------------------------
@pytest.mark.browser
def test_an_amount_with_a_decimal_point_says_what_to_type(browser: Any,
                                                          served: Served) -> None:
    p = page_as(browser, served, "customer", PHONE)
    messages = []
    for path, field in (("/account", "#wi-amount"),
                        ("/contracts/orders/place", "#m-unit_price")):
        p.goto(served.url + path)
        amount = p.locator(field)
        for typed in ("18.50", "18.5", "18.505", "1850"):
            amount.fill(typed)
            messages.append(amount.evaluate("e => e.validationMessage"))
    p.context.close()
    assert messages[:4] == [
        "Amounts are in whole minor units (cents): type 1850 for 18.50.",
        "Amounts are in whole minor units (cents): type 1850 for 18.5.",
        "Amounts are in whole minor units (cents), without a decimal point: 1850 is 18.50.",
        ""]
    assert messages[4:] == messages[:4]
