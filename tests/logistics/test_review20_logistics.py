"""Review 20: a logistics operator's walk through dispatch, periods and bench-readings.

What operators get wrong must be refused with a message that says what and where, and
nothing written: a misspelt key in a dispatch request (it used to be dropped, so a chilled
order could go on any van), a missing coordinate, a request naming its platform by name, a
transporter the ledger does not know (the contract refused it only at commit, leaving a
failed transaction in a block), a month that is no month, a bench-readings run too small
to time anything. Tables name participants the ledger knows. Real ledgers, the wall clock
pinned to the demo's date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Party
from supplyledger.errors import ValidationError
from supplyledger.ledger.keyfile import KdfParams, seal
from supplyledger.logistics.dispatch_request import parse_request
from supplyledger.logistics.periods import month

from .kpi_ledger import Clock
from .test_dispatch_plan_cli import cli
from .test_review16_dispatch_record import NOW, Net, _as, _build, _request

_BASE: dict[str, Any] = {
    "platform": "p",
    "warehouse": {"lat": 52.52, "lon": 13.405, "open": 0, "close": 3_600_000,
                  "outbound_capacity": 10},
    "fleet": [{"vehicle": "V1", "transporter": "t", "capacity": 5,
               "vehicle_class": "van_diesel_avg", "features": ["chilled"]}],
    "orders": {"O1": {"lat": 52.53, "lon": 13.38, "quantity": 1, "requires": ["chilled"]}}}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(NOW)
    monkeypatch.setattr("supplyledger.node.service.wall_clock_ms", c)
    return c


def _with(path: tuple[str | int, ...], key: str, value: Any = None, *, drop: bool = False
          ) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(_BASE))
    obj: Any = doc
    for p in path:
        obj = obj[p]
    if drop:
        del obj[key]
    else:
        obj[key] = value
    return doc


@pytest.mark.parametrize(("path", "key", "where"), [
    ((), "speed", "the request: unknown field 'speed'"),
    (("warehouse",), "opens", "warehouse: unknown field 'opens'"),
    (("fleet", 0), "available_from", "fleet[0]: unknown field 'available_from'"),
    (("orders", "O1"), "require", "orders.O1: unknown field 'require'"),
])
def test_a_misspelt_request_key_is_refused_not_dropped(path: tuple[str | int, ...], key: str,
                                                        where: str) -> None:
    parse_request(_BASE)  # the well-spelt request is read
    with pytest.raises(ValidationError) as info:
        parse_request(_with(path, key, ["chilled"]))
    assert where in info.value.message and "known:" in info.value.message


@pytest.mark.parametrize(("path", "key"), [(("orders", "O1"), "lat"), (("warehouse",), "lon")])
def test_a_missing_coordinate_is_named_as_missing(path: tuple[str, ...], key: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_request(_with(path, key, drop=True))
    axis = "latitude" if key == "lat" else "longitude"
    assert f"{'.'.join(path)}.{key} is missing" in info.value.message
    assert axis in info.value.message


def test_a_month_out_of_range_says_why() -> None:
    with pytest.raises(ValidationError) as info:
        month("2026-13")
    assert "no month 13" in info.value.message
    with pytest.raises(ValidationError) as info:
        month("1969-12")
    assert "1970" in info.value.message
    assert month("2026-11").label == "2026-11"


def test_bench_readings_too_small_to_time_is_refused(tmp_path: Path) -> None:
    res = cli("bench-readings", "--readings", "5", "--batch", "10", "--devices", "2",
              "--data", str(tmp_path))
    assert res.exit_code == 2, res.output
    assert "untimed warm-up" in res.output and "20" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "ledger").exists()  # refused before any ledger was made


def _doc(net: Net, tmp: Path, name: str, **change: Any) -> Path:
    path = _request(net, tmp / f"{name}.json", name, ("O1", "O2"))
    doc = json.loads(path.read_text())
    for key, value in change.items():
        if key == "transporter":
            doc["fleet"][0]["transporter"] = doc["fleet"][1]["transporter"] = value
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))
    return path


def _key(net: Net, tmp: Path) -> Path:
    key = tmp / "shop.key"
    key.write_bytes(seal(net.platform.key, "pw", KdfParams(n=2**10)))
    return key


def test_a_transporter_the_ledger_does_not_know_is_refused_before_signing(
        tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    nobody = "did:sl:" + "0" * 40
    req = _doc(net, tmp_path, "P-X", transporter=nobody)
    txs = net.db("SELECT COUNT(*) FROM txs")
    for more in ((), ("--submit", "--key", str(_key(net, tmp_path)))):
        res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), *more)
        assert res.exit_code == 2, res.output
        assert "the plan would be refused" in res.output and nobody in res.output
    assert net.db("SELECT COUNT(*) FROM txs") == txs  # no failed call in a block
    assert net.db("SELECT COUNT(*) FROM orders WHERE state='placed'") == [(5,)]


def test_a_saved_plan_the_contract_would_refuse_is_not_signed(tmp_path: Path,
                                                               clock: Clock) -> None:
    net = _build(tmp_path, clock)
    good = _doc(net, tmp_path, "P-1")
    saved = tmp_path / "P-1.plan.json"
    made = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(good),
               "--save", str(saved))
    assert made.exit_code == 0, made.output
    # The carrier is revoked between the review and the recording: only the contract's
    # body (its transporter check) sees that.
    _as(net, clock, Party("admin", "consortium", net.c.admin), "identity", "revoke",
        {"did": net.carrier.did, "reason": "fleet sold"})
    txs = net.db("SELECT COUNT(*) FROM txs")
    res = cli("dispatch", "record", str(saved), "--data", str(net.dir), "--key",
              str(_key(net, tmp_path)))
    assert res.exit_code == 2, res.output
    assert "the plan would be refused" in res.output and net.carrier.did in res.output
    assert net.db("SELECT COUNT(*) FROM txs") == txs  # nothing signed
    assert net.db("SELECT COUNT(*) FROM orders WHERE state='placed'") == [(5,)]


def test_a_platform_named_by_name_is_refused_with_its_id(tmp_path: Path,
                                                         clock: Clock) -> None:
    net = _build(tmp_path, clock)
    [(name,)] = net.db("SELECT name FROM participants WHERE did=?", (net.platform.did,))
    for given, hint in ((name, net.platform.did), ("did:sl:" + "1" * 40, "keys show")):
        req = _doc(net, tmp_path, "P-N", platform=given)
        res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req))
        assert res.exit_code == 2, res.output
        assert "is not the participant id of a platform" in res.output and hint in res.output
        assert "ignored" not in res.output  # not solved as if the ledger had no orders


def test_tables_name_the_transporter_and_the_platform(tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    names = dict(net.db("SELECT did, name FROM participants"))
    req = _doc(net, tmp_path, "P-T")
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--submit",
              "--key", str(_key(net, tmp_path)))
    assert res.exit_code == 0, res.output
    assert names[net.carrier.did] in res.output and net.carrier.did[-12:] not in res.output
    shown = cli("dispatch", "show", "P-T", "--data", str(net.dir))
    assert shown.exit_code == 0, shown.output
    assert f"platform {names[net.platform.did]}:" in shown.output
    assert net.platform.did not in shown.output
