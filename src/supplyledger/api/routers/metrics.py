"""``GET /metrics``: the node's operational metrics for a Prometheus scrape.

Who may read them: the metrics hold no ledger data, but they are operational detail (load,
failure codes, file sizes). A loopback client (a Prometheus or node exporter on the same
host) needs no login; anyone else needs a session or bearer token of an admin or an
auditor: 401 without one, 403 with another role. Behind a reverse proxy on the same host
every request comes from loopback, so a request that carries ``X-Forwarded-For``,
``Forwarded`` or ``X-Real-IP`` is never taken as a loopback scrape (a local Prometheus sends
none); a proxy that sets none of them must not forward ``/metrics``.
"""

from __future__ import annotations

from ipaddress import ip_address

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from supplyledger.api.auth import optional, service_of
from supplyledger.api.errors import Unauthenticated, error_body, status_for
from supplyledger.api.openapi import errors
from supplyledger.errors import RoleDenied, SupplyLedgerError
from supplyledger.node.metrics import CONTENT_TYPE, render

__all__ = ["READERS", "router"]

router = APIRouter(tags=["operations"])
READERS = ("admin", "auditor")


# Set by a proxy that passed the request on: then the loopback peer is the proxy, and
# whether it named the real client in a way uvicorn trusts (X-Forwarded-For from
# 127.0.0.1 only: not over ::1, nor in ``Forwarded``) is not ours to assume.
_FORWARDED = ("x-forwarded-for", "forwarded", "x-real-ip")


def _loopback(request: Request) -> bool:
    if any(h in request.headers for h in _FORWARDED):
        return False
    host = request.client.host if request.client else ""
    try:
        return ip_address(host).is_loopback
    except ValueError:  # "testclient", a unix socket path...: not provably local
        return False


def _refusal(request: Request) -> SupplyLedgerError | None:
    if _loopback(request):
        return None
    who = optional(request)
    if who is None:
        return Unauthenticated("metrics are served to loopback clients, or log in as an "
                               "admin or auditor (session cookie or bearer token)")
    if not who.has(*READERS):
        return RoleDenied("metrics need the admin or auditor role", required=list(READERS),
                          held=sorted(who.roles))
    return None


@router.get("/metrics", summary="Prometheus metrics (loopback, or admin/auditor login)",
            response_class=Response, responses={
                200: {"content": {CONTENT_TYPE: {}},
                      "description": "Prometheus text exposition format 0.0.4"},
                **errors(401, 403)})
def metrics(request: Request) -> Response:
    refused = _refusal(request)
    if refused is not None:
        # Answered here, not by the error handlers: outside /api/ they would send a
        # browser's login page, which a scraper would follow and fail to parse.
        headers = ({"WWW-Authenticate": 'Bearer realm="supplyledger"'}
                   if isinstance(refused, Unauthenticated) else None)
        return JSONResponse(error_body(refused.code, refused.message, refused.details or None),
                            status_for(refused), headers=headers)
    return Response(render(service_of(request).node), media_type=CONTENT_TYPE)
