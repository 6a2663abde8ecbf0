"""``supplyledger keys new|show|rotate|rewrap``: password-protected key files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from supplyledger.cli.common import (
    console,
    fail,
    handle_errors,
    in_file,
    out_file,
    password,
    print_json,
)

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

app = typer.Typer(help="Create and inspect key files.", no_args_is_help=True)


@app.command("new")
@handle_errors
def new(
    out: Annotated[Path, typer.Argument(help="Key file to create (never overwritten).")],
    alg: Annotated[str, typer.Option(help="rsa (2048), rsa3072 or ed25519.")] = "rsa",
) -> None:
    """Generate a key pair; the private key is stored encrypted under your password."""
    from supplyledger.ledger.crypto import generate
    from supplyledger.node.bootstrap import write_key

    out_file(out, "key file")  # a mistyped directory is not created
    if out.exists():  # before the password prompt
        fail(f"{out} exists; refusing to overwrite a key")
    key = generate(alg)
    write_key(out, key, password("SUPPLYLEDGER_KEY_PASSWORD", "Password for the new key",
                                 confirm=True))
    # soft_wrap: the base64 key stays one line however narrow the terminal, so it can be
    # copied (e.g. into `verify-proof --trust`).
    console.print(f"[green]created[/] {out}\n  id:         {key.did}\n"
                  f"  public key: {key.public.b64}", soft_wrap=True)


@app.command("show")
@handle_errors
def show(
    path: Annotated[Path, typer.Argument(help="Key file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a key file's id and public key (no password needed)."""
    from supplyledger.errors import KeyFileError
    from supplyledger.ledger.keyfile import read_info

    try:
        info = read_info(in_file(path, "key file").read_bytes())
    except KeyFileError as exc:  # named, as a wrong password names it (common.signer_key)
        raise KeyFileError(f"{path}: {exc.message}") from None
    doc = {"did": info.did, "kind": info.public_key.kind, "public_key": info.public_key.b64,
           "fingerprint": info.public_key.fingerprint}
    if json_out:
        print_json(doc)
    else:
        for k, v in doc.items():
            console.print(f"{k:12} {v}", soft_wrap=True)


# Rotation lives in its own module (it talks to the ledger); registered here under `keys`.
from supplyledger.cli.keys_rotate import rewrap_command, rotate_command  # noqa: E402

app.command("rotate")(rotate_command)
app.command("rewrap")(rewrap_command)
