"""Serving the API for tests: waiting for a ``supplyledger serve`` subprocess to answer
HTTP, serving an app (or a ledger service) in a thread of the test process, the demo and
the API tests' world served that way (the world also on a ledger under older rules), and
the real browser the UI tests drive.

A module that serves a world to a browser assigns the fixtures it needs from here, with
its own parameters (each module its own world: the tests change it)::

    served = demo_fixture("walk", weeks=1, api=CHEAP)
    browser = browser_fixture()
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import pytest

from _rules import older as older_rules
from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.demo import DemoInfo, load_demo
from supplyledger.ingest.broker import free_port
from supplyledger.ledger.crypto import generate
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

if TYPE_CHECKING:
    from api.conftest import World


def wait_serving(proc: subprocess.Popen[Any], port: int, *, within_s: float = 180) -> None:
    """Return once ``/openapi.json`` answers on ``port``; fail the test with the process's
    output if it exits first or ``within_s`` pass (generous: CI machines may be busy)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).is_success:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"serve did not come up: {proc.communicate()!r}")
        time.sleep(0.2)


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on a free loopback port, for
    the tests that drive it with a browser or over the network: its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving_ledger(service: LedgerService) -> Iterator[str]:
    """``service``'s app served as :func:`serving_app` does: its base URL. The service and
    its node are closed after, whatever happened."""
    try:
        with serving_app(create_app(service)) as url:
            yield url
    finally:
        service.node.stop()
        service.close()


# -- a real browser ---------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need_browser() -> None:
    """Skip without Debian's Chromium or the playwright package; in CI (``CI=true``) a
    missing browser is a failure."""
    missing = None
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        missing = "Debian's chromium is not installed (bash scripts/setup.sh installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {missing}")
    pytest.skip(missing)


def log_in(page: Any, url: str, login: str, password: str) -> None:
    """Log ``page`` in through the login form and wait for the dashboard."""
    page.goto(url + "/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")


class Site(Protocol):
    """Something served with logins: :class:`DemoServed`, :class:`WorldServed`."""

    url: str

    def password(self, login: str) -> str: ...


PHONE = {"width": 390, "height": 844}  # a phone's viewport (CSS px)


def page_as(browser: Any, site: Site, login: str, viewport: dict[str, int],
            **options: Any) -> Any:
    """A page of a new context of ``browser`` (``viewport`` and Playwright's context
    ``options``), ``login`` logged in to ``site``; ``page.context.close()`` ends it."""
    p = browser.new_context(viewport=viewport, **options).new_page()
    log_in(p, site.url, login, site.password(login))
    return p


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never downloaded)."""
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def browser_fixture() -> Any:
    """A module-scoped ``browser`` fixture: :func:`chromium`, started after the module's
    ``served`` fixture and so closed before its server stops."""

    @pytest.fixture(scope="module")
    def browser(served: Any) -> Iterator[Any]:
        with chromium() as b:
            yield b

    return browser


# -- the demo, served ---------------------------------------------------------------------------
@dataclass
class DemoServed:
    """The demo consortium on a real node, served on loopback, with its printed logins."""

    url: str
    info: DemoInfo
    service: LedgerService

    def password(self, login: str) -> str:
        return next(pw for lg, pw, _, _ in self.info.logins if lg == login)

    @contextmanager
    def api(self, login: str) -> Iterator[httpx.Client]:
        """A JSON API client with a bearer token."""
        with httpx.Client(base_url=self.url, timeout=60) as c:
            r = c.post("/api/auth/token",
                       json={"login": login, "password": self.password(login)})
            assert r.status_code == 200, r.text
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            yield c

    @contextmanager
    def web(self, login: str) -> Iterator[httpx.Client]:
        """A browser-like client: the session cookie, and the CSRF token for its forms."""
        with httpx.Client(base_url=self.url, timeout=60) as c:
            r = c.post("/api/auth/login",
                       json={"login": login, "password": self.password(login)})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf"]
            yield c

    def did(self, login: str) -> str:
        with self.api(login) as c:
            return str(c.get("/api/auth/me").json()["did"])

    def call(self, login: str, contract: str, method: str,
             args: dict[str, Any]) -> dict[str, Any]:
        """``login`` signs a call over the JSON API: its receipt."""
        with self.api(login) as c:
            receipt: dict[str, Any] = c.post(f"/api/contracts/{contract}/{method}",
                                             json=args).json()["receipt"]
        return receipt

    @property
    def height(self) -> int:
        return self.service.node.height


@contextmanager
def served_demo(data_dir: Path, *, weeks: int, api: ApiSettings,
                now_ms: int | None = None) -> Iterator[DemoServed]:
    """``supplyledger demo`` loaded into ``data_dir`` (``weeks`` of activity, ending at
    ``now_ms`` or now) and served by an in-process node (verification in-process: tests
    share two cores)."""
    info = load_demo(data_dir, weeks=weeks, api=api, now_ms=now_ms)
    node = Node(Settings(data_dir, verify_workers=0),
                load_node_key(data_dir, info.node_password)).start()
    svc = LedgerService(node, api)
    with serving_ledger(svc) as url:
        yield DemoServed(url, info, svc)


def demo_fixture(name: str, *, weeks: int, api: ApiSettings,
                 now_ms: int | None = None) -> Any:
    """A module-scoped ``served`` fixture: :func:`served_demo` in a temporary folder named
    ``name``, loaded once for the module (loading the demo is what takes the time). Tests
    that name the demo's lots pass the ``now_ms`` they compute the names from
    (:func:`~supplyledger.demo.load.demo_lot_ids`): lots are named by their days."""

    @pytest.fixture(scope="module")
    def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServed]:
        with served_demo(tmp_path_factory.mktemp(name) / "ledger", weeks=weeks,
                         api=api, now_ms=now_ms) as s:
            yield s

    return served


# -- the API tests' world, served -----------------------------------------------------------
@dataclass
class WorldServed:
    """A world of ``api.conftest.build_world`` served on loopback, with its passwords."""

    url: str
    world: World
    passwords: dict[str, str]

    def password(self, login: str) -> str:
        return self.passwords[login]

    @contextmanager
    def web(self, login: str) -> Iterator[httpx.Client]:
        """A browser-like client with the login's session cookie."""
        with httpx.Client(base_url=self.url, timeout=30) as c:
            r = c.post("/api/auth/login", json={"login": login,
                                                "password": self.password(login)})
            assert r.status_code == 200, r.text
            yield c


