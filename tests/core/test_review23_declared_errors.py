"""Review 23: a key rotation to a key that cannot be loaded is refused as a
``validation_error`` naming ``public_key``, the participant keeps its key, and the ledger
audits clean. ``identity.rotate_key`` raised that error without declaring it, so
docs/contracts.md did not list it; tests/conftest.py now fails the run on any error a
method raises without declaring it. Identity rules v6 refuse such a rotation before
execution (tests/core/test_review24_key_words.py), so the recorded refusal is v5's."""

from __future__ import annotations

from pathlib import Path

import pytest

from _rules import consortiums_start_at
from supplyledger.bench.consortium import Consortium
from supplyledger.contracts.registry import load_builtin
from supplyledger.ledger.crypto import generate
from supplyledger.node.audit import run_audit

BAD_KEY = "A" * 44  # base64 of 33 zero bytes: no SubjectPublicKeyInfo


def test_rotating_to_an_unusable_key_is_refused_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    consortiums_start_at(monkeypatch, {"identity": 5})
    with Consortium(tmp_path / "ledger") as c:
        c.org("haul", ["transporter"])
        who = c.member("haul", "haul", ["transporter"])
        before = c.rows("SELECT key, value FROM state ORDER BY key")
        r = c.call(who, "identity", "rotate_key", {"did": who.did, "public_key": BAD_KEY})
        assert not r.ok and r.error is not None
        assert r.error["code"] == "validation_error"
        assert r.error["message"].startswith("public_key is not a usable key")
        assert r.error["details"]["arg"] == "public_key"
        assert c.rows("SELECT key, value FROM state ORDER BY key") == before
        # The participant still signs with its key, and a usable new one is taken.
        new = generate("ed25519")
        assert c.ok(who, "identity", "rotate_key",
                    {"did": who.did, "public_key": new.public.b64})["did"] == who.did
    assert run_audit(tmp_path / "ledger").ok


def test_rotate_key_declares_the_error_its_documentation_lists() -> None:
    assert "validation_error" in load_builtin()["identity"].methods["rotate_key"].errors
