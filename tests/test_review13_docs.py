"""Review 13, the docs as a newcomer meets them: examples that must keep working as written,
and what the command line tells a newcomer. Real SQLite ledgers, the real CLI.

* docs/customs.md's command-line session could not be run as written: `customs pay` failed
  with `insufficient_funds`, since nothing put the duties on the seller's account.
* `verify-proof` said "VALID tx … signed by <node id>": the block's proposer read as the
  transaction's signer, and a proven but refused call looked like an accepted one.
* `mqtt-enroll` printed the once-shown password and URL wrapped at the console width, so a
  line break could land inside the URL.
* `init` took an admin key password too short for the web login it must later become.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, columns: int = 200, **env: str) -> Any:
    return CliRunner().invoke(app, list(args), env={
        "COLUMNS": str(columns), "SUPPLYLEDGER_KEY_PASSWORD": "key-password",
        "SUPPLYLEDGER_NODE_PASSWORD": "node", **env})


def _session(doc: str, heading: str) -> list[list[str]]:
    """The `supplyledger tx submit` commands of the bash block under ``heading``, split as
    the shell would (continuation lines joined)."""
    section = doc.split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    commands: list[list[str]] = []
    for line in _lines(block.group(1)):
        words = shlex.split(line, comments=True)
        if words[:3] == ["supplyledger", "tx", "submit"]:
            commands.append(words[3:])
    return commands


def _lines(block: str) -> list[str]:
    """Shell lines: continuations joined, a quoted argument running over lines kept whole."""
    out, pending = [], ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote still open
            continue
        out.append(pending)
        pending = ""
    return out


def _option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_the_customs_session_runs_as_written(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "customs.md").read_text(encoding="utf-8")
    commands = _session(doc, "## From the command line")
    assert [c[:2] for c in commands] == [
        ["customs", "appoint"], ["customs", "set_tariff"], ["customs", "appoint_rates"],
        ["customs", "set_rate"], ["customs", "declare"], ["payments", "deposit"],
        ["customs", "pay"], ["customs", "clear"]]
    with Consortium(tmp_path / "ledger") as c:
        # The orgs and members the session's comment says to register first.
        c.org("zoll", ["customs"])
        c.org("seller", ["supplier"])
        c.org("bank", ["settlement"])
        keys: dict[str, Any] = {"./ledger/keys/alice.key": c.admin,
                                "zoll.key": c.member("zoll", "zoll", ["customs"]),
                                "seller.key": c.member("seller", "seller", ["supplier"]),
                                "bank.key": c.member("bank", "bank", ["settlement"])}
        seller = keys["seller.key"]
        assert isinstance(seller, Party)
        results = []
        for words in commands:
            text = _option(words, "--args").replace("did:sl:…", seller.did)
            results.append(c.ok(keys[_option(words, "--key")], words[0], words[1],
                                json.loads(text)))
    declared, paid, cleared = results[4], results[6], results[7]
    # What the session's comments promise.
    assert (declared["duty"], declared["vat"], declared["due"],
            declared["currency"]) == (3552, 6299, 9851, "EUR")
    assert paid["paid"] == 9851
    assert (cleared["collected"], cleared["account"]) == (9851, "org:zoll")


def test_verify_proof_names_the_signer_and_the_outcome(tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger") as c:
        c.org("shop", ["supplier"])
        shop = c.member("shop", "shop", ["supplier"])
        refused = c.call(shop, "payments", "transfer",
                         {"to": c.admin.did, "currency": "EUR", "amount": 5})
        node = c.node_key.did
    assert not refused.ok
    proof = _run("proof", refused.tx_id, "--data", str(c.dir), "--json")
    assert proof.exit_code == 0, proof.output
    (tmp_path / "proof.json").write_text(proof.output)
    res = _run("verify-proof", str(tmp_path / "proof.json"), columns=40)
    assert res.exit_code == 0, res.output  # the proof holds, whatever the call's outcome
    assert f"(block signed by node {node};" in res.output
    assert "receipt: failed: insufficient_funds" in res.output
    assert f"signed by {shop.did}" in res.output
    as_json = json.loads(_run("verify-proof", str(tmp_path / "proof.json"), "--json").output)
    assert (as_json["signer"], as_json["tx_ok"]) == (shop.did, False)


def test_mqtt_enroll_prints_the_login_unbroken(tmp_path: Path) -> None:
    with Consortium(tmp_path / "ledger") as c:
        c.org("trucks", ["transporter", "device"])
        logger = c.member("logger", "trucks", ["device"])
        c.ok(c.admin, "sensors", "register_device", {"device": logger.did})
    res = _run("mqtt-enroll", "--data", str(c.dir), "--device", logger.did, columns=40)
    assert res.exit_code == 0, res.output
    user = logger.did.removeprefix("did:sl:")
    url = re.search(rf"mqtt://{user}:(\S+)@HOST:PORT", res.output)
    assert url is not None, res.output  # one piece, however narrow the console
    assert f"password {url.group(1)} (shown once)" in res.output


def test_init_says_when_the_admin_password_is_too_short_for_a_web_login(
        tmp_path: Path) -> None:
    short = _run("init", "--data", str(tmp_path / "a"), "--admin", "alice",
                 SUPPLYLEDGER_KEY_PASSWORD="short")
    assert short.exit_code == 0, short.output
    assert "fewer than 8 characters, too few for a web login" in " ".join(
        short.output.split())
    assert "keys rotate" in short.output
    fine = _run("init", "--data", str(tmp_path / "b"), "--admin", "alice")
    assert fine.exit_code == 0, fine.output
    assert "web login" not in fine.output
    # The key file's path is printed whole, to copy into --key.
    assert f"key file {tmp_path / 'b' / 'keys' / 'alice.key'}\n" in fine.output
