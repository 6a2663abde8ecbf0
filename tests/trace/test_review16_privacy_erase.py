"""privacy rules v2: a customer revoked as a participant signs nothing, not even the erasure
of its own data, so under v1 its records could never be erased. A consortium admin now may
erase them, and only them: an active author's record stays the author's to erase."""

from __future__ import annotations

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.errors import AccessDenied, Forbidden, InvalidState
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.node.audit import run_audit
from supplyledger.node.private_data import PrivateData

from .test_review15_privacy import SECRET, _gone, _parties


def test_new_ledgers_run_privacy_v2(consortium: Consortium) -> None:
    assert consortium.rows("SELECT value FROM state WHERE key='rules/v/privacy'")


def test_an_admin_erases_the_record_of_a_revoked_customer(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    c.ok(c.admin, "identity", "revoke", {"did": p["alice"].did, "reason": "account closed"})
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


def test_an_admin_may_not_erase_an_active_customers_record(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    height = c.node.height
    with pytest.raises(Forbidden, match="active participant") as info:
        c.ok(c.admin, "privacy", "erase", {"record": rid})
    assert info.value.details["author"] == p["alice"].did
    assert c.node.height == height + 1  # the failed call is recorded, the record is not
    assert c.rows("SELECT status FROM private_records WHERE id=?", rid) == [("active",)]
    assert pd.read(rid, p["carrier"].key) == SECRET


def test_only_an_admin_erases_for_a_revoked_author(
        consortium: Consortium, rsa_keys: list[PrivateKey]) -> None:
    c = consortium
    p = _parties(c, rsa_keys)
    pd = PrivateData(c.node)
    rid = pd.share(p["alice"].key, SECRET, [p["carrier"].did])
    c.ok(c.admin, "identity", "revoke", {"did": p["alice"].did, "reason": "account closed"})
    # A reader of the record is no admin: the author's right does not pass to it.
    with pytest.raises(Forbidden, match="only the author"):
        c.ok(p["carrier"], "privacy", "erase", {"record": rid})
    c.ok(c.admin, "privacy", "erase", {"record": rid})
    with pytest.raises(InvalidState, match="erased"):  # once
        c.ok(c.admin, "privacy", "erase", {"record": rid})
