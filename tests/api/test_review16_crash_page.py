"""Review 16: a page that crashed (an exception outside the error tree) answered Starlette's
plain "Internal Server Error", and nothing tied what the person saw to the node's log. A
browser gets the site's error page, which says something went wrong on the node and gives
a short reference; the log has the same reference with the traceback. ``/api/...`` keeps
its JSON body, ``internal_error`` with the reference in ``details``. Neither tells the
client the exception. The crashing routes are added to the test's own app instance only;
the app, ledger and node are real (in-process over httpx, and once served by uvicorn)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from _serving import serving_app
from supplyledger.api import create_app

from .conftest import World, bearer, login

pytestmark = pytest.mark.anyio
SECRET = "card 4111-1111-1111-1111 of customer 42"  # what a bug's message may hold
REF = re.compile(r"^[0-9a-f]{8}$")


def _crash() -> None:
    raise RuntimeError(SECRET)


@pytest.fixture
def app(world: World) -> FastAPI:
    app = create_app(world.service)
    for path in ("/review16/crash", "/api/review16/crash"):
        app.add_api_route(path, _crash, include_in_schema=False)
    return app


@pytest.fixture
async def crashing(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # Since review 17 the exception stops in the app; were it to reach the transport after
    # the answer (as Starlette re-raises it), keep the answer, as a server does.
    async with httpx.AsyncClient(base_url="http://test", transport=httpx.ASGITransport(
            app=app, raise_app_exceptions=False)) as c:
        yield c


def _logged(caplog: pytest.LogCaptureFixture) -> dict[str, logging.LogRecord]:
    """The log records of internal errors, by the reference they name."""
    found = {}
    for rec in caplog.records:
        m = re.match(r"internal error, reference ([0-9a-f]{8}): ", rec.getMessage())
        if m:
            found[m.group(1)] = rec
    return found


def _no_leak(text: str) -> None:
    assert SECRET not in text and "Traceback" not in text and "RuntimeError" not in text


async def test_a_crashing_page_is_the_error_page_with_a_reference_in_the_log(
        crashing: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="supplyledger.api")
    refs = []
    for who in (None, "mill"):  # logged out and logged in: the page renders for both
        if who:
            await login(crashing, who)
        r = await crashing.get("/review16/crash")
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["x-frame-options"] == "DENY"  # the security headers, as every page
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "<h1>Something went wrong</h1>" in r.text
        assert "Internal Server Error" not in r.text
        m = re.search(r"in the node(?:'|&#39;)s log under the reference ([0-9a-f]{8})\.", r.text)
        assert m, r.text
        refs.append(m.group(1))
        assert "<code>internal_error</code>, HTTP 500" in r.text
        assert ("Back to the dashboard" if who else 'href="/login"') in r.text
        _no_leak(r.text)
    assert refs[0] != refs[1]
    logged = _logged(caplog)
    for ref in refs:  # each reference finds its request and its traceback
        rec = logged[ref]
        assert rec.levelno == logging.ERROR
        assert rec.getMessage().endswith(": GET /review16/crash")
        assert rec.exc_info is not None and str(rec.exc_info[1]) == SECRET
        assert "Traceback" in caplog.text and "in _crash" in caplog.text


async def test_an_htmx_request_that_crashes_gets_the_error_fragment(
        crashing: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="supplyledger.api")
    await login(crashing, "mill")
    r = await crashing.get("/review16/crash", headers={"HX-Request": "true"})
    # As every error for htmx: a fragment for the form's result box, not a whole page.
    assert r.status_code == 200 and "<html" not in r.text
    m = re.search(r"under the reference ([0-9a-f]{8})\.", r.text)
    assert m and m.group(1) in _logged(caplog)
    _no_leak(r.text)


async def test_a_crashing_api_call_is_json_with_the_reference_only(
        crashing: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="supplyledger.api")
    for auth in ({}, await bearer(crashing, "mill")):
        r = await crashing.get("/api/review16/crash", headers=auth)
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-content-type-options"] == "nosniff"
        err = r.json()["error"]
        ref = err["details"]["reference"]
        assert REF.match(ref)
        assert r.json() == {"error": {
            "code": "internal_error",
            "message": "the server failed on this request; its log has the details",
            "details": {"reference": ref}}}
        _no_leak(r.text)
        assert str(_logged(caplog)[ref].exc_info[1]) == SECRET  # type: ignore[index]


async def test_an_error_page_that_fails_too_still_gives_the_reference(
        app: FastAPI, crashing: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="supplyledger.api")
    app.state.once = None  # every page issues a form token: rendering one now fails too
    r = await crashing.get("/review16/crash")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY"
    m = re.search(r"under the reference ([0-9a-f]{8})\.", r.text)
    assert m, r.text
    _no_leak(r.text)
    failed = [rec for rec in caplog.records if m.group(1) in rec.getMessage()]
    assert [str(rec.exc_info[1]) for rec in failed if rec.exc_info] == [
        SECRET, "'NoneType' object has no attribute 'issue'"]


def test_served_by_uvicorn_the_browser_gets_the_page(app: FastAPI) -> None:
    """Through a real server (review 17: which no longer logs the traceback again)."""
    with serving_app(app) as url:
        r = httpx.get(f"{url}/review16/crash", timeout=30)
    assert r.status_code == 500 and "<h1>Something went wrong</h1>" in r.text
    assert re.search(r"under the reference [0-9a-f]{8}\.", r.text)
    _no_leak(r.text)
