"""``supplyledger serve``: the node, the JSON API and the web UI in one process."""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from supplyledger.cli.common import (
    console,
    err_console,
    esc,
    handle_errors,
    need_node_key,
    password,
    unseal_node_key,
)
from supplyledger.errors import NodeError, NodeStopped

# The web stack (FastAPI, pydantic, uvicorn) and the node are imported inside the functions:
# the CLI imports every command module at start, so module-level imports here would slow
# down every `supplyledger` invocation.
if TYPE_CHECKING:
    import uvicorn

    from supplyledger.api import ApiSettings
    from supplyledger.node.service import Node

__all__ = ["check_address", "run_server", "serve"]

NODE_PW = "SUPPLYLEDGER_NODE_PASSWORD"
HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")]
FAILURE_POLL_S = 0.5


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM stops the server as Ctrl-C does. uvicorn shuts down gracefully on it, then
    raises the signal again under the handler it found; the default one would end the
    process there, before the node drains and the local broker stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def check_address(host: str, port: int) -> None:
    """Fail at once, saying what to do, when the server could not listen on ``host:port``,
    rather than after the node has started (a first start after an upgrade rebuilds tables
    first) and "serving" was printed. A probe bound and released, as uvicorn binds
    (SO_REUSEADDR); a program taking the port in the moment between is left to uvicorn."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise NodeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                            f"{_listen_advice(exc, port)}") from None


def _listen_advice(exc: OSError, port: int) -> str:
    """What to do about a failed bind. Only a port in use is another program's doing; a
    name that does not resolve or an address of another machine is a wrong --host."""
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return "give --host an address of this machine"
    if exc.errno == errno.EADDRINUSE:
        return "choose another --port or --host, or stop the program listening there"
    if exc.errno == errno.EACCES and port < 1024:
        return "a --port below 1024 needs privileges: choose a higher one"
    return "choose another --port or --host"


def _warn_open_modes(data: Path) -> None:
    """One warning line per file of the node's secrets that other users may read: the node
    key (sealed, but open to a password guess offline) and the database (the web logins'
    password hashes and sealed keys). A ledger made by an earlier release, or files copied
    with a wide umask, have such modes; the node still starts."""
    from supplyledger.node.bootstrap import NODE_KEY_FILE
    from supplyledger.store.sqlite import DB_NAME

    for name, fix in ((NODE_KEY_FILE, NODE_KEY_FILE), (DB_NAME, f"{DB_NAME}*")):
        path = data / name
        with contextlib.suppress(OSError):
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                err_console.print(f"warning: {esc(path)} is open to users other than its "
                                  f"owner (mode {mode:o}): chmod 600 {esc(data / fix)}",
                                  soft_wrap=True, highlight=False)


def run_server(data: Path, node_password: str, *, host: str, port: int,
               api: ApiSettings, mqtt: str | None = None) -> None:
    """Start the node (default settings: verifier processes on), serve until Ctrl-C, then
    drain the node so every acknowledged transaction is committed. ``mqtt`` (a broker URL,
    or "" for a local mosquitto started and stopped here) also bridges device readings."""
    import uvicorn

    from supplyledger.api import LedgerService, create_app
    from supplyledger.ingest.mqtt import display_url, mqtt_ingest
    from supplyledger.node.receipts import committed_receipt
    from supplyledger.node.service import Node
    from supplyledger.node.settings import Settings

    key = unseal_node_key(data, node_password)
    check_address(host, port)
    _warn_open_modes(data)
    node = Node(Settings(data), key).start()
    service = LedgerService(node, api)
    try:
        app = create_app(service)
        with (nullcontext() if mqtt is None else mqtt_ingest(
                data, mqtt or None, service.submit_raw, key=node.key,
                max_bytes=node.settings.max_tx_bytes,
                lookup=lambda tx: committed_receipt(node.store, tx),
                on_block=node.on_block)) as bridge:
            if bridge is not None:
                console.print(f"[bold green]MQTT ingest[/] {display_url(bridge.url)}: "
                              "devices publish to supplyledger/devices/<id>/readings "
                              "(logins: supplyledger mqtt-enroll); receipts are signed by "
                              f"the node key {node.key.did} (keys show {data}/node.key)",
                              soft_wrap=True)
            console.print(f"[bold green]serving[/] http://{host}:{port}/  (API: "
                          f"http://{host}:{port}/openapi.json) — Ctrl-C to stop",
                          soft_wrap=True)  # one line each in the journal, whatever its width
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                   log_level="warning", access_log=False))
            threading.Thread(target=_stop_when_failed, args=(node, server), daemon=True,
                             name="sl-failure-watch").start()
            with _sigterm_exits(), contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
                server.run()
            if not server.started and node.failure is None:
                raise NodeError("the web server did not start (its error is above)")
    finally:
        node.stop()
        service.close()
    if node.failure is not None:
        cause = ("a process killed from outside, or by the kernel when memory ran out: "
                 "see the system log" if "process died" in str(node.failure)
                 else "free disk space, file permissions")
        raise NodeStopped(f"the node stopped accepting transactions ({node.failure}); "
                          f"nothing it acknowledged is lost. Fix the cause ({cause}), then "
                          "start it again", reason=str(node.failure))


def _stop_when_failed(node: Node, server: uvicorn.Server) -> None:
    """Stop serving once the node has stopped after a failure (a commit that could not be
    written, a verifier process lost): it would refuse every write from then on while
    still answering reads, which a supervisor cannot tell from a healthy node. The
    process exits with the cause, and is restarted once it is fixed."""
    while not server.should_exit:
        if node.check_processes() is not None:
            server.should_exit = True
            return
        time.sleep(FAILURE_POLL_S)


@handle_errors
def serve(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory.")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    secure_cookies: Annotated[bool, typer.Option(
        help="Mark the session cookie Secure (when served behind TLS).")] = False,
    mqtt: Annotated[bool, typer.Option(
        "--mqtt", help="Ingest device readings over MQTT: start a local mosquitto (or use "
        "--mqtt-url).")] = False,
    mqtt_url: Annotated[str | None, typer.Option(
        help="Broker to bridge instead, e.g. mqtt://user@broker:1883 (password in "
        "SUPPLYLEDGER_MQTT_PASSWORD; implies --mqtt).")] = None,
    time_zone: Annotated[str, typer.Option(
        help="Time zone of the web pages for accounts that chose none (IANA name, e.g. "
        "Asia/Shanghai); each account may choose its own.")] = "UTC",
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json) and the web UI for a ledger."""
    from supplyledger.api import ApiSettings
    from supplyledger.store.lock import check_free

    api = ApiSettings(cookie_secure=secure_cookies, time_zone=time_zone)  # (a bad zone: now)
    need_node_key(data)
    check_free(data)  # a running node says so before its password is asked (and unsealed)
    run_server(data, password(NODE_PW, "Node key password"), host=host, port=port,
               api=api,
               mqtt=mqtt_url or ("" if mqtt else None))


