"""Shared CLI plumbing: consoles, progress bars, passwords, key and ledger loading, and
turning errors into exit codes.

Decisions: ledger data (names, ids, reasons) is printed through Rich, which reads ``[...]`` as
markup, so every renderer passes such text through :func:`esc` (a participant named
``"[/]"`` must not crash everyone's report). Progress bars draw on stderr, so ``--json``
output on stdout stays exactly the document. Read-only commands open a ledger through
:func:`open_store`, which refuses a directory without one instead of creating an empty
database there. A file a command writes (``--out``, ``--svg``, ``--save``) is checked with
:func:`out_file` before the work it records (and before any signature), and written whole or
not at all by :func:`write_out`.

A refusal (exit 2) under ``--json`` still prints one JSON document on stdout, so a script
reading stdout learns why instead of failing on an empty parse: :func:`handle_errors`
prints ``{**shape, "code", "error"}`` for every refusal of the command it wraps, whether
raised as an error or through :func:`fail`, which carries its message in :class:`Refused`.
The one-line error on stderr and the exit code stay as they are."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, overload

import typer
from rich.console import Console
from rich.markup import escape

from supplyledger.errors import KeyFileError, NotFound, SupplyLedgerError, ValidationError

if TYPE_CHECKING:
    from pathlib import Path

    from rich.progress import Progress

    from supplyledger.ledger.crypto import PrivateKey
    from supplyledger.store.sqlite import SQLiteStore

__all__ = ["FILE_ERROR", "BenchDataOpt", "Refused", "bench_ledger", "console", "err_console",
           "esc", "fail", "handle_errors", "in_file", "ledger_chain", "need_node_key",
           "new_data_dir", "node_key", "open_store", "out_file", "password", "print_json",
           "progress_bar", "signer_key", "stage_progress", "unseal_node_key", "write_out"]

console = Console()
err_console = Console(stderr=True)

# A benchmark's ledger: kept where --data says, else in a temporary directory removed after
# the run (supplyledger.bench.workdir).
BenchDataOpt = Annotated[Path | None, typer.Option(
    "--data", help="Put the ledger in <path>/ledger and keep it there, for audit (default: "
    "a temporary directory, removed when the run ends).")]


def bench_ledger(where: str | None) -> str:
    """A benchmark result's ledger, as its table shows it."""
    return where or "removed (pass --data DIR to keep it for audit)"


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


# The "code" of a refusal that is no supplyledger error: a file the system could not read or
# write (missing, a directory, ...). Not in the error tree: the API never answers with it.
FILE_ERROR = "file_error"


class Refused(typer.Exit):
    """:func:`fail`'s exit, carrying what ``--json`` prints for it (:func:`handle_errors`):
    ``error_code`` and ``error``, the message without the code the line appends."""

    def __init__(self, code: int, error_code: str, error: str) -> None:
        super().__init__(code)
        self.error_code = error_code
        self.error = error


def fail(message: str, code: int = 2, *, error_code: str = ValidationError.code,
         error: str | None = None) -> NoReturn:
    """One line on stderr, then exit ``code``. ``message`` is plain text, not markup;
    ``error_code`` and ``error`` (default: ``message``) are what ``--json`` prints for it.
    The default code is ``validation_error``: most refusals here are a wrong argument."""
    err_console.print(f"[bold red]error:[/] {esc(message)}", soft_wrap=True, highlight=False)
    raise Refused(code, error_code, message if error is None else error)


def password(env: str, prompt: str, *, confirm: bool = False) -> str:
    """A password from ``$env`` or, on a terminal, a hidden prompt. Never a default."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        fail(f"{prompt}: set {env} or run on a terminal")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


@overload
def handle_errors(fn: F, /) -> F: ...


@overload
def handle_errors(fn: None = None, /, **shape: Any) -> Callable[[F], F]: ...


def handle_errors(fn: F | None = None, /, **shape: Any) -> F | Callable[[F], F]:
    """Print a supplyledger error as one clear line and exit 2 (1 is kept for findings).

    Under ``--json`` (a ``json_out`` argument that is true) every refusal, exit 2, also
    prints ``{**shape, "code", "error"}`` on stdout; ``shape`` holds the command's success
    key set false where its document has one (``@handle_errors(ok=False)``)."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return _one_line_errors(fn, *args, **kwargs)
            except Refused as exc:
                if exc.exit_code == 2 and kwargs.get("json_out") is True:
                    print_json({**shape, "code": exc.error_code, "error": exc.error})
                raise

        return wrapper  # type: ignore[return-value]

    return wrap if fn is None else wrap(fn)


