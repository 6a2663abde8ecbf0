"""A light future for submissions: ``concurrent.futures.Future`` builds a Condition per
instance, which at tens of thousands of submissions a second is a measurable share of the
node's time. Same surface: ``result``, ``exception``, ``done``, ``add_done_callback``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Ticket"]

T = TypeVar("T")
_guard = threading.Lock()  # orders callback registration against completion


class Ticket(Generic[T]):
    __slots__ = ("_callbacks", "_done", "_exc", "_gate", "_result")

    def __init__(self) -> None:
        # The gate is made only if someone waits before completion: most tickets are
        # followed by callbacks, and a lock per ticket is a measurable share of submit().
        self._gate: threading.Lock | None = None
        self._done = False
        self._result: T | None = None
        self._exc: BaseException | None = None
        self._callbacks: list[Callable[[Ticket[T]], None]] | None = None

    def done(self) -> bool:
        return self._done

    def _finish(self) -> None:
        with _guard:
            if self._done:
                raise RuntimeError("ticket already completed")
            self._done = True
            callbacks, self._callbacks = self._callbacks, None
            gate = self._gate
        if gate is not None:
            gate.release()  # held since it was made; waiters pass it on
        for cb in callbacks or ():
            cb(self)

    def set_result(self, result: T) -> None:
        self._result = result
        self._finish()

    def set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        self._finish()

    def add_done_callback(self, fn: Callable[[Ticket[T]], None]) -> None:
        with _guard:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def _wait(self, timeout: float | None) -> None:
        if self._done:
            return
        with _guard:
            if self._done:
                return
            gate = self._gate
            if gate is None:
                gate = self._gate = threading.Lock()
                gate.acquire()
        if not gate.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("transaction not committed within the timeout")
        gate.release()

    def result(self, timeout: float | None = None) -> T:
        self._wait(timeout)
        if self._exc is not None:
            raise self._exc
        return self._result  # type: ignore[return-value]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return self._exc
