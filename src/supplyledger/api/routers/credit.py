"""Credit reads for a financier: a participant's latest recorded assessment, with its
factors as a list (the ``credit_assessments`` table keeps them as JSON text) and the period
and data it was computed from; and the open exposure of a financier per seller and
currency, which no table sums.

Both are read from the ledger's state and the ``financing`` table; nothing here computes a
score (``credit.assess`` does, on the ledger)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from supplyledger.api.auth import current, service_of
from supplyledger.api.openapi import answer
from supplyledger.api.reads import Reads
from supplyledger.api.routers.common import declared_query
from supplyledger.api.service import Principal
from supplyledger.errors import NotFound

__all__ = ["OPEN", "Assessment", "Exposure", "assessment", "exposure", "router"]

router = APIRouter(tags=["credit"], dependencies=[Depends(declared_query)])
Did = Annotated[str, Path(min_length=1, max_length=128)]
# Financing states with money at risk: advanced and not yet settled by the escrow.
OPEN = ("approved",)
_PAGE = 500


class Assessment(BaseModel):
    """The latest recorded assessment (documents the answer; returned as recorded)."""

    model_config = ConfigDict(extra="allow")
    subject: str
    score: int
    max: int
    grade: str
    factors: list[dict[str, Any]] = Field(description="{factor, meaning, evidence, value "
                                          "(decimal string), weight, points}, in order")
    volume: dict[str, int] = Field(description="orders settled, minor units per currency")
    at: int = Field(description="the assessment's time (epoch ms)")
    by: str
    tx: str
    period: dict[str, Any] = Field(description="from the ledger's start to at")
    data: dict[str, str] = Field(description="the rows it was computed from")


class Exposure(BaseModel):
    """A financier's open financings per seller and currency, in minor units."""

    model_config = ConfigDict(extra="allow")
    financier: str
    items: list[dict[str, Any]] = Field(description="{seller, currency, orders, advanced, "
                                        "owed, requested, requested_amount}")


def assessment(reads: Reads, did: str) -> dict[str, Any]:
    """The latest ``credit.assess`` of ``did`` as recorded, with what it covers: every
    order statistic of the subject from the ledger's start to the assessment's time."""
    try:
        a = dict(reads.state(f"credit/a/{did}")["value"])
    except NotFound:
        raise NotFound(f"{did} has not been assessed yet: a financier records an "
                       "assessment with credit.assess", subject=did) from None
    a["period"] = {"from": "the ledger's start", "to": a.get("at")}
    a["data"] = {"orders as seller": f"/api/tables/orders?seller={did}",
                 "orders as buyer": f"/api/tables/orders?buyer={did}",
                 "orders as transporter": f"/api/tables/orders?transporter={did}",
                 "financing as seller": f"/api/tables/financing?seller={did}"}
    return a


def exposure(reads: Reads, financier: str, seller: str | None = None) -> list[dict[str, Any]]:
    """Per seller and currency, what ``financier`` has advanced and is owed on financings
    the escrow has not settled yet (state approved), and what waits for its decision."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    filters = {"financier": financier, **({"seller": seller} if seller else {})}
    cursor = None
    while True:
        page = reads.rows("financing", _PAGE, cursor, filters)
        for r in page.items:
            if r["state"] not in (*OPEN, "requested"):
                continue
            row = out.setdefault((r["seller"], r["currency"]), {
                "seller": r["seller"], "currency": r["currency"], "orders": 0,
                "advanced": 0, "owed": 0, "requested": 0, "requested_amount": 0})
            if r["state"] == "requested":
                row["requested"] += 1
                row["requested_amount"] += r["amount"]
            else:
                row["orders"] += 1
                row["advanced"] += r["amount"]
                row["owed"] += r["repay"]
        cursor = page.next_cursor
        if cursor is None:
            return [out[k] for k in sorted(out)]


@router.get("/api/credit/assessments/{did}",
            summary="A participant's latest recorded credit assessment, factor by factor",
            response_model=None, responses=answer(Assessment, "The assessment", 404))
def assessment_of(request: Request, did: Did,
                  who: Principal = Depends(current)) -> dict[str, Any]:
    return assessment(service_of(request).reads, did)


@router.get("/api/credit/exposure",
            summary="A financier's open exposure per seller and currency (minor units)",
            response_model=None, responses=answer(Exposure, "Exposure per seller"))
def exposure_of(request: Request,
                financier: Annotated[str | None, Query(max_length=128, description=(
                    "the financier (default: the caller)"))] = None,
                seller: Annotated[str | None, Query(max_length=128)] = None,
                who: Principal = Depends(current)) -> dict[str, Any]:
    fin = financier or who.did
    return {"financier": fin, "items": exposure(service_of(request).reads, fin, seller)}