def _one_line_errors(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SupplyLedgerError as exc:
        fail(f"{exc.message} [{exc.code}]", error_code=exc.code, error=exc.message)
    except OSError as exc:  # a missing, unreadable or unwritable file or directory
        advice = (" (run the command as the user that owns the file, or fix its "
                  "permissions)" if isinstance(exc, PermissionError) else "")
        what = (f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror
                else str(exc))
        fail(what + advice, error_code=FILE_ERROR)


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
        fail(f"no ledger in {data} (no node key {path})", error_code=NotFound.code)
    return path


def open_store(data: Path) -> SQLiteStore:
    """The ledger in ``data`` for reading; fails (exit 2) when there is none, rather than
    letting SQLite create an empty database in a wrong directory, and raises
    :class:`StoreError` for a database that holds no ledger, before the store's migrations
    would add the ledger's tables to it."""
    import sqlite3

    from supplyledger.errors import StoreError
    from supplyledger.store.readonly import open_file_readonly, table_names
    from supplyledger.store.sqlite import DB_NAME, SQLiteStore

    db = data / DB_NAME
    if not db.is_file():
        fail(f"no ledger in {data}", error_code=NotFound.code)
    conn = open_file_readonly(db)
    try:
        names = set(table_names(conn))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db} cannot be read as a ledger: {exc}") from None
    finally:
        conn.close()
    if not {"blocks", "txs", "state"} <= names:
        raise StoreError(f"{db} holds no ledger: it has no blocks, txs and state tables")
    return SQLiteStore(data)


def new_data_dir(data: Path) -> None:
    """Fail unless ``data`` can hold a new ledger: absent, or an empty directory (a new
    ledger never mixes with other files, and a failed check writes nothing)."""
    from supplyledger.store.sqlite import DB_NAME

    if (data / DB_NAME).exists():
        fail(f"{data} already holds a ledger; choose a new directory",
             error_code=FILE_ERROR)
    if data.exists() and not data.is_dir():
        fail(f"{data} is a file, not a directory", error_code=FILE_ERROR)
    if data.is_dir() and any(data.iterdir()):
        fail(f"{data} is not empty; choose a new or empty directory",
             error_code=FILE_ERROR)


def out_file(path: Path, option: str) -> Path:
    """``path`` if a file can be written there: fails (exit 2), before the work whose
    result it would hold, when it is a directory or its directory is missing or a file."""
    # Worded as the system words them, as the other file errors print (handle_errors).
    parent = path.parent
    if path.is_dir():
        fail(f"{option} {path}: Is a directory (a file is wanted)", error_code=FILE_ERROR)
    if parent.exists() and not parent.is_dir():
        fail(f"{option} {path}: Not a directory ({parent} is a file)",
             error_code=FILE_ERROR)
    if not parent.exists():
        fail(f"{option} {path}: No such file or directory ({parent} does not exist)",
             error_code=FILE_ERROR)
    return path


def in_file(path: Path, option: str) -> Path:
    """``path`` if it is a file to read: fails (exit 2) when it is missing or a directory."""
    if path.is_dir():
        fail(f"{option} {path}: Is a directory (a file is wanted)", error_code=FILE_ERROR)
    if not path.exists():
        fail(f"{option} {path}: No such file or directory", error_code=FILE_ERROR)
    return path


def write_out(path: Path, data: str | bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed over it (a
    full disk or an interrupt leaves the old file, or none, never half of the new one)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ledger_chain(data: Path) -> str:
    """The chain id of the ledger in ``data``, read without a node (NotFound without one)."""
    from supplyledger.errors import NotFound
    from supplyledger.store.readonly import open_readonly

    conn = open_readonly(data)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='chain'").fetchone()
    finally:
        conn.close()
    if row is None:
        raise NotFound(f"no chain id recorded in the ledger in {data}")
    return str(row[0])
