"""Ledger commands: init, tx submit, proof, verify-proof, audit, bench, contracts."""

from __future__ import annotations

import json
import re
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import (
    BenchDataOpt,
    bench_ledger,
    console,
    esc,
    fail,
    handle_errors,
    need_node_key,
    new_data_dir,
    node_key,
    open_store,
    out_file,
    password,
    print_json,
    progress_bar,
    signer_key,
    stage_progress,
    write_out,
)
from supplyledger.errors import (
    EncodingError,
    NotFound,
    PayloadTooLarge,
    ProofError,
    StoreError,
    SupplyLedgerError,
    ValidationError,
)

if TYPE_CHECKING:
    from supplyledger.ledger.crypto import PrivateKey
    from supplyledger.node.audit import AuditReport
    from supplyledger.node.service import Node

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NODE_PW = "SUPPLYLEDGER_NODE_PASSWORD"
# An admin's name becomes the file name keys/<name>.key: no path separators, no dot first.
_ADMIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@handle_errors
def init(
    data: DataOpt,
    chain: Annotated[str | None, typer.Option(help="Chain id (default: random).")] = None,
    admin: Annotated[list[str] | None, typer.Option(
        help="Name of a consortium admin to create a key for, DIR/keys/NAME.key "
        "(repeatable; default: one admin named admin).")] = None,
) -> None:
    """Create a ledger: genesis block, node key and admin key files (all encrypted)."""
    from supplyledger.ledger.crypto import generate
    from supplyledger.ledger.tx import MAX_ID, is_id
    from supplyledger.node.bootstrap import init_ledger
    from supplyledger.node.service import wall_clock_ms

    names = admin or ["admin"]
    for name in names:
        if not _ADMIN_NAME.fullmatch(name):
            fail(f"--admin {name!r}: use letters, digits, '.', '_' or '-' (it names the key "
                 "file)")
    if len(set(names)) != len(names):
        fail("--admin names must be different")
    if chain is not None and not is_id(chain):
        fail(f"--chain must be 1-{MAX_ID} characters: every transaction names it")
    new_data_dir(data)  # checked before any password prompt and before anything is written
    chain = chain or f"sl-{secrets.token_hex(4)}"
    node_pw = password(NODE_PW, "Password for the node key", confirm=True)
    admin_pw = password("SUPPLYLEDGER_KEY_PASSWORD", "Password for the admin key(s)",
                        confirm=True)
    admins = [(name, generate("rsa"), admin_pw) for name in names]
    res = init_ledger(data, chain=chain, time_ms=wall_clock_ms(), node_password=node_pw,
                      admins=[(n, k, p) for n, k, p in admins])
    console.print(f"[green]ledger created[/] in {data}\n  chain:   {res.chain}\n"
                  f"  genesis: {res.genesis_hash}\n  node:    {res.node_did}")
    for name, did, path in res.admins:
        console.print(f"  admin {name}: {did}  key file {path}", soft_wrap=True)
    # A web login's password is its key's and has at least 8 characters (api.accounts): say
    # so now, not when the admin first tries to log in.
    if len(admin_pw) < 8:
        console.print("  note: the admin key password has fewer than 8 characters, too few "
                      "for a web login; to use the web UI, rotate the key to a longer "
                      "password first (`supplyledger keys rotate`)")


def _parse_args(text: str) -> dict[str, Any]:
    """``--args`` as a JSON object, read as strictly as the API reads a request body and
    the command reads its other JSON files: a member named twice in one object (Python's
    json keeps the last silently, and the call signed would not be the one written) and
    ``NaN`` or ``Infinity`` (not JSON) are refused before anything is signed."""
    from supplyledger.ledger.encoding import strict_loads

    try:
        value = strict_loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        fail(f"--args is not JSON: {exc}")
    if not isinstance(value, dict):
        fail("--args must be a JSON object")
    return value


