"""Review 24: identity rules v6 refuse a key rotation to an unusable key before execution,
as v5 already did a member's registration, and word an unusable key in supplyledger's own
terms. Under v1 to v5 the refusal appends the base64 and crypto libraries' messages, which
differ between their releases, so a receipt recorded under one release could re-execute to
other words under the next; v6 never records the refusal, and its words depend on no
library text. Ledgers at v5 keep recording the failed rotation as before and audit clean."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from _rules import consortiums_start_at
from supplyledger.bench.consortium import Consortium
from supplyledger.errors import CryptoError, ValidationError
from supplyledger.ledger.crypto import PublicKey, generate, spki_fault
from supplyledger.node.audit import run_audit


def _spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


RSA_1024 = _spki(rsa.generate_private_key(65537, 1024))
P_256 = _spki(ec.generate_private_key(ec.SECP256R1()))
# Each unusable key, as base64 text, and how v6 words what is wrong with it.
UNUSABLE = {
    "not base64": ("A" * 43 + "!",
                   "it is not base64 (standard alphabet, padded)"),
    "not DER": ("A" * 44, "it is not a DER-encoded SubjectPublicKeyInfo"),
    "RSA-1024": (base64.b64encode(RSA_1024).decode(),
                 "it is an RSA key of 1024 bits, not 2048, 3072 or 4096"),
    "P-256": (base64.b64encode(P_256).decode(), "it is neither an RSA nor an Ed25519 key"),
}


def _library_words(b64: str) -> str:
    """What rules v1 to v5 say of ``b64``: the libraries' message appended."""
    try:
        PublicKey.from_spki(base64.b64decode(b64, validate=True))
    except (CryptoError, ValueError) as exc:
        return f"public_key is not a usable key: {exc}"
    raise AssertionError("a usable key")


def test_spki_fault_takes_exactly_the_keys_a_participant_can_hold() -> None:
    for alg in ("rsa", "rsa3072", "ed25519"):
        assert spki_fault(generate(alg).public.spki) is None
    assert spki_fault(b"") == "it is not a DER-encoded SubjectPublicKeyInfo"
    assert spki_fault(RSA_1024) == UNUSABLE["RSA-1024"][1]
    assert spki_fault(P_256) == UNUSABLE["P-256"][1]
    for spki in (RSA_1024, P_256, b"\x00" * 33):  # the same keys the crypto layer refuses
        with pytest.raises(CryptoError):
            PublicKey.from_spki(spki)


def test_v6_refuses_rotation_to_an_unusable_key_at_submission_in_its_own_words(
        tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger") as c:
        assert c.rows("SELECT MAX(version) FROM rules_adopted WHERE contract = 'identity'"
                      ) == [(6,)]
        c.org("haul", ["transporter"])
        who = c.member("haul", "haul", ["transporter"])
        other = c.member("other", "haul", ["transporter"])
        height, state = c.node.height, c.rows("SELECT key, value FROM state ORDER BY key")
        for name, (b64, words) in UNUSABLE.items():
            with pytest.raises(ValidationError) as exc:
                c.call(who, "identity", "rotate_key", {"did": who.did, "public_key": b64})
            assert exc.value.message == f"public_key is not a usable key: {words}", name
            assert exc.value.details == {"arg": "public_key"}
            # A member's registration is refused in the same words.
            with pytest.raises(ValidationError) as exc:
                c.call(c.admin, "identity", "register_member",
                       {"org": "haul", "public_key": b64, "name": "Ann",
                        "roles": ["transporter"]})
            assert exc.value.message == f"public_key is not a usable key: {words}", name
        # The admission runs first: rotating another's key is refused for the key, which
        # the body (v1 to v5) would have refused as forbidden.
        with pytest.raises(ValidationError):
            c.call(other, "identity", "rotate_key",
                   {"did": who.did, "public_key": UNUSABLE["not DER"][0]})
        assert c.node.height == height
        assert c.rows("SELECT key, value FROM state ORDER BY key") == state
        new = generate("rsa")
        c.ok(who, "identity", "rotate_key", {"did": who.did, "public_key": new.public.b64})
        assert c.rows("SELECT fingerprint FROM participants WHERE did = ?", who.did) == [
            (new.public.fingerprint,)]
    assert run_audit(tmp_path / "ledger", workers=0).ok


def test_v5_still_records_the_failed_rotation_in_the_libraries_words_and_audits_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    consortiums_start_at(monkeypatch, {"identity": 5})
    with Consortium(tmp_path / "ledger") as c:
        c.org("haul", ["transporter"])
        who = c.member("haul", "haul", ["transporter"])
        b64 = UNUSABLE["not DER"][0]
        r = c.call(who, "identity", "rotate_key", {"did": who.did, "public_key": b64})
        assert not r.ok and r.error == {"code": "validation_error",
                                        "message": _library_words(b64),
                                        "details": {"arg": "public_key"}}
        assert c.rows("SELECT COUNT(*) FROM txs WHERE ok = 0") == [(1,)]
        # Adopting v6 stops the recording; the v5 block re-executes as it was decided.
        c.ok(c.admin, "rules", "adopt", {"contract": "identity", "version": 6})
        with pytest.raises(ValidationError, match="not a DER-encoded"):
            c.call(who, "identity", "rotate_key", {"did": who.did, "public_key": b64})
        assert c.rows("SELECT COUNT(*) FROM txs WHERE ok = 0") == [(1,)]
    report = run_audit(tmp_path / "ledger", workers=0)
    assert report.ok, report.findings[:3]
