"""Review 22, sensors rules v5 on a real embedded node:

1. a cold-chain band narrower than a logger measures (0.1 °C of temperature, 1 %RH of
   humidity) is refused, naming the band, its width and the minimum; nothing is written.
   Ledgers on older rules keep taking it, so their blocks re-execute as recorded;
2. a breach records the version of its rule it was judged against (state, ``breach`` event,
   ``sensor_breaches``); breaches found before the adoption of v5 leave it empty, and a
   ledger whose table was built before the column existed is rebuilt when a node opens it;
3. the web's cold-chain page says that version, and its form refuses a narrow band before
   anything is signed.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from _rules import up_to
from _serving import DemoServed as Served
from _serving import demo_fixture
from api.conftest import CHEAP
from core.test_upgrade import RELEASES, _unpacked
from supplyledger.bench import consortium
from supplyledger.contracts.builtin._sensors_tables import BREACHES
from supplyledger.errors import ValidationError
from supplyledger.ledger.encoding import decode
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger, load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME
from web.test_review21_cold_chain import YEAST, _rule_form, _text

from ._sensors_world import MIN, RULE, T0, World, build_world, temps

WARM = 12_000  # m°C, above the world's 2-8 °C band


def _on(version: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[World]:
    """The sensors world on a new ledger (None: the newest rules) or on one made by a
    release whose sensors rules end at ``version``."""
    if version is not None:
        monkeypatch.setattr(consortium, "init_ledger",
                            partial(init_ledger, contracts=up_to("sensors", version)))
    for w in build_world(tmp_path / "ledger"):
        assert _rules(w) == (version or 5)
        yield w


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _on(None, tmp_path, monkeypatch)


@pytest.fixture
def v4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from _on(4, tmp_path, monkeypatch)


def _rules(w: World) -> int:
    return int(decode(w.c.node.store.get_state("rules/v/sensors") or b"1"))


def _state(w: World, key: str) -> Any:
    raw = w.c.node.store.get_state(f"sensors/{key}")
    return None if raw is None else decode(raw)


def _key(w: World) -> str:
    return f"r/p/{w.gtin.zfill(14)}"  # a product rule's key: its GTIN-14


def _rule(w: World, **checks: Any) -> dict[str, Any]:
    return {"scope": "product", "target": w.gtin, **checks}


# -- 1. the narrowest band ----------------------------------------------------------------

@pytest.mark.parametrize(("checks", "arg", "words", "width", "least"), [
    ({"temp": {"min": 2000, "max": 2005}}, "temp",
     "the temperature band 2.0 to 2.005 °C is 0.005 °C wide: a band must be at least "
     "0.1 °C wide", 5, 100),
    ({"temp": {"min": 2000, "max": 2099, "excursion_ms": MIN}}, "temp",
     "the temperature band 2.0 to 2.099 °C is 0.099 °C wide", 99, 100),
    ({"temp": RULE, "hum": {"min": 500, "max": 505}}, "hum",
     "the humidity band 50.0 to 50.5 %RH is 0.5 %RH wide: a band must be at least "
     "1.0 %RH wide", 5, 10),
])
def test_a_band_narrower_than_loggers_measure_is_refused_naming_it(
        world: World, checks: dict[str, Any], arg: str, words: str, width: int,
        least: int) -> None:
    w = world
    height = w.c.node.height
    for scope, target in (("product", w.gtin), ("batch", w.batch)):
        err = w.refused(w.maker, "sensors", "set_rule",
                        {**_rule(w, **checks), "scope": scope, "target": target})
        assert isinstance(err, ValidationError), err
        assert words in err.message, err.message
        assert err.details == {"arg": arg, "width": width, "minimum": least}
    # Refused at admission, so nothing is written, not even a failed transaction: the
    # product rule is still its first version, the batch has none of its own.
    assert w.c.node.height == height
    assert _state(w, _key(w))["v"] == 1 and _state(w, f"r/b/{w.batch}") is None
    assert w.c.rows("SELECT key, version FROM sensor_rules") == [(_key(w), 1)]


def test_a_band_exactly_as_wide_as_the_minimum_is_taken(world: World) -> None:
    w = world
    res = w.c.ok(w.maker, "sensors", "set_rule", _rule(
        w, temp={"min": 2000, "max": 2100}, hum={"min": 500, "max": 510}))
    assert res["version"] == 2
    assert _state(w, _key(w))["temp"] == [2000, 2100, 0]


def test_older_rules_keep_taking_a_narrow_band(v4: World) -> None:
    w = v4
    res = w.c.ok(w.maker, "sensors", "set_rule", _rule(w, temp={"min": 2000, "max": 2005},
                                                       hum={"min": 500, "max": 501}))
    assert res["version"] == 2
    w.clock.t = T0 + 10 * MIN
    w.c.ok(w.c.admin, "rules", "adopt", {"contract": "sensors", "version": 5})
    err = w.refused(w.maker, "sensors", "set_rule", _rule(w, temp={"min": 2000, "max": 2005}))
    assert isinstance(err, ValidationError) and err.details["arg"] == "temp"
    # The block before the adoption re-executes as recorded, the one after as v5.
    report = run_audit(w.c.dir, workers=0)
    assert report.ok, report.findings[:3]


# -- 2. the rule version a breach was judged against ------------------------------------

def test_a_breach_records_the_version_of_its_rule(world: World) -> None:
    w = world
    w.c.ok(w.maker, "sensors", "set_rule", _rule(w, temp={**RULE, "excursion_ms": 10 * MIN}))
    r = w.send(temps(T0 + MIN, *[WARM] * 4))  # 15 minutes out, 10 allowed
    assert r.ok, r.error
    [bid] = r.result["breaches"]
    [event] = [e for name, e in r.data["events"] if name == "sensors.breach"]
    assert event["rule"] == _key(w) and event["rule_version"] == 2
    assert _state(w, f"b/{bid}")["rule_version"] == 2
    assert _state(w, f"b/{bid}")["band"] == [2000, 8000, 10 * MIN]  # version 2's
    # The rule changes again; the breach still says which version judged it.
    w.c.ok(w.maker, "sensors", "set_rule", _rule(w, temp=RULE))
    w.ok(temps(T0 + 30 * MIN, 5000))  # back in range: it ends
    [row] = w.breaches()
    assert (row["id"], row["rule_version"], row["ended"]) == (bid, 2, T0 + 30 * MIN)
    report = run_audit(w.c.dir, workers=0)
    assert report.ok, report.findings[:3]


def test_breaches_before_the_adoption_leave_the_version_empty(v4: World) -> None:
    w = v4
    [old] = w.ok(temps(T0, *[WARM] * 8))["breaches"]  # 35 minutes out, 30 allowed
    w.ok(temps(T0 + 40 * MIN, 5000))
    assert "rule_version" not in _state(w, f"b/{old}")
    w.clock.t = T0 + 45 * MIN
    w.c.ok(w.c.admin, "rules", "adopt", {"contract": "sensors", "version": 5})
    [new] = w.ok(temps(T0 + 50 * MIN, *[WARM] * 8))["breaches"]
    assert _state(w, f"b/{new}")["rule_version"] == 1
    assert {r["id"]: r["rule_version"] for r in w.breaches()} == {old: None, new: 1}
    report = run_audit(w.c.dir, workers=0)
    assert report.ok, report.findings[:3]


def test_a_table_built_before_the_column_is_rebuilt_on_open(tmp_path: Path) -> None:
    # The f0fdf52 release's demo ledger: a breach found under its sensors rules, its
    # sensor_breaches table as that release built it (no rule_version).
    [release] = [r for r in RELEASES if r.name == "f0fdf52"]
    d = _unpacked(Path(__file__).parents[1] / "core" / "data" / "release-f0fdf52", tmp_path)
    report = run_audit(d, workers=0)
    assert ("projection_schema", "sensor_breaches") in [(f.kind, f.table)
                                                         for f in report.findings]
    with Node(Settings(d, verify_workers=0),
              load_node_key(d, release.secrets["node_key_password"])):
        pass  # opening rebuilds the table from the blocks
    conn = sqlite3.connect(d / DB_NAME)
    try:
        rows = conn.execute("SELECT id, rule_version FROM sensor_breaches").fetchall()
        [(recorded,)] = conn.execute("SELECT hash FROM projection_schema WHERE "
                                     "name = 'sensor_breaches'").fetchall()
    finally:
        conn.close()
    assert rows and all(v is None for _, v in rows), rows
    assert recorded == BREACHES.schema_hash
    report = run_audit(d, workers=0)
    assert report.ok, report.findings[:3]


def test_a_copy_keeps_its_versions_through_a_rebuild(world: World, tmp_path: Path) -> None:
    w = world
    [bid] = w.ok(temps(T0, *[WARM] * 8))["breaches"]
    w.c.stop()
    d = tmp_path / "copy"
    shutil.copytree(w.c.dir, d)
    conn = sqlite3.connect(d / DB_NAME)
    with conn:
        conn.execute("DELETE FROM projection_schema WHERE name = 'sensor_breaches'")
    conn.close()
    with Node(Settings(d, verify_workers=0), w.c.node_key, clock=w.clock):
        pass
    conn = sqlite3.connect(d / DB_NAME)
    try:
        assert conn.execute("SELECT id, rule_version FROM sensor_breaches").fetchall() == [
            (bid, 1)]
    finally:
        conn.close()


# -- 3. the web's cold-chain page ---------------------------------------------------------

served = demo_fixture("cold22", weeks=4, api=CHEAP)


def test_the_cold_chain_page_names_the_rule_version_and_refuses_a_narrow_band(
        served: Served) -> None:
    with served.web("supplier-a") as web:
        page = web.get("/cold-chain").text
        item = re.search(r'<ul id="breach-list">(.*?)</ul>', page, re.S)
        assert item, page[-3000:]
        assert re.search(r"30 min allowed by the product rule of Baking yeast[^;]* "
                         r"\(version 1\); logger", _text(item[1])), _text(item[1])
        before = served.height
        status, page = _rule_form(served, web, scope="product", target=YEAST,
                                  temp_min="2", temp_max="2.05")
        assert status == 422, page[-2000:]
        note = re.search(r'<div class="notice bad" role="alert" id="rule-error".*?</div>',
                         page, re.S)
        assert note, page[-2000:]
        assert ("the band 2.0 °C to 2.05 °C is narrower than 0.1 °C, the narrowest a rule "
                "takes" in _text(note[0]))
        assert "Nothing was signed" in note[0] and served.height == before
        # The generic table lists the column as well.
        table = web.get("/tables/sensor_breaches").text
        assert "Rule version" in table
