"""Review 11: identity rules v2 refuse names (and revocation reasons) that would mislead
the people who read them: control characters (NUL, line breaks, escapes), bidi controls
(U+202E shows "Acme", U+202E, "gnippihs" as "Acmeshipping") and text that is only
whitespace. Rules v1 accepted all of them, and ledgers made under v1 re-execute exactly as
they were decided until an admin adopts v2; a new ledger starts on v2.

Real ledgers (embedded node, SQLite); the v1 ledger is made by a release whose identity
contract implements only v1, then run and audited by this one."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import ValidationError
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import canonical
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.receipts import Receipt
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Keys, Ledger

MISLEADING = [
    ("NUL", "Acme\x00Foods", "control character U+0000"),
    ("line break", "Acme\nFoods", "control character U+000A"),
    ("tab", "\tAcme", "control character U+0009"),
    ("escape", "Acme\x1b[31m", "control character U+001B"),
    ("C1 control", "Acme\x85", "control character U+0085"),
    ("DEL", "Acme\x7f", "control character U+007F"),
    ("right-to-left override", "Acme\u202egnippihs", "bidi control U+202E"),
    ("left-to-right embedding", "\u202aAcme", "bidi control U+202A"),
    ("right-to-left isolate", "Acme\u2067x\u2069", "bidi control U+2067"),
    ("right-to-left mark", "Acme\u200f", "bidi control U+200F"),
    ("only spaces", "   ", "is only whitespace"),
    ("only an ideographic space", "\u3000", "is only whitespace"),
]


def _call(led: Ledger, key: PrivateKey, method: str, args: dict[str, Any]) -> Receipt:
    node = led.nodes[-1]
    return node.submit(led.tx(key, "identity", method, args, time_ms=node.clock())).result(30)


def _rows(led: Ledger) -> tuple[Any, ...]:
    conn = sqlite3.connect(f"file:{led.dir / DB_NAME}?mode=ro", uri=True)
    try:
        return tuple(conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                     for t in ("organisations", "participants", "state"))
    finally:
        conn.close()


def _identity_rules(led: Ledger) -> bytes | None:
    return led.nodes[-1].store.get_state("rules/v/identity")


@pytest.fixture
def v2(ledger: Ledger, keys: Keys) -> Ledger:
    """A new ledger with an organisation and one member, under the rules a new ledger gets."""
    ledger.start()
    assert _call(ledger, keys.admin, "register_org",
                 {"id": "acme", "name": "Acme", "roles": ["supplier"]}).ok
    assert _call(ledger, keys.admin, "register_member",
                 {"org": "acme", "public_key": keys.ed[0].public.b64, "name": "Ann",
                  "roles": ["supplier"]}).ok
    return ledger


def test_a_new_ledger_starts_on_identity_rules_v2(v2: Ledger) -> None:
    newest = load_builtin()["identity"].versions[-1]  # v3 since review 13 (machine keys)
    assert newest >= 2 and _identity_rules(v2) == canonical(newest)


@pytest.mark.parametrize(("what", "text", "why"), MISLEADING, ids=[m[0] for m in MISLEADING])
@pytest.mark.parametrize(("method", "field"), [
    ("register_org", "name"), ("register_member", "name"), ("revoke", "reason")])
def test_v2_refuses_misleading_text_naming_the_field(
        v2: Ledger, keys: Keys, what: str, text: str, why: str, method: str,
        field: str) -> None:
    args = {
        "register_org": {"id": "evil", "name": text, "roles": ["supplier"]},
        "register_member": {"org": "acme", "public_key": keys.ed[1].public.b64, "name": text,
                            "roles": ["supplier"]},
        "revoke": {"did": keys.ed[0].did, "reason": text},
    }[method]
    before = _rows(v2)
    # A new ledger is on identity v5, which refuses such text at admission (review 22):
    # the submitter gets v2's error and no block records it.
    with pytest.raises(ValidationError) as info:
        _call(v2, keys.admin, method, args)
    err = info.value
    assert err.message.startswith(f"{field} ") and why in err.message, err
    assert err.details["arg"] == field
    assert _rows(v2) == before  # no organisation, member or revocation: nothing changed


@pytest.mark.parametrize("name", ["Müller & Söhne GmbH", "東京ロジスティクス",
                                  "O'Brien \u2013 Haulage", " Acme ", "עברית בע\"מ", "x"])
def test_v2_accepts_ordinary_names(v2: Ledger, keys: Keys, name: str) -> None:
    assert _call(v2, keys.admin, "register_org",
                 {"id": "other", "name": name, "roles": ["supplier"]}).ok
    assert _call(v2, keys.admin, "register_member",
                 {"org": "other", "public_key": keys.ed[2].public.b64, "name": name,
                  "roles": ["supplier"]}).ok
    assert _call(v2, keys.admin, "revoke", {"did": keys.ed[2].did, "reason": name}).ok


def test_a_v1_ledger_accepts_them_as_before_until_an_admin_adopts_v2(
        tmp_path: Path, keys: Keys) -> None:
    # Made by a release whose identity contract implements only v1 (genesis names no
    # identity rules), then run and audited by this release.
    old_release = load_builtin()
    old_release["identity"] = dataclasses.replace(old_release["identity"], versions=(1,))
    d = tmp_path / "ledger"
    init_ledger(d, chain=CHAIN, time_ms=T0, node_password="node-pw",
                admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF,
                contracts=old_release)
    led = Ledger(d, keys)
    try:
        led.start()
        assert _identity_rules(led) is None  # v1
        assert _call(led, keys.admin, "register_org",
                     {"id": "evil", "name": "Acme\u202egnippihs", "roles": ["supplier"]}).ok
        assert _call(led, keys.admin, "register_member",
                     {"org": "evil", "public_key": keys.ed[3].public.b64, "name": "  ",
                      "roles": ["supplier"]}).ok
        assert _call(led, keys.admin, "revoke", {"did": keys.ed[3].did,
                                                 "reason": "line\nbreak\x00"}).ok
        r = led.nodes[-1].submit(led.tx(keys.admin, "rules", "adopt",
                                        {"contract": "identity", "version": 2},
                                        time_ms=led.nodes[-1].clock())).result(30)
        assert r.ok, r.error
        r = _call(led, keys.admin, "register_org",
                  {"id": "evil2", "name": "Acme\u202egnippihs", "roles": ["supplier"]})
        assert not r.ok and r.error is not None and r.error["code"] == "validation_error"
    finally:
        for node in led.nodes:
            node.stop()
    # The audit re-executes the v1 blocks under v1 (accepted) and the last under v2.
    report = run_audit(d, workers=0)
    assert report.ok, report.findings[:5]
