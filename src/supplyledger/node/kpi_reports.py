"""The KPI report and the monthly emissions report: read the facts through the store's
:class:`~supplyledger.store.kpi_rows.KpiQueries`, cut the periods, then compute with
:mod:`supplyledger.logistics.kpi` / :mod:`supplyledger.logistics.emissions_report`.

No SQL here (the store holds it) and no arithmetic (logistics holds it): this module only
assembles, once for every caller — ``supplyledger kpi`` and ``emissions report`` on a
read-only ledger file, ``/api/kpi``, ``/api/emissions`` and the dashboard on the node's
reader.
"""

from __future__ import annotations

from typing import Any

from supplyledger.errors import ValidationError
from supplyledger.logistics import periods as P
from supplyledger.logistics.emissions import FactorTable, load_factors
from supplyledger.logistics.emissions_report import monthly_report
from supplyledger.logistics.kpi import DEFAULT_TARIFFS, Tariff, compute
from supplyledger.store.kpi_rows import KpiQueries

__all__ = ["emissions_report", "kpi_report", "report_periods"]


def report_periods(q: KpiQueries, kind: str | None = None, first: str | None = None,
                   last: str | None = None, *, current: bool = False) -> tuple[str, list[
                       P.Period]]:
    """The periods of a report. ``kind`` is ``month`` or ``week``, one period's label
    (``2026-11``, ``2026-W47``) or ``current``: the month (or with ``current=True`` and
    ``kind``, the week) holding the last block, the ledger's "now". A
    ``first``..``last`` date range alone is one period, with ``kind`` it is cut into the
    months or weeks it overlaps; otherwise every month/week from the first order on."""
    if (first is None) != (last is None):
        raise ValidationError("give both from and to, or neither", arg="from")
    if kind == "current":
        kind, current = None, True
    single = current or (kind is not None and kind not in P.KINDS)
    if single and first is not None:
        raise ValidationError("one named period takes no from/to range", arg="period")
    if kind is not None and kind not in P.KINDS:
        if not kind[:1].isdigit():  # a word, not a period's label: say what is accepted
            raise ValidationError(f"period must be month, week, current or one period "
                                  f"(2026-11, 2026-W47), got {kind!r}", arg="period")
        one = P.week(kind) if "W" in kind else P.month(kind)
        return "week" if "W" in kind else "month", [one]
    as_of = q.as_of()
    if current:
        return kind or "month", [P.containing(kind or "month", as_of)]
    if first is not None and last is not None:
        rng = P.date_range(first, last)
        if kind is None:
            return "range", [rng]
        return kind, [P.Period(max(p.start, rng.start), min(p.end, rng.end), p.label)
                      for p in P.span(kind, rng.start, rng.end - 1)]
    kind = kind or "month"
    start = q.first_activity()
    return kind, [] if start is None else P.span(kind, start, max(start, as_of))


def kpi_report(q: KpiQueries, *, platform: str | None = None, kind: str | None = None,
               first: str | None = None, last: str | None = None, current: bool = False,
               tariffs: dict[str, Tariff] | None = None) -> dict[str, Any]:
    """The KPI report (shape documented in docs/kpi.md): platforms x periods."""
    pid = None if platform is None else q.resolve_platform(platform)
    kind, periods = report_periods(q, kind, first, last, current=current)
    data = q.load(pid, since=min((p.start for p in periods), default=None))
    used = DEFAULT_TARIFFS if tariffs is None else tariffs
    return {
        "height": q.height(), "as_of": data.as_of, "period_kind": kind,
        "periods": [p.label for p in periods],
        "sources": {"orders": q.has("orders"), "ratings": q.has("ratings"),
                    "shipments": data.has_shipments, "sensors": data.has_sensors},
        "assumed": {"tariffs": {c: dict(vars(t)) for c, t in sorted(used.items())},
                    "note": "freight is measured (escrowed by the buyer); storage and "
                            "handling are tariff x measured quantities"},
        "platforms": compute(data, periods, platforms=None if pid is None else [pid],
                             tariffs=used),
    }


def emissions_report(q: KpiQueries, month: str, *, platform: str | None = None,
                     factors: FactorTable | None = None) -> dict[str, Any]:
    """The monthly emissions report (see :mod:`supplyledger.logistics.emissions_report`)."""
    period = P.month(month)
    pid = None if platform is None else q.resolve_platform(platform)
    rep = monthly_report(q.shipment_rows(), period, factors or load_factors(),
                         names=q.names(), platform=pid)
    return {"height": q.height(), "as_of": q.as_of(),
            "shipments_recorded": q.has("shipments"), **rep}
