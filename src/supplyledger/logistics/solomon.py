"""Reader for the Solomon VRPTW text format.

::

    C101

    VEHICLE
    NUMBER     CAPACITY
      25         200

    CUSTOMER
    CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME
        0      40         50          0          0       1236          0
        1      45         68         10        912        967         90

Customer 0 is the depot; its ready/due times bound every route. Travel time equals Euclidean
distance (speed 1), as in the literature. Every defect is reported as a :class:`SolverError`
that names the line, because a half-read instance would silently solve the wrong problem.
"""

from __future__ import annotations

import math
from pathlib import Path

from supplyledger.errors import SolverError, ValidationError
from supplyledger.logistics.routing import (
    Client,
    Depot,
    RoutingProblem,
    TimeWindow,
    VehicleType,
)

__all__ = ["parse", "read"]


def _fail(message: str, line: int | None, source: str) -> SolverError:
    where = f"{source}:{line}: " if line is not None else f"{source}: "
    return SolverError(where + message, line=line, source=source)


def _numbers(text: str, count: int, line: int, source: str) -> list[float]:
    fields = text.split()
    if len(fields) != count:
        raise _fail(f"expected {count} numbers, found {len(fields)}: {text.strip()!r}",
                    line, source)
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise _fail(f"not a number in {text.strip()!r}", line, source) from None
    if not all(math.isfinite(v) for v in values):
        raise _fail(f"non-finite number in {text.strip()!r}", line, source)
    return values


def _integer(value: float, what: str, line: int, source: str) -> int:
    if value != int(value) or value < 0:
        raise _fail(f"{what} must be a non-negative integer, got {value:g}", line, source)
    return int(value)


def parse(text: str, *, source: str = "<string>") -> RoutingProblem:
    """Parse one Solomon instance; ``source`` names it in error messages."""
    lines = [(no, raw) for no, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    if not lines:
        raise _fail("empty file", None, source)
    name = lines[0][1].strip()
    heads = {raw.strip().upper(): i for i, (_, raw) in enumerate(lines)}
    if "VEHICLE" not in heads or "CUSTOMER" not in heads:
        raise _fail("missing VEHICLE or CUSTOMER section", None, source)
    v, c = heads["VEHICLE"], heads["CUSTOMER"]
    # Each section is: its title, one header line, then data.
    if not v + 2 < c or c + 2 >= len(lines):
        raise _fail("VEHICLE section must come first and both sections need data",
                    lines[min(c, len(lines) - 1)][0], source)
    no, raw = lines[v + 2]
    number, capacity = _numbers(raw, 2, no, source)
    count = _integer(number, "vehicle NUMBER", no, source)

    rows: list[tuple[int, list[float]]] = []
    for no, raw in lines[c + 2:]:
        values = _numbers(raw, 7, no, source)
        cid = _integer(values[0], "customer number", no, source)
        if values[3] < 0 or values[6] < 0:
            raise _fail("demand and service time must be non-negative", no, source)
        if values[4] > values[5]:
            raise _fail(f"ready time {values[4]:g} after due date {values[5]:g}", no, source)
        if any(cid == seen for seen, _ in rows):
            raise _fail(f"customer {cid} appears twice", no, source)
        rows.append((cid, values))
    if rows[0][0] != 0:
        raise _fail("the first customer must be 0, the depot", lines[c + 2][0], source)

    _, (_, dx, dy, _, dready, ddue, _) = rows[0]
    horizon = TimeWindow(dready, ddue)
    try:
        return RoutingProblem(
            name=name,
            depots=(Depot(0, dx, dy, horizon),),
            clients=tuple(
                Client(cid, x, y, demand, TimeWindow(ready, due), service)
                for cid, (_, x, y, demand, ready, due, service) in rows[1:]
            ),
            vehicle_types=(VehicleType(count, capacity, horizon, name="vehicle"),),
        )
    except ValidationError as exc:
        raise _fail(exc.message, None, source) from exc


def read(path: str | Path) -> RoutingProblem:
    """Read a Solomon instance file; unreadable files raise :class:`SolverError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SolverError(f"cannot read {path}: {reason}", source=str(path)) from exc
    return parse(text, source=str(path))
