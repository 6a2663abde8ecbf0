"""GS1 company prefixes bind SSCC claims: an SSCC under a prefix an admin recorded for an
organisation is that organisation's to claim first (trace) or register (products); prefixes
nobody recorded keep the first-claim rule. Each case failed before prefixes existed.

Contract rules run on the in-memory commerce world (each participant alone in its own
organisation); the query table and the audit run on a real embedded node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from commerce.conftest import World
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import object_event
from supplyledger.gs1 import gs1_check_digit, parse_epc
from supplyledger.node.audit import run_audit

from .conftest import T0, error_of, sql

WHEN = "2019-12-19T08:00:00.000+08:00"
PREFIX = "0614141"  # recorded for the owner


def sscc(prefix: str, serial: int) -> str:
    """18 digits: extension digit 3, company prefix, serial reference, check digit."""
    body = "3" + prefix + str(serial).zfill(16 - len(prefix))
    return body + str(gs1_check_digit(body))


def dl(digits: str) -> str:
    return f"https://id.gs1.org/00/{digits}"


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


def seen(ident: str) -> dict[str, Any]:
    return doc(object_event(WHEN, "storing", "active", ident))


def pack(parent: str, lot: str) -> dict[str, Any]:
    return doc({"type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
                "parentID": parent, "action": "ADD", "bizStep": "packing",
                "disposition": "in_progress",
                "childQuantityList": [{"epcClass": lot, "quantity": 1, "uom": "TNE"}]})


class Pallets:
    """An owner with a recorded company prefix, and a stranger (another manufacturer)."""

    def __init__(self) -> None:
        self.w = w = World()
        self.owner = w.participant("manufacturer", "warehouse")
        self.stranger = w.participant("manufacturer", "warehouse")
        self.org = w.get(f"identity/p/{self.owner}")["org"]
        self.other_org = w.get(f"identity/p/{self.stranger}")["org"]
        w.ok(w.admin, "identity", "set_prefixes", {"org": self.org, "prefixes": [PREFIX]})

    def refused(self, who: str, args: dict[str, Any]) -> dict[str, Any]:
        err = self.w.fail("epcis_invalid", who, "trace", "record_events", args)
        first: dict[str, Any] = err["details"]["errors"][0]
        return first


def test_a_stranger_may_not_claim_an_sscc_under_another_organisations_prefix() -> None:
    p = Pallets()
    pallet = dl(sscc(PREFIX, 1))
    e = p.refused(p.stranger, seen(pallet))  # (w.fail: nothing written)
    assert e["code"] == "prefix_owned"
    assert f"prefix {PREFIX} of organisation {p.org}" in e["reason"]
    assert p.w.get(f"trace/o/{pallet}") is None and p.w.get(f"trace/b/{pallet}") is None
    # nor by packing its own lot onto it, nor by writing the URN split elsewhere (the split
    # is notation: the digits are the same key), nor by registering it
    w = p.w
    lot = w.ok(p.stranger, "products", "create_batch", {"gtin": _product(w, p.stranger),
                                                          "lot": "R1", "quantity": "5",
                                                          "uom": "TNE"})["batch"]
    assert p.refused(p.stranger, pack(pallet, lot))["code"] == "prefix_owned"
    digits = sscc(PREFIX, 1)
    urn9 = f"urn:epc:id:sscc:{digits[1:10]}.{digits[0]}{digits[10:17]}"
    assert parse_epc(urn9).canonical == pallet
    assert p.refused(p.stranger, seen(urn9))["code"] == "prefix_owned"
    err = w.fail("prefix_owned", p.stranger, "products", "register_unit", {"sscc": digits})
    assert err["details"] == {"prefix": PREFIX, "owner": p.org}
    assert w.get(f"products/u/{pallet}") is None


def test_the_prefix_owner_claims_and_registers_its_ssccs() -> None:
    p = Pallets()
    w, first, second = p.w, dl(sscc(PREFIX, 1)), sscc(PREFIX, 2)
    urn = parse_epc(first).to_urn(len(PREFIX))
    w.ok(p.owner, "trace", "record_events", seen(urn))
    assert w.get(f"trace/o/{first}")["org"] == p.org
    w.ok(p.owner, "products", "register_unit", {"sscc": second})
    # once the owner has it, the usual rules hold: the stranger still may not touch it
    e = p.refused(p.stranger, seen(first))
    assert e["code"] == "forbidden" and "first recorded by organisation" in e["reason"]
    # an inspector's inspection claims nothing, so it needs no prefix
    lab = w.participant("inspector")
    w.ok(lab, "trace", "record_events",
         doc(object_event(WHEN, "inspecting", "active", dl(sscc(PREFIX, 3)))))
    assert w.get(f"trace/o/{dl(sscc(PREFIX, 3))}") is None


def test_unrecorded_prefixes_keep_first_claim() -> None:
    p = Pallets()
    w = p.w
    free = dl(sscc("4006381", 1))  # nobody recorded 4006381: first come, first served
    w.ok(p.stranger, "trace", "record_events", seen(free))
    assert w.get(f"trace/o/{free}")["org"] == p.other_org
    # recording the prefix afterwards does not take back claims already made
    w.ok(w.admin, "identity", "set_prefixes", {"org": p.org, "prefixes": [PREFIX, "4006381"]})
    w.ok(p.stranger, "trace", "record_events", seen(free))
    assert p.refused(p.owner, seen(free))["code"] == "forbidden"
    # but binds the SSCCs nobody claimed yet
    assert p.refused(p.stranger, seen(dl(sscc("4006381", 2))))["code"] == "prefix_owned"
    # SSCCs whose digits only look alike (another prefix) stay free
    w.ok(p.stranger, "trace", "record_events", seen(dl(sscc("06141420", 1))))


def test_overlapping_prefixes_are_refused() -> None:
    p = Pallets()
    w = p.w
    for longer_or_shorter in ("06141412", "061414", PREFIX):
        err = w.fail("prefix_overlap", w.admin, "identity", "set_prefixes",
                     {"org": p.other_org, "prefixes": ["4006381", longer_or_shorter]})
        assert err["details"]["owner"] == p.org and err["details"]["other"] == PREFIX
    # one list: no prefix inside another; digits, 4-12 of them
    for bad in (["4006381", "40063812"], ["123"], ["1234567890123"], ["06a4141"]):
        w.fail("validation_error", w.admin, "identity", "set_prefixes",
               {"org": p.other_org, "prefixes": bad})
    w.fail("not_found", w.admin, "identity", "set_prefixes",
           {"org": "no-such-org", "prefixes": ["4006381"]})
    # the owner's own list may change freely; a prefix it gives up is free for others
    w.ok(w.admin, "identity", "set_prefixes", {"org": p.org, "prefixes": ["061414199"]})
    w.ok(w.admin, "identity", "set_prefixes", {"org": p.other_org, "prefixes": ["06141412"]})
    assert w.get("identity/x/0614") == {"061414199": p.org, "06141412": p.other_org}
    w.ok(w.admin, "identity", "set_prefixes", {"org": p.org, "prefixes": []})
    assert w.get("identity/x/0614") == {"06141412": p.other_org}
    assert w.get(f"identity/g/{p.org}") is None
    rows = w.tables["gs1_prefixes"]
    assert [(r["prefix"], r["org"]) for r in rows.values()] == [("06141412", p.other_org)]


def test_only_an_admin_records_prefixes() -> None:
    p = Pallets()
    for who, org in ((p.owner, p.org), (p.stranger, p.org)):  # not even for itself
        err = p.w.fail("role_denied", who, "identity", "set_prefixes",
                       {"org": org, "prefixes": ["4006381"]})
        assert err["details"]["required"] == ["admin"]


def test_prefixes_on_the_node_show_in_the_table_and_audit_clean(tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger", clock=lambda: T0) as c:
        c.org("packer", ["warehouse"])
        c.org("rival", ["warehouse"])
        packer = c.member("packer", "packer", ["warehouse"])
        rival = c.member("rival", "rival", ["warehouse"])
        c.ok(c.admin, "identity", "set_prefixes", {"org": "packer", "prefixes": [PREFIX]})
        assert error_of(c, rival, "products", "register_unit",
                        {"sscc": sscc(PREFIX, 9)}).code == "prefix_owned"
        c.ok(packer, "products", "register_unit", {"sscc": sscc(PREFIX, 9)})
        c.ok(packer, "trace", "record_events", seen(dl(sscc(PREFIX, 10))))
        assert sql(c, "SELECT prefix, org FROM gs1_prefixes") == [(PREFIX, "packer")]
        assert run_audit(c.dir).ok


def _product(w: World, maker: str) -> str:
    from commerce.conftest import gtin

    g = gtin(77)
    w.ok(maker, "products", "create_product", {"gtin": g, "name": "rye"})
    return g
