"""``supplyledger keys rotate|rewrap``: replace a participant's key without losing its
private records.

A rotation signs ``identity.rotate_key`` with the old key, then re-wraps in ``DATA/private``
every data key wrapped for the participant (:func:`supplyledger.node.private_data.rewrap`).
Order matters: the new key file is written (and synced) before the rotation is sent, so
a rotation the ledger commits never names a key nobody holds; a rotation refused for good
removes it again, and one whose answer is lost keeps it (``keys rewrap`` then finishes).
Everything a user can get wrong (the file, the password, a key that is not the
participant's current one, a revoked participant) is refused before anything is written.

The ledger takes one writer: with no node running the command commits through an
embedded node (as ``tx submit`` does); while ``supplyledger serve`` runs on the directory
it sends the signed transaction to that node's ``/api/tx`` (``--api``). Either way the
re-wrap reads committed state and works on the files of ``DATA/private``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from supplyledger.cli.common import (
    console,
    err_console,
    esc,
    fail,
    handle_errors,
    ledger_chain,
    node_key,
    password,
    print_json,
    signer_key,
)

if TYPE_CHECKING:
    from supplyledger.contracts.runtime import StateReader
    from supplyledger.ledger.crypto import PrivateKey, PublicKey
    from supplyledger.node.private_data import Rewrapped

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

__all__ = ["rewrap_command", "rotate_command"]

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KEY_PW = "SUPPLYLEDGER_KEY_PASSWORD"
NEW_KEY_PW = "SUPPLYLEDGER_NEW_KEY_PASSWORD"  # the new key's, when it differs from the old
ALGOS = ("rsa", "rsa3072", "ed25519")


def _algo_of(key: PublicKey) -> str:
    """The ``keys new`` algorithm name that makes a key like ``key``."""
    if key.kind != "rsa":
        return key.kind
    return "rsa3072" if key.rsa_public().key_size >= 3072 else "rsa"


def _new_password(prompt: str, *, confirm: bool) -> str:
    return os.environ.get(NEW_KEY_PW) or password(KEY_PW, prompt, confirm=confirm)


def _unseal_new(path: Path) -> PrivateKey:
    from supplyledger.errors import KeyFileError
    from supplyledger.ledger.keyfile import unseal

    try:
        return unseal(path.read_bytes(), _new_password(f"Password for {path}", confirm=False))
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc.message}") from None


def _create(path: Path, data: bytes) -> None:
    """Write a new file, never over another, and sync it (and its directory) before the
    ledger is told about the key inside."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextmanager
def _committed_state(data: Path) -> Iterator[StateReader]:
    """Committed state of the ledger in ``data`` through a read-only connection (beside a
    running node, or none)."""
    from supplyledger.store.readonly import open_readonly, state_value

    conn = open_readonly(data)  # NotFound without a ledger there
    try:
        yield lambda key: state_value(conn, key)
    finally:
        conn.close()


class _Unknown(Exception):
    """The rotation was sent and no answer says whether it committed."""


class _Unsent(Exception):
    """Nothing reached the node (connection refused): the rotation did not happen."""


def _refused(exc: Exception) -> bool:
    """The transaction was refused for good; any other failure (a node stopping, a commit
    that timed out) may still let it commit."""
    from supplyledger.errors import (
        ContractError,
        CryptoError,
        TransactionRejected,
        ValidationError,
    )

    return isinstance(exc, ContractError | CryptoError | TransactionRejected | ValidationError)


