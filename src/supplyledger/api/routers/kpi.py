"""Logistics reads: KPIs per platform and period, and the monthly emissions report (the
same reports as ``supplyledger kpi`` and ``supplyledger emissions report``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from supplyledger.api import schemas as s
from supplyledger.api.auth import current, service_of
from supplyledger.api.openapi import answer
from supplyledger.api.routers.common import declared_query
from supplyledger.api.service import Principal
from supplyledger.errors import ValidationError
from supplyledger.node.kpi_reports import emissions_report, kpi_report
from supplyledger.store.kpi_rows import KpiQueries

__all__ = ["router"]

router = APIRouter(tags=["logistics"], dependencies=[Depends(declared_query)])
Platform = Annotated[str | None, Query(max_length=128, description=(
    "platform participant id, name or organisation id; 'direct' = orders with none"))]
Day = Annotated[str | None, Query(max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")]


@router.get("/api/kpi", summary="KPIs per platform and period (definitions in docs/kpi.md)",
            response_model=None, responses=answer(s.KpiReport, "The KPI report", 404))
def kpi(request: Request, platform: Platform = None,
        period: Annotated[str | None, Query(
            max_length=8, pattern=r"^(month|week|current|\d{4}-\d{2}|\d{4}-W\d{2})$",
            description="month | week | current | 2026-11 | 2026-W47")] = None,
        first: Annotated[str | None, Query(alias="from", max_length=10,
                                           pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
        to: Day = None, who: Principal = Depends(current)) -> dict[str, Any]:
    q = KpiQueries(service_of(request).node.store.reader())
    try:
        return kpi_report(q, platform=platform, kind=period, first=first, last=to)
    except ValidationError as exc:
        # A period's label is checked as a month or a week and named so; here the
        # client's parameter is ``period`` (``?period=2026-13`` said arg "month").
        if period is None or exc.details.get("arg") not in ("month", "week"):
            raise
        raise ValidationError(exc.message, **{**exc.details, "arg": "period"}) from None


@router.get("/api/emissions", summary="Monthly freight emissions per platform (ISO 14083)",
            response_model=None, responses=answer(s.EmissionsReport, "The report", 404))
def emissions(request: Request,
              month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
              platform: Platform = None, who: Principal = Depends(current)) -> dict[str, Any]:
    q = KpiQueries(service_of(request).node.store.reader())
    return emissions_report(q, month, platform=platform)
