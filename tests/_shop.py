"""One small shop for tests of orders and dispatch: a platform, a maker selling one product,
customers with money, a transporter and a bank, each an organisation with one member."""

from __future__ import annotations

from supplyledger.bench.consortium import Consortium, Party

ROLES = {"shop": ["platform"], "maker": ["manufacturer", "supplier"],
         "people": ["customer"], "trucks": ["transporter"], "bank": ["settlement"]}


def shop_parties(c: Consortium, gtin: str, funds: int = 10**7) -> dict[str, Party]:
    """Register the shop's organisations and members, the maker's product ``gtin``, and
    ``funds`` EUR minor units on the customers' member account; the members by org."""
    for org, r in ROLES.items():
        c.org(org, r)
    p = {org: c.member(org, org, r) for org, r in ROLES.items()}
    c.ok(p["maker"], "products", "create_product", {"gtin": gtin, "name": "flour"})
    c.ok(p["bank"], "payments", "deposit", {"account": p["people"].did, "currency": "EUR",
                                            "amount": funds})
    return p
