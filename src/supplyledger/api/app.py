"""``create_app(service)``: the FastAPI application over a :class:`LedgerService`.

One process serves the JSON API (``/api/...``, described at ``/openapi.json``), the web UI
(server-rendered pages) and its static assets, which ship inside the package: the UI works
with no internet access. The interactive Swagger page is off because it loads from a CDN.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplyledger.api.errors import BugBoundary, error_body, install_error_handlers
from supplyledger.api.events import BlockFeed
from supplyledger.api.routers import auth as auth_router
from supplyledger.api.routers import contracts as contracts_router
from supplyledger.api.routers import domain as domain_router
from supplyledger.api.routers import ledger as ledger_router
from supplyledger.api.service import LedgerService

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# Every response carries them: _Guard adds them, and Starlette's handler of last resort for a
# bug's 500 (errors.py), which answers from outside the middleware, reads them from the
# app's state.
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin",
                    "x-frame-options": "DENY", "content-security-policy": CSP}


class _Guard:
    """Refuse bodies over the limit (413) before reading them whole, and add the security
    headers every response carries."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(send, int(length))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    return {"type": "http.disconnect"}
            return msg

        async def secure_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg["headers"] = [*msg.get("headers", []),
                                  *((k.encode(), v.encode())
                                    for k, v in SECURITY_HEADERS.items())]
            await send(msg)

        await self.app(scope, counting_receive, secure_send)
        if seen > self.max_bytes and not started:
            await self._too_large(send, seen)

    async def _too_large(self, send: Send, size: int) -> None:
        body = json.dumps(error_body("payload_too_large",
                                     f"request body is over {self.max_bytes} bytes",
                                     {"size": size, "limit": self.max_bytes})).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _Head:
    """Answer ``HEAD`` wherever ``GET`` is answered (RFC 9110 9.3.2: same status and headers,
    no body), for monitoring probes and link checkers. FastAPI routes take only the methods
    they list, and listing HEAD on each would put HEAD operations into the OpenAPI document
    (and the clients generated from it); so the request runs as a GET and only its status
    and headers are sent. A method GET does not allow (a POST-only route) stays 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False
        with anyio.CancelScope() as answered:

            async def headers_only(msg: Message) -> None:
                nonlocal ended
                if msg["type"] != "http.response.body":
                    await send(msg)
                elif not ended:
                    ended = True
                    await send({"type": "http.response.body", "body": b"",
                                "more_body": False})
                    if msg.get("more_body"):  # a stream (server-sent events) never ends
                        answered.cancel()  # by itself: its headers were the answer

            await self.app({**scope, "method": "GET"}, receive, headers_only)


def _favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the pages link to; answer from the package."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                        headers={"cache-control": "public, max-age=86400"})


def create_app(service: LedgerService) -> FastAPI:
    from supplyledger import __version__
    from supplyledger.api.web import install as install_web

    app = FastAPI(title="supplyledger", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json",
                  description="A tamper-evident, permissioned supply-chain ledger. Log in "
                              "with `POST /api/auth/token` and send `Authorization: Bearer "
                              "<token>`; `POST /api/tx` takes transactions signed by their "
                              "author and needs no login.")
    app.state.service = service
    app.state.feed = BlockFeed(service.node)
    app.state.security_headers = SECURITY_HEADERS
    install_error_handlers(app)
    from supplyledger.api.openapi import install as install_openapi  # error bodies in docs

    install_openapi(app)
    for r in (auth_router.router, ledger_router.router, contracts_router.router,
              domain_router.router):
        app.include_router(r)
    from supplyledger.api.routers import kpi as kpi_router  # KPIs and emissions (issue 6)

    app.include_router(kpi_router.router)
    from supplyledger.api.routers import devices as devices_router  # IoT ingest (issue 6)

    app.include_router(devices_router.router)
    from supplyledger.api.routers import dispatch as dispatch_router  # plans for programs

    app.include_router(dispatch_router.router)
    from supplyledger.api.routers import epcis_rest  # EPCIS 2.0 REST binding (/epcis)

    app.include_router(epcis_rest.router)
    from supplyledger.api.routers import credit as credit_router  # assessments, exposure

    app.include_router(credit_router.router)
    from supplyledger.api.routers import metrics as metrics_router  # Prometheus scrape

    app.include_router(metrics_router.router)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_web(app)
    # Innermost (each add_middleware wraps the ones before): a bug's 500 goes out through
    # _Head (no body for HEAD) and _Guard (the security headers).
    app.add_middleware(BugBoundary)
    app.add_middleware(_Head)
    app.add_middleware(_Guard, max_bytes=service.settings.max_body_bytes)
    return app
