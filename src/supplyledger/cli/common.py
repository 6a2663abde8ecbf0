"""Shared CLI plumbing: consoles, progress bars, passwords, and turning errors into exit
codes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from supplyledger.errors import SupplyLedgerError

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["console", "err_console", "fail", "handle_errors", "password", "print_json",
           "progress_bar", "stage_progress"]

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
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not sys.stderr.isatty())


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


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}")
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
        except FileNotFoundError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]