def _via_api(api: str, raw: bytes) -> dict[str, Any]:
    """Send signed transaction bytes to a running node's ``/api/tx``; its receipt."""
    import httpx

    url = api.rstrip("/") + "/api/tx"
    try:
        r = httpx.post(url, content=raw, headers={"content-type": "application/json"},
                       timeout=120)
    except httpx.ConnectError as exc:  # nothing was sent
        raise _Unsent(f"cannot reach {url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise _Unknown(f"{url}: {exc}") from None
    try:
        body = r.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if r.status_code == 200 and isinstance(body.get("receipt"), dict):
        return dict(body["receipt"])
    if isinstance(body.get("receipt"), dict):  # committed as a failed call
        return dict(body["receipt"])
    err = body.get("error")
    if isinstance(err, dict):
        from supplyledger.errors import error_from_code

        raise error_from_code(str(err.get("code", "")), str(err.get("message", "")),
                              err.get("details"))
    raise _Unknown(f"{url} answered HTTP {r.status_code}")


@handle_errors
def rotate_command(
    data: DataOpt,
    key: Annotated[Path, typer.Option("--key", help="Your current key file (keep it until "
                                                     "the re-wrap is complete).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="New key file (default: KEY with .new before its suffix); never "
        "overwritten.")] = None,
    algo: Annotated[str | None, typer.Option(
        "--algo", "--alg", help="rsa (2048), rsa3072 or ed25519 (default: as the old "
        "key).")] = None,
    api: Annotated[str | None, typer.Option(
        "--api", help="URL of the node serving DATA (supplyledger serve), while it runs, "
        "e.g. http://127.0.0.1:8000.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Rotate your key; your private records stay readable with the new one.

    Signs identity.rotate_key with the old key, then re-wraps your private records' data
    keys for the new one."""
    from supplyledger.ledger.keyfile import read_info
    from supplyledger.node.private_data import reads_private_data
    from supplyledger.node.signers import participant_for

    out = out or key.with_name(f"{key.stem}.new{key.suffix or '.key'}")
    if algo is not None and algo not in ALGOS:
        fail(f"--algo must be one of {', '.join(ALGOS)}")
    if out.exists():  # before any password prompt
        fail(f"{out} exists; refusing to overwrite a key (choose another --out)")
    if not out.parent.is_dir():
        fail(f"{out.parent}: no such directory")
    old_public = read_info(key.read_bytes()).public_key
    with _committed_state(data) as read:
        did = str(participant_for(read, old_public)["did"])  # current, active: or refused
        algo = algo or _algo_of(old_public)
        if algo == "ed25519" and reads_private_data(data, read, did):
            from supplyledger.errors import CryptoError

            raise CryptoError(f"{did} reads private records, whose data keys are wrapped "
                              "with RSA-OAEP: choose --algo rsa or rsa3072")
    if api is None:
        _embedded_free(data)  # before any password: a running node needs --api instead
    old = signer_key(key)
    if api is None:
        _rotate_embedded(data, key, out, algo, did, old, json_out)
    else:
        url = api
        _rotate(data, key, out, algo, did, old, ledger_chain(data), lambda raw: _via_api(url, raw),
                json_out)


@contextmanager
def _use_api() -> Iterator[None]:
    """A running node holds the ledger: say to rotate through it (``--api``)."""
    from supplyledger.errors import LedgerInUse

    try:
        yield
    except LedgerInUse as exc:
        raise LedgerInUse(f"{exc.message.split(';')[0]}: pass --api with the URL of that "
                          "node to rotate through it (nothing was changed)") from None


def _embedded_free(data: Path) -> None:
    from supplyledger.store.lock import check_free

    with _use_api():
        check_free(data)


def _rotate_embedded(data: Path, key: Path, out: Path, algo: str, did: str, old: PrivateKey,
                     json_out: bool) -> None:
    from supplyledger.node.service import Node
    from supplyledger.node.settings import Settings

    nk = node_key(data)
    with _use_api():  # a node started since the check
        node = Node(Settings(data), nk)
    with node:
        def submit(raw: bytes) -> dict[str, Any]:
            return node.submit(raw).result().to_dict()

        _rotate(data, key, out, algo, did, old, node.chain, submit, json_out)


def _rotate(data: Path, key: Path, out: Path, algo: str, did: str, old: PrivateKey,
            chain: str, submit: Callable[[bytes], dict[str, Any]], json_out: bool) -> None:
    from supplyledger.errors import ContractError, NodeError, SupplyLedgerError
    from supplyledger.ledger.crypto import generate
    from supplyledger.ledger.keyfile import seal
    from supplyledger.ledger.tx import make_tx
    from supplyledger.node.service import wall_clock_ms

    new = generate(algo)
    sealed = seal(new, _new_password(f"Password for the new key {out}", confirm=True))
    _create(out, sealed)
    tx = make_tx(old, chain=chain, contract="identity", method="rotate_key",
                 args={"did": did, "public_key": new.public.b64}, time_ms=wall_clock_ms(),
                 nonce=secrets.token_hex(8), signer=did)
    finish = (f"supplyledger keys rewrap --data {data} --old {key} --key {out}")
    try:
        receipt = submit(tx.raw)
    except _Unsent as exc:
        out.unlink(missing_ok=True)
        fail(f"{exc} (nothing was changed)", error_code=NodeError.code)
    except (SupplyLedgerError, _Unknown, TimeoutError) as exc:
        if _refused(exc):  # for good: the new key names nobody
            out.unlink(missing_ok=True)
            raise
        fail(f"the rotation was sent but not confirmed ({exc}); it may still commit, so "
             f"{out} is kept. Run `{finish}`: it finishes the rotation if the ledger names "
             f"the new key, and refuses if it still names the old one (then delete {out} "
             "and rotate again)", error_code=NodeError.code)
    if not receipt.get("ok"):
        out.unlink(missing_ok=True)
        err = receipt.get("error") or {}
        fail(f"the ledger refused the rotation: {err.get('message')} [{err.get('code')}] "
             f"(tx {receipt.get('tx')}; nothing else was changed)",
             error_code=str(err.get("code") or ContractError.code))
    from supplyledger.errors import RevokedKey

    done = f"rotated {did} in tx {receipt.get('tx')}; the new key file is {out}"
    try:
        with _committed_state(data) as read:
            res = _rewrap(data, read, old, new, sealed)
    except RevokedKey:  # DATA does not show the rotation (yet): another node answered
        fail(f"{done}, but the ledger in {data} does not show it yet; when it does, run "
             f"`{finish}`", code=1)
    except (OSError, SupplyLedgerError) as exc:  # the rotation stands: say how to finish
        why = (f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) and exc.filename
               else str(exc))
        fail(f"{done}, but re-wrapping your private records stopped ({why}); fix that and "
             f"finish with `{finish}`", code=1)
    doc = {"did": did, "key_file": str(out), "fingerprint": new.public.fingerprint,
           "tx": receipt.get("tx"), "height": receipt.get("height"), **_summary(res)}
    if json_out:
        print_json(doc)
    else:
        console.print(f"[green]rotated[/] {esc(did)} in block {receipt.get('height')} "
                      f"(tx {receipt.get('tx')})\n  new key file: {esc(out)}\n"
                      f"  fingerprint:  {new.public.fingerprint}", soft_wrap=True)
        _report(res, finish)
    if not res.complete:
        raise typer.Exit(1)


def _rewrap(data: Path, read: StateReader, old: PrivateKey, new: PrivateKey,
            sealed: bytes) -> Rewrapped:
    from supplyledger.node.private_data import rewrap

    return rewrap(data, read, old, new, sealed)


def _summary(res: Rewrapped) -> dict[str, Any]:
    return {"rewrapped": list(res.rewrapped), "earlier": list(res.earlier),
            "unreadable": list(res.unreadable), "missing": list(res.missing),
            "deposit": res.deposit, "complete": res.complete}


def _report(res: Rewrapped, again: str) -> None:
    console.print(f"  private records: {len(res.rewrapped)} re-wrapped for the new key"
                  + (f", {len(res.earlier)} done before" if res.earlier else ""))
    if res.deposit == "replaced":
        console.print("  the key file deposited on this node now holds the new key")
    for rid in res.unreadable:
        err_console.print(f"[yellow]warning:[/] record {esc(rid)}: the wrapped data key "
                          "opens with neither key (wrapped for an older key: run `keys "
                          "rewrap` with that one as --old; else it is lost)", soft_wrap=True)
    for rid in res.missing:
        err_console.print(f"[yellow]warning:[/] record {esc(rid)}: no wrapped data key "
                          "for you on this node", soft_wrap=True)
    if res.deposit == "stale":
        err_console.print("[yellow]warning:[/] the key file deposited on this node holds "
                          "another key; deposit the new key file again", soft_wrap=True)
    if not res.complete:
        err_console.print(f"re-wrap incomplete; fix the above and run `{esc(again)}`",
                          soft_wrap=True)


@handle_errors
def rewrap_command(
    data: DataOpt,
    old: Annotated[Path, typer.Option("--old", help="The key file rotated away from.")],
    key: Annotated[Path, typer.Option("--key", help="The participant's current key file.")],
    json_out: JsonOpt = False,
) -> None:
    """Finish a rotation's re-wrap (cut short, or rotated elsewhere); safe to run again.

    Moves your private records' data keys from OLD to KEY."""
    from supplyledger.ledger.keyfile import read_info
    from supplyledger.node.private_data import rewrap_owner

    sealed = key.read_bytes()
    old_public = read_info(old.read_bytes()).public_key
    new_public = read_info(sealed).public_key
    with _committed_state(data) as read:
        rewrap_owner(read, old_public, new_public)  # before any password prompt
        old_key = signer_key(old)
        new_key = _unseal_new(key)
        res = _rewrap(data, read, old_key, new_key, sealed)
    if json_out:
        print_json({"did": res.did, **_summary(res)})
    else:
        console.print(f"[green]re-wrapped[/] for {esc(res.did)}", soft_wrap=True)
        _report(res, f"supplyledger keys rewrap --data {data} --old {old} --key {key}")
    if not res.complete:
        raise typer.Exit(1)