def _known_method(contract: str, method: str) -> None:
    """Refuse a misspelt contract or method name here, with the closest names: the node
    would commit it as a failed transaction, a permanent block for a typo (the API refuses
    it the same way)."""
    from difflib import get_close_matches

    from supplyledger.contracts.registry import load_builtin
    from supplyledger.errors import UnknownContract, UnknownMethod

    contracts = load_builtin()
    c = contracts.get(contract)
    if c is None:
        near = get_close_matches(contract, contracts, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"one of {', '.join(contracts)}"
        raise UnknownContract(f"no contract named {contract!r} ({hint})")
    if method not in c.methods:
        near = get_close_matches(method, c.methods, n=1)
        hint = (f"did you mean {near[0]!r}?" if near
                else f"it has {', '.join(sorted(c.methods))}")
        raise UnknownMethod(f"contract {contract!r} has no method {method!r} ({hint})")


def _registered_as(node: Node, key: PrivateKey, contract: str, method: str,
                   args: dict[str, Any]) -> str:
    """The participant id ``key`` signs for, checked as the web API checks a call before
    signing (:func:`supplyledger.node.signers.registered_as`): a refused call is thus not
    written to the ledger as a failed transaction."""
    from supplyledger.node.signers import registered_as

    return registered_as(node.store.get_state, key.public, node.contracts, contract, method,
                         args)


@handle_errors(ok=False)
def submit(
    contract: Annotated[str, typer.Argument(help="Contract name, e.g. identity.")],
    method: Annotated[str, typer.Argument(help="Method name, e.g. register_org.")],
    data: DataOpt,
    key: Annotated[Path, typer.Option("--key", help="Signer's key file.")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
    json_out: JsonOpt = False,
) -> None:
    """Sign one transaction, commit it through the embedded node and print its receipt."""
    from supplyledger.ledger.tx import make_tx
    from supplyledger.node.service import Node, wall_clock_ms
    from supplyledger.node.settings import Settings
    from supplyledger.store.lock import check_free

    parsed = _parse_args(args)
    _known_method(contract, method)  # before any password prompt
    need_node_key(data)  # no ledger there: said before the signer's password is asked
    check_free(data)  # a running node: its API, not two passwords typed in vain
    signer = signer_key(key)
    with Node(Settings(data), node_key(data)) as node:
        did = _registered_as(node, signer, contract, method, parsed)
        tx = make_tx(signer, chain=node.chain, contract=contract, method=method, args=parsed,
                     time_ms=wall_clock_ms(), nonce=secrets.token_hex(8), signer=did)
        receipt = node.submit(tx.raw).result()
    doc = receipt.to_dict()
    if json_out:
        print_json(doc)
    else:
        err = receipt.error or {}
        why = f"{err.get('message')} [{err.get('code')}]"
        status = "[green]ok[/]" if receipt.ok else f"[red]failed:[/] {esc(why)}"
        console.print(f"tx {receipt.tx_id}\n  block {receipt.height} #{receipt.index}: {status}")
        if receipt.ok:
            console.print(f"  result: {esc(json.dumps(receipt.result))}")
    if not receipt.ok:
        raise typer.Exit(1)


@handle_errors(ok=False)
def proof(
    tx_id: Annotated[str, typer.Argument(help="Transaction id (hex).")],
    data: DataOpt,
    json_out: JsonOpt = False,
) -> None:
    """Print an inclusion proof: tx -> Merkle root -> signed block header."""
    import sqlite3

    from supplyledger.node.proofs import proof_for
    from supplyledger.store.sqlite import DB_NAME

    db = data / DB_NAME
    # open_store's own check, raised here as an error: the line names its code
    if not db.is_file():
        raise NotFound(f"no ledger in {data}")
    try:
        store = open_store(data)
        try:
            doc = proof_for(store, tx_id)
        finally:
            store.close()
    except sqlite3.DatabaseError as exc:  # a file of that name that is no ledger
        raise StoreError(f"{db} cannot be read as a ledger: {exc}") from None
    if json_out:
        print_json(doc)
    else:
        h = doc["block"]["header"]
        console.print(f"tx {doc['tx']['id']} is #{doc['tx']['index']} of block {h['height']} "
                      f"(tx root {h['tx_root'][:16]}…, {len(doc['tx']['path'])} path hashes); "
                      "use --json to save the proof")


# A proof holds one transaction and its receipt (each bounded by the node's limits) and at
# most MAX_PATH hashes per path: a file this large is something else (or /dev/zero).
MAX_PROOF_BYTES = 64 * 2**20


@handle_errors(valid=False)
def verify_proof(
    file: Annotated[Path, typer.Argument(help="Proof JSON written by `proof --json`.")],
    trust: Annotated[list[str] | None, typer.Option(
        help="Trusted node public key (base64 SPKI); repeatable.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a proof offline: no ledger needed."""
    from supplyledger.ledger.proofs import verify_proof as check

    # Exit 2 for a file that is no proof at all (or a --trust that is no key), 1 for a proof
    # that does not check; under --json both print {"valid": false, "code", "error"} (exit 2
    # through handle_errors).
    trusted = None if trust is None else [_trusted_key(k) for k in trust]
    doc = _read_proof(file)
    try:
        res = check(doc, trusted_keys=trusted)
    except ProofError as exc:
        if json_out:
            print_json({"valid": False, "code": exc.code, "error": exc.message})
        else:
            console.print(f"[bold red]INVALID[/] {esc(exc.message)}")
        raise typer.Exit(1) from None
    signer = _claimed_signer(doc["tx"]["raw"])
    error = (res.receipt.get("error") or {}).get("code")
    out = {"valid": True, "tx": res.tx_id, "height": res.height, "block": res.block_hash,
           "chain": res.chain, "proposer": res.proposer, "signer": signer, "tx_ok": res.ok,
           "signer_verified": res.signer_verified, "proposer_trusted": trust is not None}
    if json_out:
        print_json(out)
    else:
        # The block is the node's, the transaction its signer's: name both, and the outcome,
        # since a refused call is on the ledger (and provable) as much as an accepted one.
        # (Escaped: an untrusted proof's ids may be any text.)
        who = esc(signer) if signer else "(no signer id)"
        console.print(f"[bold green]VALID[/] tx {res.tx_id} in block {res.height} of "
                      f"{esc(res.chain)} (block signed by node {esc(res.proposer)}"
                      + (")" if trust else "; pass --trust to pin the node key)"),
                      soft_wrap=True)
        console.print("  receipt: " + ("ok" if res.ok else f"failed: {esc(str(error))}"))
        if res.signer_verified:
            console.print(f"  signed by {who}", soft_wrap=True)
        else:  # the signer rotated its key since, or it was removed
            console.print(f"  signer {who}: the transaction's own signature was not "
                          "checked, the proof carries no signer key", soft_wrap=True)


def _trusted_key(text: str) -> str:
    """A ``--trust`` value as the proof check compares keys. A value that is no public key
    (a participant id, a fingerprint, a truncated paste) is a mistake in the command, not a
    proof signed by another node: refused (exit 2) rather than reported INVALID."""
    from supplyledger.ledger.crypto import PublicKey

    try:
        return PublicKey.from_b64(text).b64
    except SupplyLedgerError as exc:
        what = ("a participant id, not a key" if text.startswith("did:")
                else exc.message)
        raise ValidationError(f"--trust {text[:48]!r} is not a public key ({what}): give "
                              "the public_key of `supplyledger keys show DIR/node.key "
                              "--json`", arg="trust") from None


def _read_proof(file: Path) -> Any:
    """The JSON document in ``file``, not yet checked as a proof."""
    with file.open("rb") as f:
        text = f.read(MAX_PROOF_BYTES + 1)
    if len(text) > MAX_PROOF_BYTES:
        raise PayloadTooLarge(f"{file} is larger than {MAX_PROOF_BYTES // 2**20} MiB, far "
                              "more than any proof", size=len(text),  # at least: not read on
                              limit=MAX_PROOF_BYTES)
    try:
        return json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EncodingError(f"{file} is not JSON: not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start})") from None
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise EncodingError(f"{file} is not JSON: {exc}") from None


def _claimed_signer(raw: str) -> str | None:
    """The signer a proven transaction names. Without --trust a proof is only consistent
    with itself, so its bytes may be anyone's: read them without assuming their shape."""
    from supplyledger.ledger.encoding import decode

    try:
        env = decode(raw.encode("utf-8")).get("env")
    except (AttributeError, SupplyLedgerError):
        return None
    signer = env.get("signer") if isinstance(env, dict) else None
    return signer if isinstance(signer, str) else None


@handle_errors(ok=False)
def audit(data: DataOpt, json_out: JsonOpt = False) -> None:
    """Re-check the whole ledger from genesis. Exit 0 when clean, 1 with findings."""
    from supplyledger.node.audit import run_audit

    with progress_bar() as bar:
        task = bar.add_task("auditing blocks", total=None)
        report = run_audit(data, progress=lambda h, n: bar.update(task, completed=h, total=n))
    if json_out:
        print_json(report.to_dict())
    else:
        colour = "green" if report.ok else "red"
        console.print(f"[bold {colour}]{'CLEAN' if report.ok else 'FINDINGS'}[/]: "
                      f"{report.blocks} blocks, {report.txs} transactions")
        _print_findings(report)
    if not report.ok:
        raise typer.Exit(1)


AUDIT_SHOWN = 50  # findings printed for people; --json lists every one


def _print_findings(report: AuditReport) -> None:
    """One block per finding (where it is on one line, the detail wrapped below it), then
    the tables not covered. A table squeezed the detail into its last column, one or two
    words a line at 80 columns. Values go in as plain Text, never markup: a tampered row
    may hold ``[/]``."""
    from rich.padding import Padding
    from rich.text import Text

    findings = report.findings
    for f in findings[:AUDIT_SHOWN]:
        head = Text(f.kind, style="bold red")
        tx = f.tx if f.tx is None or len(f.tx) <= 17 else f.tx[:16] + "…"
        for label, value in (("height", f.height), ("tx", tx), ("table", f.table),
                             ("row", f.row)):
            if value is not None and value != "":
                head.append(f"  {label} ", style="dim")
                head.append(str(value))
        console.print(head)
        console.print(Padding(Text(f.detail), (0, 0, 0, 4), expand=False))
    if len(findings) > AUDIT_SHOWN:
        console.print(f"… and {len(findings) - AUDIT_SHOWN} more findings (--json lists "
                      "them all)")
    for u in report.uncovered_tables:
        console.print(Padding(Text(f"not covered: {u['table']} — {u['reason']}"),
                              (0, 0, 0, 2), expand=False))


@handle_errors
def bench(
    txs: Annotated[int, typer.Option(min=1, help="Transactions in the saturation phase.")]
    = 200_000,
    sig: Annotated[str, typer.Option(help="Signature scheme: rsa or ed25519.")] = "rsa",
    data: BenchDataOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure committed throughput, latency and this machine's limit in one run."""
    from supplyledger.bench.ledger import run_bench

    if sig not in ("rsa", "ed25519"):
        fail("--sig must be rsa or ed25519")
    if data is not None and (data / "ledger").exists():
        fail(f"{data / 'ledger'} exists; choose an empty directory")
    with stage_progress() as progress:
        res = run_bench(txs=txs, sig=sig, data_dir=data, progress=progress)
    if json_out:
        print_json(res)
        return
    t = Table("measure", "value", title=f"supplyledger bench: {txs} txs, {sig}")
    t.add_row("committed throughput", f"{res['tps']:,.0f} tx/s")
    t.add_row("limit (2 cores: verify + SHA-256 + row write)", f"{res['limit_tps']:,.0f} tx/s")
    t.add_row("ratio", f"{res['ratio']:.2f}")
    t.add_row(f"latency at half load ({res['offered_tps']:,.0f} tx/s offered)",
              f"p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    t.add_row("latency at saturation", f"p50 {res['saturated_p50_ms']} ms, "
              f"p99 {res['saturated_p99_ms']} ms")
    cpu, stages = res["cpu_us_per_tx"], res["stage_us_per_tx"]
    if cpu is not None:
        t.add_row("CPU per transaction at saturation",
                  f"main {cpu['main']:.0f} + commit {cpu['commit']:.0f} + verifiers "
                  f"{cpu['verifiers']:.0f} = {cpu['total']:.0f} µs "
                  f"({cpu['total'] * res['tps'] / 1e6:.2f} cores busy)")
    t.add_row("a verifier's checks, one core",
              f"parse {stages['parse']:.0f} + signature {stages['verify']:.0f} + prepare "
              f"{stages['prepare']:.0f} µs per transaction")
    t.add_row("ledger", bench_ledger(res["data_dir"]))
    console.print(t)


@handle_errors
def contracts(
    out: Annotated[Path | None, typer.Option(help="Write Markdown here (else stdout).")] = None,
) -> None:
    """Reference of every contract method (arguments, roles, errors), from the code."""
    from supplyledger.contracts.docs import contracts_markdown

    if out is not None:
        out_file(out, "--out")
    text = contracts_markdown()
    if out is None:
        sys.stdout.write(text)
    else:
        write_out(out, text)
        console.print(f"wrote {out}")