@contextmanager
def served_older_world(data_dir: Path, older: Mapping[str, int]) -> Iterator[WorldServed]:
    """The API tests' world in ``data_dir``, served as :func:`serving_ledger` does, its
    genesis written by a release whose rules of each contract in ``older`` stop at the
    version given (the node runs this release: the newer ones are implemented, not in
    force, until a consortium admin adopts them)."""
    from api import conftest  # (the tests' package: imported once the tests are on the path)

    w = conftest.build_world(data_dir, [generate("ed25519") for _ in range(5)],
                             older_rules(older))
    with serving_ledger(w.service) as url:
        yield WorldServed(url, w, dict(conftest.PASSWORDS))


def count_row_button_reads(store: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the store's ``get_state`` and ``get_states`` calls made for the web's row
    buttons (from api/web/actions.py, but the page's one rules-version read); the counts
    grow in the dict returned."""
    calls = {"get_state": 0, "get_states": 0}
    for name in calls:
        def counted(*a: object, _f: Any = getattr(store, name), _n: str = name) -> Any:
            stack = traceback.extract_stack()
            if any(f.filename.endswith("web/actions.py") for f in stack) and not any(
                    f.name == "rules_version" for f in stack):
                calls[_n] += 1
            return _f(*a)
        monkeypatch.setattr(store, name, counted)
    return calls


BUTTON = re.compile(r'<a class="button small" href="([^"]+)">([^<]+)</a>')


def row_buttons(page: str, keep: Callable[[str], bool] = lambda row: True) -> dict[str, str]:
    """label -> link of the row buttons in the one table row of ``page`` (a body row, with
    cells) that ``keep`` accepts; fails the test unless there is exactly one."""
    rows = [r for r in re.findall(r"<tr[ >].*?</tr>", page, re.S) if "<td" in r and keep(r)]
    assert len(rows) == 1, page[-3000:]
    return {label: html.unescape(href) for href, label in BUTTON.findall(rows[0])}


def form_fields(page: str, action: str) -> dict[str, str]:
    """The fields a browser would send from ``page``'s form posting to ``action`` (inputs
    with a value; a checkbox only when ticked); fails the test if there is no such form."""
    found = re.search(rf'<form [^>]*action="{action}".*?</form>', page, re.S)
    assert found is not None, page[-3000:]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", found[0]):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value and not ('type="checkbox"' in tag and " checked" not in tag):
            fields[name[1]] = html.unescape(value[1])
    return fields
