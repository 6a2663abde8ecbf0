"""The node's light future: waiters and callbacks before and after completion."""

from __future__ import annotations

import threading

import pytest

from supplyledger.node.ticket import Ticket


def test_waiters_before_completion_all_wake_with_the_result() -> None:
    t: Ticket[int] = Ticket()
    got: list[int] = []
    ready = threading.Barrier(5)

    def wait() -> None:
        ready.wait()
        got.append(t.result(timeout=10))

    threads = [threading.Thread(target=wait) for _ in range(4)]
    for th in threads:
        th.start()
    ready.wait()
    t.set_result(7)
    for th in threads:
        th.join(timeout=10)
    assert got == [7, 7, 7, 7]
    assert t.result() == 7  # and after completion, without waiting


def test_a_wait_that_times_out_leaves_the_ticket_usable() -> None:
    t: Ticket[int] = Ticket()
    with pytest.raises(TimeoutError):
        t.result(timeout=0.01)
    t.set_exception(ValueError("refused"))
    assert isinstance(t.exception(timeout=1), ValueError)
    with pytest.raises(ValueError, match="refused"):
        t.result()


def test_callbacks_run_once_whether_added_before_or_after_completion() -> None:
    t: Ticket[str] = Ticket()
    seen: list[str] = []
    t.add_done_callback(lambda f: seen.append("before:" + f.result()))
    assert not t.done()
    t.set_result("ok")
    t.add_done_callback(lambda f: seen.append("after:" + f.result()))
    assert seen == ["before:ok", "after:ok"]
    with pytest.raises(RuntimeError, match="already completed"):
        t.set_result("again")
