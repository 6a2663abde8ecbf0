"""privacy rules v2: a customer revoked as a participant signs nothing, not even the erasure
of its own data, so under v1 its records could never be erased. A consortium admin now may
erase them, and only them: an active author's record stays the author's to erase."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import AccessDenied, Forbidden, InvalidState
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.node.audit import run_audit
from supplyledger.node.private_data import PrivateData

from .test_review15_privacy import SECRET, _gone, _parties


@dataclass
class Shared:
    """Alice's record, shared with the carrier."""

    c: Consortium
    p: dict[str, Party]
    pd: PrivateData
    rid: str


@pytest.fixture
def shared(consortium: Consortium, rsa_keys: list[PrivateKey]) -> Shared:
    p = _parties(consortium, rsa_keys)
    pd = PrivateData(consortium.node)
    return Shared(consortium, p, pd, pd.share(p["alice"].key, SECRET, [p["carrier"].did]))


@pytest.fixture
def revoked(shared: Shared) -> Shared:
    """The same, once Alice was revoked as a participant."""
    shared.c.ok(shared.c.admin, "identity", "revoke",
                {"did": shared.p["alice"].did, "reason": "account closed"})
    return shared


def test_new_ledgers_run_privacy_v2(consortium: Consortium) -> None:
    assert consortium.rows("SELECT value FROM state WHERE key='rules/v/privacy'")


def test_an_admin_erases_the_record_of_a_revoked_customer(revoked: Shared) -> None:
    c, p, pd, rid = revoked.c, revoked.p, revoked.pd, revoked.rid
    # The author cannot erase it any more: every transaction it signs is refused.
    with pytest.raises(Exception, match="revoked"):
        c.ok(p["alice"], "privacy", "erase", {"record": rid})
    assert pd.read(rid, p["carrier"].key) == SECRET

    res = c.ok(c.admin, "privacy", "erase", {"record": rid})
    admin_did = res["by"]
    assert res["status"] == "erased" and admin_did != p["alice"].did
    assert _gone(c.dir / "private" / "records" / rid)
    with pytest.raises(AccessDenied, match="erased"):
        pd.read(rid, p["carrier"].key)
    assert sorted(c.rows("SELECT change FROM private_access_log WHERE record=?", rid)) == [
        (f"erase by {admin_did}",), ("publish",)]
    assert c.rows("SELECT status, recipients FROM private_records WHERE id=?", rid) == [
        ("erased", "")]
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings


def test_an_admin_may_not_erase_an_active_customers_record(shared: Shared) -> None:
    c, p, pd, rid = shared.c, shared.p, shared.pd, shared.rid
    height = c.node.height
    with pytest.raises(Forbidden, match="active participant") as info:
        c.ok(c.admin, "privacy", "erase", {"record": rid})
    assert info.value.details["author"] == p["alice"].did
    assert c.node.height == height + 1  # the failed call is recorded, the record is not
    assert c.rows("SELECT status FROM private_records WHERE id=?", rid) == [("active",)]
    assert pd.read(rid, p["carrier"].key) == SECRET


def test_only_an_admin_erases_for_a_revoked_author(revoked: Shared) -> None:
    c, p, rid = revoked.c, revoked.p, revoked.rid
    # A reader of the record is no admin: the author's right does not pass to it.
    with pytest.raises(Forbidden, match="only the author"):
        c.ok(p["carrier"], "privacy", "erase", {"record": rid})
    c.ok(c.admin, "privacy", "erase", {"record": rid})
    with pytest.raises(InvalidState, match="erased"):  # once
        c.ok(c.admin, "privacy", "erase", {"record": rid})