@handle_errors(ok=False)
def bench_pages(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory (e.g. the demo's).")],
    rounds: Annotated[int, typer.Option(min=3, max=1000, help="Requests per page.")] = 30,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Latency of every web page and main API read over HTTP (target: p95 <= 200 ms)."""
    from rich.table import Table

    from supplyledger.bench.pages import run_bench_pages
    from supplyledger.cli.common import print_json
    from supplyledger.store.lock import check_free

    need_node_key(data)
    check_free(data)  # as serve: a running node says so before its password is asked
    res = run_bench_pages(data, password(NODE_PW, "Node key password"), rounds=rounds)
    if json_out:
        print_json(res)
    else:
        t = Table("page", "status", "p50 ms", "p95 ms", "max ms",
                  title=f"bench-pages: {rounds} requests per page, ledger height {res['height']}")
        for r in res["pages"]:
            t.add_row(r["page"][:70], str(r["status"]), f"{r['p50_ms']:.1f}",
                      f"{r['p95_ms']:.1f}", f"{r['max_ms']:.1f}")
        console.print(t)
        colour = "green" if res["ok"] else "red"
        console.print(f"[{colour}]worst p95 {res['worst_p95_ms']:.1f} ms "
                      f"(target {res['target_p95_ms']:.0f} ms)[/]")
    if not res["ok"]:
        raise typer.Exit(1)
