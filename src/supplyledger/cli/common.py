"""Shared CLI plumbing: consoles, progress bars, passwords, key and ledger loading, and
turning errors into exit codes.

Decisions: ledger data (names, ids, reasons) is printed through Rich, which reads ``[...]`` as
markup, so every renderer passes such text through :func:`esc` (a participant named
``"[/]"`` must not crash everyone's report). Progress bars draw on stderr, so ``--json``
output on stdout stays exactly the document. Read-only commands open a ledger through
:func:`open_store`, which refuses a directory without one instead of creating an empty
database there."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from supplyledger.errors import KeyFileError, SupplyLedgerError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.progress import Progress

    from supplyledger.ledger.crypto import PrivateKey
    from supplyledger.store.sqlite import SQLiteStore

__all__ = ["console", "err_console", "esc", "fail", "handle_errors", "need_node_key",
           "new_data_dir", "node_key", "open_store", "password", "print_json", "progress_bar",
           "signer_key", "stage_progress", "unseal_node_key"]

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def progress_bar() -> Progress:
    """A transient bar on the console, hidden when stderr is not a terminal (pipes, CI)."""
    # Imported here: every command imports this module, few draw bars (start-up time).
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=True,
                    disable=not _stderr_is_terminal())


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def stage_progress() -> Iterator[Callable[[str, int, int], None]]:
    """One bar per named stage; yields the ``progress(stage, done, total)`` callback the
    benchmarks report through."""
    tasks: dict[str, Any] = {}
    with progress_bar() as bar:

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def esc(value: object) -> str:
    """``value`` as text that Rich prints literally (ledger data may contain ``[...]``)."""
    return escape(str(value))


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit ``code``. ``message`` is plain text, not markup."""
    err_console.print(f"[bold red]error:[/] {esc(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def password(env: str, prompt: str, *, confirm: bool = False) -> str:
    """A password from ``$env`` or, on a terminal, a hidden prompt. Never a default."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        fail(f"{prompt}: set {env} or run on a terminal")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def handle_errors(fn: F) -> F:
    """Print a supplyledger error as one clear line and exit 2 (1 is kept for findings)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SupplyLedgerError as exc:
            fail(f"{exc.message} [{exc.code}]")
        except OSError as exc:  # a missing, unreadable or unwritable file or directory
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror
                 else str(exc))

    return wrapper  # type: ignore[return-value]


def signer_key(path: Path) -> PrivateKey:
    """Unseal a key file under ``$SUPPLYLEDGER_KEY_PASSWORD`` (or a prompt); a wrong password
    names the file, since a command may need two passwords."""
    from supplyledger.ledger.keyfile import unseal

    data = path.read_bytes()
    try:
        return unseal(data, password("SUPPLYLEDGER_KEY_PASSWORD", f"Password for {path}"))
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc.message}") from None


def node_key(data: Path) -> PrivateKey:
    """The ledger directory's node key, under ``$SUPPLYLEDGER_NODE_PASSWORD`` (or a prompt)."""
    need_node_key(data)
    return unseal_node_key(data, password("SUPPLYLEDGER_NODE_PASSWORD", "Node key password"))


def unseal_node_key(data: Path, node_password: str) -> PrivateKey:
    """The node key of ``data`` under ``node_password``; a wrong password names the file
    and where the password came from (a command may need two passwords)."""
    from supplyledger.node.bootstrap import NODE_KEY_FILE, load_node_key

    try:
        return load_node_key(data, node_password)
    except KeyFileError as exc:
        raise KeyFileError(f"node key {data / NODE_KEY_FILE}: {exc.message} (the password "
                           "is the node key's, from SUPPLYLEDGER_NODE_PASSWORD or the "
                           "prompt)") from None


def need_node_key(data: Path) -> Path:
    """The node key file of the ledger in ``data``; fails (exit 2) when there is none --
    checked before asking for a password that cannot help."""
    from supplyledger.node.bootstrap import NODE_KEY_FILE

    path = data / NODE_KEY_FILE
    if not path.is_file():
        fail(f"no ledger in {data} (no node key {path})")
    return path


def open_store(data: Path) -> SQLiteStore:
    """The ledger in ``data`` for reading; fails (exit 2) when there is none, rather than
    letting SQLite create an empty database in a wrong directory."""
    from supplyledger.store.sqlite import DB_NAME, SQLiteStore

    if not (data / DB_NAME).is_file():
        fail(f"no ledger in {data}")
    return SQLiteStore(data)


def new_data_dir(data: Path) -> None:
    """Fail unless ``data`` can hold a new ledger: absent, or an empty directory (a new
    ledger never mixes with other files, and a failed check writes nothing)."""
    from supplyledger.store.sqlite import DB_NAME

    if (data / DB_NAME).exists():
        fail(f"{data} already holds a ledger; choose a new directory")
    if data.exists() and not data.is_dir():
        fail(f"{data} is a file, not a directory")
    if data.is_dir() and any(data.iterdir()):
        fail(f"{data} is not empty; choose a new or empty directory")
