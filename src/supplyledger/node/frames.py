"""Length-prefixed frames over pipes: the protocol between the node and its workers."""

from __future__ import annotations

from typing import IO

__all__ = ["read_frame", "write_frame"]


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame, or None at end of stream (or on a truncated frame)."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    n = int.from_bytes(head, "big")
    data = stream.read(n)
    return data if len(data) == n else None


def write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()
