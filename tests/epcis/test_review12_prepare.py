"""The trace prepare step after session 12's cuts: same refusals, hashes and facts as before.

What the cuts rely on, each held here to the general code or to first principles:

* the fast path remembers quantity lists by (class, quantity and its type, unit, number of
  fields) per element, and judges a place that is nothing but ``{"id": string}`` by its id's
  rule -- so events whose lists and places differ only in ways those keys must tell apart
  (1 / 1.0 / True / 2**60 / 2.0**60, an extra field, a str subclass) are checked and hashed
  as the general validator and hasher do, in any order, with the memos filled by the others;
* a structure's fields are written in the hash's order from the ones it has
  (:class:`~supplyledger.epcis._canon.FieldOrder`), as a walk over the whole order would;
* an EPC URN is canonicalised without ``canonical_uri`` only where that changes nothing;
* the GS1 check digit is the mod-10 of weights 3, 1, 3, ... from the right;
* and, end to end, the facts the ``record_event`` / ``record_events`` prepare step derives
  from the benchmark's events (and broken variants of them) are what the implementation
  before these cuts derived (``_GOLDEN``, computed with commit f0fdf52's tree).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from typing import Any

import pytest
from test_epcis_fastpaths import _mutate

from supplyledger import gs1
from supplyledger.bench.workload import batch_urn, epcis_event
from supplyledger.contracts.builtin._trace_facts import facts_of_events
from supplyledger.epcis import event_hash_id, event_prehash, event_problems, parse_events
from supplyledger.epcis._canon import Canon, FieldOrder
from supplyledger.epcis._common import canonical_uri, expand_curie
from supplyledger.epcis._plain import PlainEvents
from supplyledger.epcis.hashing import _REPORT_ORDER
from supplyledger.errors import SupplyLedgerError

TERMS = {"ex": "https://ex.example/"}


class _Text(str):
    """A str subclass: equal to a str, yet not one to the hash (it is written as text)."""


def _pick(rng: random.Random, usual: tuple[Any, ...], odd: tuple[Any, ...]) -> Any:
    return rng.choice(usual if rng.random() < 0.85 else odd)


def _quantity(rng: random.Random) -> dict[str, Any]:
    element: dict[str, Any] = {"epcClass": _pick(rng, (
        "urn:epc:class:lgtin:0614141.107346.L1", "urn:epc:class:lgtin:0614141.107346.L2",
        "urn:epc:idpat:sgtin:0614141.107346.*"), (
        _Text("urn:epc:class:lgtin:0614141.107346.L1"), 5, "not a uri"))}
    if rng.random() < 0.7:
        element["quantity"] = _pick(rng, (1, 1.0, 2.5, -0.0, 0, 2**60, 2.0**60, float("inf")),
                                    (True, None, "1"))
    if rng.random() < 0.5:
        element["uom"] = _pick(rng, ("KGM", "LTR"), ("kg", None, _Text("KGM"), 7))
    if rng.random() < 0.05:
        element[rng.choice(("ex:note", "note"))] = "x"
    return element


def _place(rng: random.Random) -> Any:
    place_id = _pick(rng, ("urn:epc:id:sgln:0614141.00777.0", "ex:dock",
                           "https://example.com/dock/1"), (
        "urn:epc:id:sgln:0614141.0777.0", _Text("urn:epc:id:sgln:0614141.00777.0"), "no uri", 3))
    return _pick(rng, ({"id": place_id},), (
        {"id": place_id, "ex:x": "1"}, {"id": place_id, "x": 1}, {}, place_id))


def _variant(rng: random.Random, i: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent", "action": "OBSERVE",
        "eventTime": f"2024-03-0{1 + i % 9}T10:00:00.{i % 1000:03d}+01:00",
        "eventTimeZoneOffset": "+01:00",
        "quantityList": [_quantity(rng) for _ in range(rng.randrange(1, 3))],
        "readPoint": _place(rng), "bizLocation": _place(rng),
    }
    if rng.random() < 0.5:
        event["sourceList"] = [{"type": _pick(rng, ("owning_party",), (_Text("owning_party"), 1)),
                                "source": "urn:epc:id:pgln:0614141.00000"}]
    return event


def test_remembered_lists_and_places_are_judged_and_hashed_as_the_general_path_does() -> None:
    rng = random.Random(12)
    plain = PlainEvents(Canon(TERMS))  # one scope: each event meets the memos of the others
    taken = refused = 0
    for i in range(3000):
        event = _variant(rng, i)
        problems = event_problems(event, terms=TERMS)
        prehash = plain.prehash(event)
        if prehash is None:
            refused += 1
        else:
            taken += 1
            assert problems == [], event
            assert prehash == event_prehash(event, terms=TERMS), event
        # the import path as a whole: the same verdict and hash as the general path
        try:
            ids = [e.hash_id for e in parse_events([copy.deepcopy(event)], TERMS)]
        except SupplyLedgerError:
            assert problems
        else:
            assert not problems and ids == [event_hash_id(event, terms=TERMS)]
    assert taken > 300 and refused > 300  # both verdicts were met, many times each


def test_quantities_equal_as_numbers_but_written_apart_are_not_confused() -> None:
    # 2**60 == 2.0**60 in Python, but the float's text is not the int's
    terms: dict[str, str] = {}
    plain = PlainEvents(Canon(terms))
    base = {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2024-03-01T10:00:00Z",
            "eventTimeZoneOffset": "+00:00"}
    texts = []
    for n in (2**60, 2.0**60, 1, 1.0):
        event = {**base, "quantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107346.L1",
                                           "quantity": n}]}
        text = plain.prehash(event)
        assert text is not None and text == event_prehash(event)
        texts.append(text)
    assert "quantity=1152921504606846976" in texts[0]
    assert "quantity=1152921504606847000" in texts[1]
    assert texts[2] == texts[3]  # 1 and 1.0: one number, one text
    with_bool = {**base, "quantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107346.L1",
                                           "quantity": True}]}
    assert plain.prehash(with_bool) is None and event_problems(with_bool)


def test_fields_are_written_in_the_hash_order_from_those_present() -> None:
    rng = random.Random(3)
    c = Canon({})
    keys = [k for k, _ in _REPORT_ORDER.order]
    for _ in range(500):
        chosen = rng.sample(keys, rng.randrange(0, 6))
        report = {k: rng.choice(("Temperature", "2024-01-01T00:00:00Z", 4, 2.50, None, "CEL",
                                 "urn:epc:id:sgtin:0614141.107346.1")) for k in chosen}
        walked = "".join(f"{k}={c.value(report[k], kind)}" for k, kind in _REPORT_ORDER.order
                         if report.get(k) is not None and c.value(report[k], kind))
        assert c.fields(report, _REPORT_ORDER) == walked
    assert c.fields({"b": 1, "a": 2}, FieldOrder((("a", "n"), ("b", "n")))) == "a=2b=1"


@pytest.mark.parametrize("value", [
    "urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2017\n",
    "urn:epc:id:sgln:0614141.00777.0 ", "urn:epc:id:gdti:0614141.00001.12\u3000",
    "urn:epc:id:sgtin:0614141.107346.a%2Fb", "urn:epc:id:usdod:2S194.12345678901",
    "urn:epc:id:sscc:0614141.1234567890\n", "urn:epc:bad",
])
@pytest.mark.parametrize("terms", [{}, {"urn": "https://urn.example/"}])
def test_an_epc_urn_is_canonicalised_as_canonical_uri_would(value: str,
                                                           terms: dict[str, str]) -> None:
    expected = canonical_uri(expand_curie(value.strip(), terms)) if "urn" in terms \
        else canonical_uri(value)
    assert Canon(terms).iri(value) == expected


def test_check_digits_from_first_principles() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 30)))
        weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
        assert gs1.gs1_check_digit(body) == (10 - weighted % 10) % 10
    assert gs1.gtin_check_digit("0061414100001") == 2  # GS1's worked example: 00614141000012
    with pytest.raises(SupplyLedgerError):
        gs1.gs1_check_digit("12a")


# ------------------------------------------------------------------------ end to end, golden
def _outcome(run: Any) -> Any:
    try:
        return run()
    except SupplyLedgerError as exc:
        return [type(exc).__name__, exc.message, getattr(exc, "errors", None)]


def _bench_outcomes() -> list[Any]:
    """The facts (with amounts) of 600 benchmark events, some of them broken, one at a time
    as ``record_event`` prepares them and as ``record_events`` documents of 50."""
    rng = random.Random(2026)
    events = []
    for i in range(600):
        r = random.Random(12_000 + i)
        event = epcis_event(r, batch_urn(r.randrange(40), 16), 1000 + i)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            event = _mutate(rng, event)
        events.append(event)
    out = [_outcome(lambda e=e: facts_of_events([copy.deepcopy(e)], None, amounts=True))
           for e in events]
    out += [_outcome(lambda k=k: facts_of_events(copy.deepcopy(events[k:k + 50]),
                                                 {"ex": "https://ex.example/"}, amounts=True))
            for k in range(0, 600, 50)]
    return out


_GOLDEN = "9affa02989253b4cc07bf4a717bc219f7f80ceed69989d6036c5cb0c847d497a"


def test_bench_events_prepare_to_the_facts_they_did_before() -> None:
    text = json.dumps(_bench_outcomes(), sort_keys=True, default=repr)
    refused = text.count('"EPCISValidationError"')
    assert 20 < refused < 400  # (broken and sound events both)
    assert hashlib.sha256(text.encode()).hexdigest() == _GOLDEN
