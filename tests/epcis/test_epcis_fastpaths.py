"""The import path's shortcuts agree with the general code, and nothing changed on the way.

The speed-ups of the validator, the hasher and the trace facts are shortcuts (times shifted
as text, EPC URNs built without the general parser, the one-pass fast path of
:mod:`supplyledger.epcis._plain`), memos shared by the events of a document and plans cached
per event shape. Each is held here to what it replaced: the general code on generated input,
and the output of the implementation before the speed-up (``data/regression_variants.json.gz``,
written by running this module with the tree of commit 55d9857 on ``PYTHONPATH`` --
regenerate it only for an intended change of output).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supplyledger.contracts.builtin._trace_facts import facts_of_events
from supplyledger.epcis import (
    EPCISEvent,
    EPCISValidationError,
    document_problems,
    event_hash_id,
    event_prehash,
    event_problems,
    parse_document,
    parse_events,
)
from supplyledger.epcis import document as epcis_document
from supplyledger.epcis._canon import Canon
from supplyledger.epcis._common import _match_datetime, _naive_utc, read_context, utc_millis
from supplyledger.epcis._plain import PlainEvents
from supplyledger.epcis.bench import typical_document

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "epcis" / "openepcis"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"OpenEPCIS test documents not found at {DATA}")
FIXTURE = Path(__file__).with_name("data") / "regression_variants.json.gz"


# ----------------------------------------------------------------------------- times
def _general_utc(text: str) -> str:
    groups = _match_datetime(text)
    assert groups is not None
    return _naive_utc(groups).isoformat(timespec="milliseconds") + "Z"


@settings(max_examples=500, deadline=None)
@given(when=st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 31)),
       millis=st.sampled_from(("", ".5", ".25", ".125")),
       offset=st.tuples(st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)))
@example(when=datetime(2024, 3, 1, 0, 30), millis="", offset=("+", 1, 0))  # the day before
@example(when=datetime(2024, 2, 28, 23, 30), millis="", offset=("-", 1, 0))  # 29 February
@example(when=datetime(2023, 12, 31, 23, 59, 59), millis=".999", offset=("-", 0, 1))
def test_utc_millis_shifts_as_datetime_would(when: datetime, millis: str,
                                             offset: tuple[str, int, int]) -> None:
    sign, hours, minutes = offset
    text = f"{when:%Y-%m-%dT%H:%M:%S}{millis}{sign}{hours:02d}:{minutes:02d}"
    assert utc_millis(text) == _general_utc(text)


def test_utc_millis_leaves_non_ascii_digits_to_datetime() -> None:
    text = "\u0662\u0660\u0662\u0664-03-01T10:00:00+01:00"  # Arabic-Indic 2024: regex-valid
    assert utc_millis(text) == "2024-03-01T09:00:00.000Z"


# ----------------------------------------------------------------------------- variants
_VALUES: list[Any] = [
    None, 0, 1, 2.5, True, "", " shipping", "shipping", "Shipping", "in_transit", "po",
    "owning_party", "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/Disp-active",
    "cbv:BizStep-receiving", "cbv:Disp-nope", "gs1:Temperature", "not a uri", "ex:thing",
    "example:thing", "undeclared:thing", "urn:x:y", "https://example.com/x",
    "https://id.gs1.org/01/09521234543213/10/LOT/21/7", "urn:epc:id:sgtin:0614141.107346.2017",
    "urn:epc:id:sgtin:0614141.10734.1", "urn:epc:id:sgtin:0614141.107346.a%2Fb",
    "urn:epc:id:sgln:0614141.07346.0", "urn:epc:id:sgln:0614141.07346.12",
    "urn:epc:id:gdti:0614141.12345.400", "urn:epc:id:grai:0614141.12345.40.0",
    "urn:epc:id:usdod:2S194.12345678901", "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.1234-06:00", "2024-03-01T00:30:00.000+01:00",
    "2023-02-29T00:00:00+01:00", "+02:00", "+14:30", "ADD", "OBSERVE", "CREATE", "KGM", "kg",
    "1.50", [], ["urn:epc:id:sgtin:0614141.107346.1", "urn:epc:id:sgtin:0614141.107346.1"],
    ["urn:epc:id:sgtin:0614141.107346.1", 5], {}, {"id": "urn:epc:id:sgln:0614141.07346.0"},
    {"id": "urn:epc:id:sgln:0614141.07346.0", "ex:x": {"a": 1}}, {"ex:x": 1},
    {"set": ["active"]}, {"@value": "x"}, {"example:a": [1, "b", {"c": "2.0"}]},
    [{"type": "po", "bizTransaction": "urn:epc:id:gdti:0614141.12345.400"},
     {"bizTransaction": "urn:x:1"}],
    [{"type": "owning_party", "source": "urn:epc:id:pgln:0614141.00777"}], [{"source": "x y"}],
    [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200.5,
      "uom": "KGM"}],
    [{"sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}]}],
    [{"sensorMetadata": {"time": "2024-05-01T12:00:00Z", "ex:m": 1},
      "sensorReport": [{"exception": "ALARM_CONDITION"}]}],
    {"declarationTime": "2024-05-02T00:00:00Z", "reason": "incorrect_data"},
    [{"own": "https://own.example/"}],
]
_KEYS = ("ex:new", "example:new", "newField", "bizStep", "readPoint", "ilmd", "@context",
         "epcList", "quantity", "id", "type", "rdfs:comment", "https://x.org/y", "eventID",
         "recordTime", "parentID", "cbvmda:lotNumber", "gs1:x")


def _mutate(rng: random.Random, obj: Any) -> Any:
    """``obj`` with one change somewhere: a field dropped, replaced or added."""
    obj = copy.deepcopy(obj)
    target = obj
    for _ in range(rng.randrange(3)):
        kids = [v for v in (target.values() if isinstance(target, dict) else target)
                if isinstance(v, dict | list) and v]
        if not kids:
            break
        target = rng.choice(kids)
    if isinstance(target, dict):
        keys = list(target)
        roll = rng.random()
        if keys and roll < 0.25:
            del target[rng.choice(keys)]
        elif keys and roll < 0.75:
            target[rng.choice(keys)] = copy.deepcopy(rng.choice(_VALUES))
        else:
            target[rng.choice(_KEYS)] = copy.deepcopy(rng.choice(_VALUES))
    elif isinstance(target, list) and target:
        i = rng.randrange(len(target))
        if rng.random() < 0.3:
            del target[i]
        else:
            target[i] = copy.deepcopy(rng.choice(_VALUES))
    return obj


def _sources() -> list[dict[str, Any]]:
    docs = [json.loads(p.read_bytes()) for p in sorted(DATA.glob("valid/*.json"))]
    return [*docs, typical_document(6, seed=3)]


def _variants(seed: int, count: int) -> list[dict[str, Any]]:
    """Documents of 1-6 events drawn from one source document, some of them changed: values
    repeat across events (the memos) and broken events follow good ones."""
    rng = random.Random(seed)
    sources = _sources()
    out = []
    for _ in range(count):
        source = rng.choice(sources)
        events = []
        for _ in range(rng.randrange(1, 7)):
            event = rng.choice(source["epcisBody"]["eventList"])
            for _ in range(rng.choice((0, 0, 1, 2))):
                event = _mutate(rng, event)
            events.append(copy.deepcopy(event))
        out.append({"@context": copy.deepcopy(source["@context"]), "type": "EPCISDocument",
                    "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
                    "epcisBody": {"eventList": events}})
    return out


def _views(ev: EPCISEvent) -> list[Any]:
    return [ev.event_time, ev.biz_step, ev.disposition, ev.read_point, ev.biz_location,
            ev.parent_id, ev.transformation_id, ev.record_time, ev.epcs, ev.quantities,
            ev.biz_transactions, ev.sources, ev.destinations, ev.ilmd, ev.extensions]


def _safely(view: Any) -> Any:
    try:
        return view()
    except Exception as exc:  # a view of an unvalidated event may fail; it must fail alike
        return type(exc).__name__


@needs_data
def test_the_fast_path_vouches_only_for_valid_events_and_hashes_them_alike() -> None:
    taken = 0
    for doc in _variants(seed=13, count=200):
        terms, _ = read_context(doc["@context"])
        plain = PlainEvents(Canon(terms))  # one per document: its memos fill up as it goes
        for i, event in enumerate(doc["epcisBody"]["eventList"]):
            prehash = plain.prehash(event)
            if prehash is not None:
                taken += 1
                assert event_problems(event, index=i, terms=terms) == []
                assert prehash == event_prehash(event, terms=terms)
    assert taken > 200  # it does take most good events (not only trivially None)


def test_the_fast_path_takes_the_events_imports_consist_of() -> None:
    doc = typical_document(30, seed=8)
    plain = PlainEvents(Canon(read_context(doc["@context"])[0]))
    assert all(plain.prehash(e) is not None for e in doc["epcisBody"]["eventList"])
    assert plain.prehash({**doc["epcisBody"]["eventList"][0], "action": "CREATE"}) is None
    assert plain.prehash({**doc["epcisBody"]["eventList"][0], "@context": []}) is None


@needs_data
def test_memos_shared_by_a_document_change_nothing() -> None:
    # Each event hashed and viewed through the document's shared canonicaliser equals the
    # same event on its own (a fresh canonicaliser, nothing remembered).
    for doc in _variants(seed=11, count=150):
        terms, _ = read_context(doc["@context"])
        events = [e for e in doc["epcisBody"]["eventList"] if isinstance(e, dict)]
        parsed = parse_document(doc, validate=False).events
        assert len(parsed) == len(events)
        for ev, raw in zip(parsed, events, strict=True):
            alone = EPCISEvent(ev.index, ev.event_type, ev.event_time, ev.hash_id,
                               ev.namespaces, raw)
            assert ev.hash_id == _safely(partial(event_hash_id, raw, terms=terms))
            assert _safely(partial(_views, ev)) == _safely(partial(_views, alone))


@needs_data
def test_parsing_reports_what_validation_reports() -> None:
    # parse_document checks and hashes event by event; it must raise exactly the problems
    # document_problems lists, and hash what validates as validate=False does.
    for doc in _variants(seed=12, count=150):
        problems = document_problems(doc)
        if problems:
            with pytest.raises(EPCISValidationError) as caught:
                parse_document(doc)
            assert caught.value.errors == problems
        else:
            assert [e.hash_id for e in parse_document(doc).events] == [
                e.hash_id for e in parse_document(doc, validate=False).events]


def _parsed_or_error(parse: Any) -> Any:
    try:
        return [[e.hash_id, e.event_time, _safely(partial(_views, e))] for e in parse()]
    except EPCISValidationError as exc:
        return [exc.message, exc.errors]


@needs_data
@pytest.mark.parametrize("memo_cap", [200_000, 3])
def test_memos_kept_from_call_to_call_change_nothing(monkeypatch: pytest.MonkeyPatch,
                                                     memo_cap: int) -> None:
    # parse_events keeps a scope's memos across calls (one event per trace transaction);
    # each call must still give what a fresh document of those events gives, also when
    # the memos outgrow their cap and start afresh.
    monkeypatch.setattr(epcis_document, "_MEMO_CAP", memo_cap)
    monkeypatch.setattr(epcis_document, "_MEMO_CHECK_EVERY", 5)
    monkeypatch.setattr(epcis_document, "_MAX_SCOPES", 1000)
    monkeypatch.setattr(epcis_document, "_SCOPES", epcis_document.threading.local())
    first: dict[tuple[tuple[str, str], ...], Any] = {}  # the scope each key got first
    calls: dict[tuple[tuple[str, str], ...], int] = {}
    for doc in _variants(seed=14, count=1500):
        terms, _ = read_context(doc["@context"])
        extra = {k: v for k, v in terms.items() if k not in ("cbv", "gs1")}
        events = doc["epcisBody"]["eventList"]
        alone = {**doc, "@context": [doc["@context"][0], extra] if extra else
                 [doc["@context"][0]]}
        assert _parsed_or_error(partial(parse_events, events, extra)) == _parsed_or_error(
            lambda alone=alone: parse_document(alone).events)
        key = tuple(sorted(extra.items()))
        calls[key] = calls.get(key, 0) + 1
        first.setdefault(key, epcis_document._SCOPES.map.get(key))
    busiest = max(calls, key=calls.__getitem__)
    assert calls[busiest] > 10 and first[busiest] is not None
    kept = epcis_document._SCOPES.map.get(busiest) is first[busiest]
    assert kept == (memo_cap > 3)  # one scope served every call, or a fresh one took over


def test_scopes_kept_are_bounded_in_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(epcis_document, "_SCOPES", epcis_document.threading.local())
    doc = typical_document(1, seed=4)
    event = doc["epcisBody"]["eventList"][0]
    terms = {k: v for k, v in read_context(doc["@context"])[0].items()
             if k not in ("cbv", "gs1")}
    alone = parse_events([event], terms)[0].hash_id
    for i in range(3 * epcis_document._MAX_SCOPES):
        extra = {**terms, f"ex{i}": f"https://example.com/{i}/"}
        assert parse_events([event], extra)[0].hash_id == alone
        assert 1 <= len(epcis_document._SCOPES.map) <= epcis_document._MAX_SCOPES


# ----------------------------------------------------------------------------- before/after
def _outcome(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the import path says about ``doc``: problems, hash IDs, UTC times, facts."""
    try:
        hashes = [[e.hash_id, e.event_time] for e in parse_document(doc, validate=False).events]
    except Exception as exc:  # the old code failed on some broken events; so may we, alike
        hashes = [type(exc).__name__]
    try:
        problems: Any = document_problems(doc)
    except TypeError:  # the old validator failed on some unhashable values; we report them
        problems = "TypeError"
    terms, _ = read_context(doc["@context"])
    try:
        facts: Any = facts_of_events(copy.deepcopy(doc["epcisBody"]["eventList"]), terms)
    except EPCISValidationError as exc:
        facts = [exc.message, exc.errors]
    except TypeError:
        facts = "TypeError"
    return {"problems": problems, "hashes": hashes, "facts": facts}


def _load_fixture() -> list[dict[str, Any]]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        cases: list[dict[str, Any]] = json.load(f)
    return cases


@pytest.mark.skipif(not FIXTURE.exists(), reason="regression fixture not generated")
def test_outcomes_are_what_they_were_before_the_speed_up() -> None:
    cases = _load_fixture()
    assert len(cases) >= 300
    for case in cases:
        now = json.loads(json.dumps(_outcome(case["doc"]), sort_keys=True))
        was = case["outcome"]
        for part in ("hashes", "facts", "problems"):
            if was[part] == "TypeError":  # a crash of the old validator, now a problem
                continue
            assert now[part] == was[part], (part, case["doc"])


if __name__ == "__main__":  # write the fixture: python tests/epcis/test_epcis_fastpaths.py
    FIXTURE.parent.mkdir(exist_ok=True)
    variants = [*_variants(seed=2024, count=300), typical_document(40, seed=5)]
    fixture = [{"doc": doc, "outcome": _outcome(doc)} for doc in variants]
    with gzip.open(FIXTURE, "wt", encoding="utf-8") as out:
        json.dump(fixture, out)  # (key order kept: problems are listed in it)
    print(f"{len(fixture)} cases -> {FIXTURE}", file=sys.stderr)
