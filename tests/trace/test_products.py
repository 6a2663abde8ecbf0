"""products: GS1 ids checked, only manufacturers create, only owners declare for sale
(paper 001 Alg. 2), certifications issued and revoked by their issuer."""

from __future__ import annotations

from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import gtin
from supplyledger.contracts.builtin.products import batch_id

from .conftest import error_of, sql

GTIN = gtin("400638133393")  # 4006381333931


def _setup(c: Consortium) -> dict[str, object]:
    c.org("maker", ["manufacturer", "warehouse"])
    c.org("rival", ["manufacturer"])
    c.org("shop", ["platform", "customer"])
    c.org("cert", ["inspector"])
    return {"maker": c.member("maker", "maker", ["manufacturer", "warehouse"]),
            "rival": c.member("rival", "rival", ["manufacturer"]),
            "shop": c.member("shop", "shop", ["platform"]),
            "cert": c.member("cert", "cert", ["inspector"])}


def test_products_and_batches_only_by_manufacturers(consortium: Consortium) -> None:
    c = consortium
    p = _setup(c)
    assert c.ok(p["maker"], "products", "create_product",
                {"gtin": GTIN, "name": "Wheat flour"}) == {"gtin": "0" + GTIN}
    err = error_of(c, p["shop"], "products", "create_product", {"gtin": GTIN, "name": "x"})
    assert err.code == "role_denied"
    assert error_of(c, p["maker"], "products", "create_product",
                    {"gtin": GTIN, "name": "again"}).code == "already_exists"
    bad = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    err = error_of(c, p["maker"], "products", "create_product", {"gtin": bad, "name": "x"})
    assert err.code == "validation_error" and "check digit" in err.message
    res = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": "L1",
                                                        "quantity": "1000", "uom": "KGM"})
    assert res["batch"] == batch_id(GTIN, "L1") == f"https://id.gs1.org/01/0{GTIN}/10/L1"
    unknown = gtin("400638133399")
    err = error_of(c, p["maker"], "products", "create_batch", {"gtin": unknown, "lot": "L1"})
    assert err.code == "not_found" and "unknown GTIN" in err.message
    err = error_of(c, p["rival"], "products", "create_batch", {"gtin": GTIN, "lot": "L2"})
    assert err.code == "forbidden"
    assert error_of(c, p["shop"], "products", "create_batch",
                    {"gtin": GTIN, "lot": "L3"}).code == "role_denied"
    # the batch's custody starts with its creator
    rows = sql(c, "SELECT owner, custodian, custodian_org FROM custody_holdings")
    assert rows == [(p["maker"].did, p["maker"].did, "maker")]  # type: ignore[attr-defined]


def test_only_the_owner_declares_for_sale(consortium: Consortium) -> None:
    c = consortium
    p = _setup(c)
    c.ok(p["maker"], "products", "create_product", {"gtin": GTIN, "name": "Flour"})
    bid = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": "S1"})["batch"]
    for ident in (GTIN, bid):
        err = error_of(c, p["rival"], "products", "declare_for_sale", {"id": ident})
        assert err.code == "forbidden" and "product owner is not correct" in err.message
        assert c.ok(p["maker"], "products", "declare_for_sale", {"id": ident})["for_sale"]
        assert error_of(c, p["maker"], "products", "declare_for_sale",
                        {"id": ident}).code == "invalid_state"
    assert sql(c, "SELECT for_sale FROM batches") == [(1,)]
    assert sql(c, "SELECT for_sale FROM products") == [(1,)]
    assert error_of(c, p["maker"], "products", "declare_for_sale",
                    {"id": batch_id(GTIN, "nope")}).code == "not_found"


def test_items_locations_units_and_certifications(consortium: Consortium) -> None:
    c = consortium
    p = _setup(c)
    c.ok(p["maker"], "products", "create_product", {"gtin": GTIN, "name": "Flour"})
    bid = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": "C1"})["batch"]
    assert c.ok(p["maker"], "products", "commission_items",
                {"gtin": GTIN, "lot": "C1", "serials": ["1", "2"]})["items"] == 2
    assert error_of(c, p["rival"], "products", "commission_items",
                    {"gtin": GTIN, "lot": "C1", "serials": ["3"]}).code == "forbidden"
    assert sql(c, "SELECT COUNT(*) FROM serial_items WHERE batch=?", (bid,)) == [(2,)]
    assert c.ok(p["maker"], "products", "register_location",
                {"gln": "4006381000017", "name": "Mill"})
    assert error_of(c, p["maker"], "products", "register_location",
                    {"gln": "4006381000016", "name": "x"}).code == "validation_error"
    assert c.ok(p["maker"], "products", "register_unit", {"sscc": "340063810000000018"})
    assert error_of(c, p["maker"], "products", "register_unit",
                    {"sscc": "340063810000000011"}).code == "validation_error"
    cert = {"batch": bid, "certificate": "ORG-77", "scheme": "EU organic",
            "valid_from": "2026-01-01", "valid_until": "2027-01-01"}
    assert error_of(c, p["maker"], "products", "certify", cert).code == "role_denied"
    assert error_of(c, p["cert"], "products", "certify",
                    {**cert, "batch": batch_id(GTIN, "zz")}).code == "not_found"
    c.ok(p["cert"], "products", "certify", cert)
    revoke = {"batch": bid, "certificate": "ORG-77", "reason": "audit failed"}
    assert error_of(c, p["maker"], "products", "revoke_certification",
                    revoke).code == "forbidden"
    c.ok(p["cert"], "products", "revoke_certification", revoke)
    assert sql(c, "SELECT status, issuer FROM certifications") == [
        ("revoked", p["cert"].did)]  # type: ignore[attr-defined]
