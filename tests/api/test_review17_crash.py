"""Review 17: a crashed request (HTTP 500) had its traceback logged twice, once under our
``internal error, reference …`` line and once more by the server ("Exception in ASGI
application"), because Starlette answers a bug outside the app's middleware and re-raises
it. That also meant a HEAD of a crashing page got the whole error page as its body. The
bug is now answered inside the middleware and stops there: logged once, with its
reference; a HEAD gets the 500's status and headers and no body; each security header is
sent once. A bug the app cannot answer in full (a stream that failed midway, a fault in an
outer middleware) still reaches the server, after the same reference line. The crashing
routes are added to the test's own app instance only; app, ledger and node are real."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from _serving import serving_app
from supplyledger.api import create_app

from .conftest import World, login

pytestmark = pytest.mark.anyio
SECRET = "card 4111-1111-1111-1111 of customer 42"
ASGI_LOG = "Exception in ASGI application"
SECURITY = ("x-content-type-options", "referrer-policy", "x-frame-options",
            "content-security-policy")


def _crash() -> None:
    raise RuntimeError(SECRET)


def _broken_stream() -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        yield b"first part"
        raise RuntimeError(SECRET)

    return StreamingResponse(chunks(), media_type="text/plain")


class _OuterFault:
    """A middleware outside the app's own that fails on one path: Starlette's handler of
    last resort answers that."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/review17/outer":
            raise RuntimeError(SECRET)
        await self.app(scope, receive, send)


@pytest.fixture
def app(world: World) -> FastAPI:
    app = create_app(world.service)
    for path in ("/review17/crash", "/api/review17/crash"):
        app.add_api_route(path, _crash, include_in_schema=False)
    app.add_api_route("/review17/stream", _broken_stream, include_in_schema=False)
    app.add_middleware(_OuterFault)
    return app


@pytest.fixture
async def strict(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions (httpx's default): an exception that leaves the app, as it would
    # reach the server, fails the request here.
    async with httpx.AsyncClient(base_url="http://test",
                                 transport=httpx.ASGITransport(app=app)) as c:
        yield c


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and str(r.exc_info[1]) == SECRET]


def _ref_of(rec: logging.LogRecord) -> str:
    m = re.match(r"internal error, reference ([0-9a-f]{8}): (GET|HEAD) /", rec.getMessage())
    assert m, rec.getMessage()
    return m.group(1)


def _headers_once(r: httpx.Response) -> None:
    for name in SECURITY:  # added once, by the middleware: the handler no longer adds them
        assert len(r.headers.get_list(name)) == 1, (name, r.headers.get_list(name))


async def test_a_crash_is_answered_in_the_app_and_logged_once(
        strict: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    await login(strict, "mill")
    page = await strict.get("/review17/crash")  # would raise here if the bug left the app
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    _headers_once(page)
    m = re.search(r"under the reference ([0-9a-f]{8})\.", page.text)
    assert m and SECRET not in page.text
    api = await strict.get("/api/review17/crash")
    assert api.status_code == 500 and api.headers["content-type"] == "application/json"
    _headers_once(api)
    logged = _tracebacks(caplog)
    assert [_ref_of(r) for r in logged] == [m.group(1), api.json()["error"]["details"][
        "reference"]]
    assert all(r.name == "supplyledger.api.errors" for r in logged)


async def test_head_of_a_crashing_page_is_the_status_and_headers_only(
        strict: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    for path, media in (("/review17/crash", "text/html"),
                        ("/api/review17/crash", "application/json")):
        get = await strict.get(path)
        head = await strict.head(path)
        assert head.status_code == 500 and head.content == b"", head.content[:200]
        assert head.headers["content-type"].startswith(media)
        _headers_once(head)
        assert head.headers["x-frame-options"] == "DENY"
        # the GET's headers, bar its body's length (the reference differs per request)
        skip = {"content-length"}
        assert ({k: v for k, v in head.headers.items() if k not in skip}
                == {k: v for k, v in get.headers.items() if k not in skip})
    assert len(_tracebacks(caplog)) == 4  # each request once, HEADs included


async def test_a_bug_the_app_cannot_answer_in_full_still_reaches_the_server(
        app: FastAPI, strict: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    # A stream that failed midway: its status went out as 200, only the server can cut
    # the response short.
    with pytest.raises(RuntimeError, match=re.escape(SECRET)):
        await strict.get("/review17/stream")
    # A fault outside the app's middleware: Starlette's handler answers (with the security
    # headers it adds itself), and re-raises.
    with pytest.raises(RuntimeError, match=re.escape(SECRET)):
        await strict.get("/review17/outer")
    async with httpx.AsyncClient(base_url="http://test", transport=httpx.ASGITransport(
            app=app, raise_app_exceptions=False)) as lenient:
        r = await lenient.get("/review17/outer")
    assert r.status_code == 500 and "<h1>Something went wrong</h1>" in r.text
    _headers_once(r)
    m = re.search(r"under the reference ([0-9a-f]{8})\.", r.text)
    assert m
    # Each is still logged under a reference before the exception goes on.
    refs = [_ref_of(rec) for rec in _tracebacks(caplog)]
    assert len(refs) == 3 and refs[-1] == m.group(1)


def test_served_by_uvicorn_the_traceback_is_logged_once(
        app: FastAPI, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.ERROR)
    with serving_app(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        page = c.get("/review17/crash")
        head = c.head("/review17/crash")
        api = c.get("/api/review17/crash")
        # The control: a stream that fails midway is logged by the server as before.
        with pytest.raises(httpx.HTTPError):
            c.get("/review17/stream")
    err = capfd.readouterr().err  # read after the server stopped: nothing is still to come
    assert page.status_code == head.status_code == api.status_code == 500
    assert head.content == b"" and head.headers["content-type"].startswith("text/html")
    assert re.search(r"under the reference [0-9a-f]{8}\.", page.text)
    assert err.count(ASGI_LOG) == 1, err  # the stream's only
    assert SECRET in err.split(ASGI_LOG, 1)[1]
    # Ours: one traceback per request, each under its reference.
    assert len({_ref_of(rec) for rec in _tracebacks(caplog)}) == 4
    assert len(_tracebacks(caplog)) == 4
