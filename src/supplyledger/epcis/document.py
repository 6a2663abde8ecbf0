"""EPCIS 2.0 capture documents in and out: parse into normalised events, build for export.

Why two views of an event: the ledger queries *normalised* facts (which canonical EPCs, which
business step, where, when in UTC), but exporting must give partners back exactly what was
captured, and the event hash must not move when we do. So :class:`EPCISEvent` carries both the
normalised fields and ``raw`` -- the event object as received -- and :func:`build_document`
writes ``raw`` back, adding only the ``@context`` entries an event needs in its new document.
Round trip: parse -> build -> validate accepts it, and every hash ID is unchanged.

The module is pure: it reads a file only when handed a :class:`pathlib.Path`, and it has no
clock -- a built document's ``creationDate`` defaults to its latest event time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supplyledger.errors import ValidationError

from ._canon import Canon
from ._common import (
    BUILTIN_PREFIXES,
    EPCIS_CONTEXT,
    expand_curie,
    merge_terms,
    read_context,
    utc_millis,
)
from ._plain import PlainEvents
from .hashing import hash_id_of, prehash_with
from .validate import document_scope, event_problems, problems_error

__all__ = ["EPCISEvent", "ParsedDocument", "QuantityElement", "build_document", "parse_document",
           "parse_events"]

_EPC_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_FIELDS = ("quantityList", "childQuantityList", "inputQuantityList",
                    "outputQuantityList")
_STANDARD_FIELDS = frozenset((
    "type", "@context", "eventTime", "recordTime", "eventTimeZoneOffset", "eventID",
    "certificationInfo", "errorDeclaration", "action", "parentID", "transformationID",
    "bizStep", "disposition", "persistentDisposition", "readPoint", "bizLocation",
    "bizTransactionList", "sourceList", "destinationList", "sensorElementList", "ilmd",
    *_EPC_FIELDS, *_QUANTITY_FIELDS,
))


@dataclass(frozen=True, slots=True)
class QuantityElement:
    """One entry of a quantity list; ``epc_class`` is the canonical class identifier."""

    epc_class: str
    quantity: float | int | None = None
    uom: str | None = None


@dataclass(frozen=True, slots=True)
class EPCISEvent:
    """One captured event: its identity, and normalised views of the original JSON in ``raw``.

    Identifiers in the views are canonical (EPC URNs and Digital Links on any host become
    Digital Links on ``id.gs1.org``), vocabulary values are full URIs (``shipping`` becomes
    ``https://ref.gs1.org/cbv/BizStep-shipping``), extension keys are expanded IRIs, times are
    UTC at millisecond precision. The views are computed on access -- import only pays for what
    the ledger reads -- by the same canonicaliser the hash uses: ``canon``, shared by the
    events of one parsed document, so a view costs a look-up of what hashing already worked
    out (events built elsewhere get their own). ``raw`` is shared with the input, not copied:
    treat it as read-only. ``namespaces`` are the prefixes in scope that differ from the EPCIS
    context's.
    """

    index: int
    event_type: str
    event_time: str
    hash_id: str
    namespaces: Mapping[str, str]
    raw: Mapping[str, Any]
    canon: Canon | None = field(default=None, compare=False, repr=False)

    def _canon(self) -> Canon:
        return self.canon or Canon(self.namespaces)

    def _get(self, key: str, kind: str) -> str | None:
        value = self.raw.get(key)
        return None if value is None else self._canon().value(value, kind)

    @property
    def event_time_zone_offset(self) -> str:
        return str(self.raw.get("eventTimeZoneOffset", ""))

    @property
    def event_id(self) -> str | None:
        return self.raw.get("eventID")

    @property
    def record_time(self) -> str | None:
        return self._get("recordTime", "t")

    @property
    def action(self) -> str | None:
        return self.raw.get("action")

    @property
    def biz_step(self) -> str | None:
        value = self.raw.get("bizStep")
        return None if value is None else self._canon().vocab(value, "BizStep")

    @property
    def disposition(self) -> str | None:
        value = self.raw.get("disposition")
        return None if value is None else self._canon().vocab(value, "Disp")

    @property
    def parent_id(self) -> str | None:
        return self._get("parentID", "i")

    @property
    def transformation_id(self) -> str | None:
        return self._get("transformationID", "i")

    @property
    def read_point(self) -> str | None:
        return self._place("readPoint")

    @property
    def biz_location(self) -> str | None:
        return self._place("bizLocation")

    def _place(self, key: str) -> str | None:
        place = self.raw.get(key)
        if isinstance(place, dict) and (place_id := place.get("id")) is not None:
            return self._canon().iri(place_id)
        return None

    @property
    def epcs(self) -> dict[str, tuple[str, ...]]:
        """Canonical instance identifiers per list field (epcList, childEPCs, ...)."""
        c = self._canon()
        return {field: tuple(c.iri(v) for v in self.raw[field]) for field in _EPC_FIELDS
                if isinstance(self.raw.get(field), list)}

    @property
    def all_epcs(self) -> tuple[str, ...]:
        """Every instance identifier the event is about (parent first), for trace queries."""
        ids: list[str] = [self.parent_id] if self.parent_id else []
        for values in self.epcs.values():
            ids.extend(values)
        return tuple(ids)

    @property
    def quantities(self) -> dict[str, tuple[QuantityElement, ...]]:
        """Quantity elements per list field, with canonical class identifiers."""
        c = self._canon()
        return {
            field: tuple(QuantityElement(c.iri(q["epcClass"]), q.get("quantity"), q.get("uom"))
                         for q in self.raw[field] if isinstance(q, dict) and "epcClass" in q)
            for field in _QUANTITY_FIELDS if isinstance(self.raw.get(field), list)
        }

    @property
    def biz_transactions(self) -> tuple[tuple[str | None, str], ...]:
        """(type URI or None, identifier) pairs."""
        return _pairs(self._canon(), self.raw.get("bizTransactionList"), "bizTransaction", "BTT")

    @property
    def sources(self) -> tuple[tuple[str | None, str], ...]:
        return _pairs(self._canon(), self.raw.get("sourceList"), "source", "SDT")

    @property
    def destinations(self) -> tuple[tuple[str | None, str], ...]:
        return _pairs(self._canon(), self.raw.get("destinationList"), "destination", "SDT")

    @property
    def ilmd(self) -> dict[str, Any]:
        """Instance/lot master data with expanded keys."""
        ilmd = self.raw.get("ilmd")
        return _expand_keys(ilmd, self.namespaces) if isinstance(ilmd, dict) else {}

    @property
    def extensions(self) -> dict[str, Any]:
        """Event-level user extensions with expanded keys."""
        return {expand_curie(k, self.namespaces): _expand_keys(v, self.namespaces)
                for k, v in self.raw.items()
                if k not in _STANDARD_FIELDS and not k.startswith("@")}


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed capture document: header fields and its events in document order."""

    events: tuple[EPCISEvent, ...]
    creation_date: str | None = None
    sender: str | None = None
    receiver: str | None = None
    instance_identifier: str | None = None
    namespaces: Mapping[str, str] | None = None


def _load(source: Any) -> Any:
    if isinstance(source, Path):
        return json.loads(source.read_bytes())
    if isinstance(source, str | bytes | bytearray):
        return json.loads(source)
    return source


def _expand_keys(value: Any, terms: Mapping[str, str]) -> Any:
    """A copy of an extension value with namespaced keys expanded to full IRIs."""
    if isinstance(value, dict):
        return {expand_curie(k, terms): _expand_keys(v, terms) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_keys(v, terms) for v in value]
    return value


def _pairs(c: Canon, items: Any, role: str, kind: str) -> tuple[tuple[str | None, str], ...]:
    if not isinstance(items, list):
        return ()
    return tuple(
        (None if item.get("type") is None else c.vocab(item["type"], kind), c.iri(item[role]))
        for item in items if isinstance(item, dict) and item.get(role) is not None
    )


def _normalise(index: int, raw: Mapping[str, Any], c: Canon, namespaces: Mapping[str, str],
               prehash: str | None = None) -> EPCISEvent:
    """``raw`` hashed and wrapped; ``c`` is the document's canonicaliser, ``prehash`` what
    the fast path wrote (None: written here)."""
    if prehash is None:
        own = raw.get("@context")
        if own is not None:  # the event's own prefixes: a scope (and memo) of its own
            c = Canon(merge_terms(c.terms, own))
            namespaces = {k: v for k, v in c.terms.items() if BUILTIN_PREFIXES.get(k) != v}
        prehash = prehash_with(c, raw)
    time = raw.get("eventTime")
    return EPCISEvent(index, str(raw.get("type")), "" if time is None else c.time(time),
                      hash_id_of(prehash), namespaces, raw, c)


@dataclass(slots=True)
class _Scope:
    """One namespace scope's canonicaliser and fast path, with what they remember."""

    canon: Canon
    plain: PlainEvents
    namespaces: dict[str, str]  # the prefixes an event carries beyond the built-in ones
    unchecked: int = 0  # events parsed since its memos were last measured


def _parse_events(events: list[Any], errors: list[dict[str, Any]], validate: bool,
                  scope: _Scope) -> tuple[EPCISEvent, ...]:
    c, plain, terms = scope.canon, scope.plain, scope.canon.terms
    parsed = []
    # Event by event, each checked and hashed while it is at hand; once a problem is found
    # the rest are only checked, to report every problem.
    for i, event in enumerate(events):
        prehash = None if errors else plain.prehash(event)
        if prehash is None and validate:
            errors.extend(event_problems(event, index=i, terms=terms))
        if not errors and isinstance(event, dict):  # (a non-dict: only if not validated)
            parsed.append(_normalise(i, event, c, scope.namespaces, prehash))
    if errors:
        raise problems_error(errors)
    return tuple(parsed)


# Scopes kept across calls of parse_events, per thread (a fast path's problem list is not
# to be shared) and per set of extra prefixes (at most _MAX_SCOPES); memos past _MEMO_CAP
# values start afresh, which bounds a verifier process's memory.
_SCOPES = threading.local()
_MAX_SCOPES = 8
_MEMO_CAP = 100_000
_MEMO_CHECK_EVERY = 1024  # events (a check sums the memos' sizes)


def _shared_scope(namespaces: Mapping[str, str] | None, events: int) -> _Scope | None:
    key = tuple(sorted(namespaces.items())) if namespaces else ()
    scopes: dict[tuple[tuple[str, str], ...], _Scope] | None = getattr(_SCOPES, "map", None)
    if scopes is None:
        scopes = _SCOPES.map = {}
    scope = scopes.get(key)
    if scope is not None:
        scope.unchecked += events
        if scope.unchecked < _MEMO_CHECK_EVERY:
            return scope
        scope.unchecked = 0
        if _memo_size(scope) < _MEMO_CAP:
            return scope
    errors, _, terms = document_scope(_capture_document([], dict(key)), None)
    if errors:  # bad prefixes: parse_events reports them through parse_document
        return None
    if len(scopes) >= _MAX_SCOPES:
        scopes.clear()
    c = Canon(terms)
    scope = scopes[key] = _Scope(
        c, PlainEvents(c), {k: v for k, v in terms.items() if BUILTIN_PREFIXES.get(k) != v})
    return scope


def _memo_size(scope: _Scope) -> int:
    c = scope.canon
    return (len(c.iris) + len(c.names) + sum(map(len, c.vocabs.values()))
            + sum(map(len, scope.plain.seen.values())))


def parse_events(events: list[Any], namespaces: Mapping[str, str] | None = None
                 ) -> tuple[EPCISEvent, ...]:
    """``events`` validated and normalised as the event list of an EPCIS 2.0 document whose
    ``@context`` adds ``namespaces``: what :func:`parse_document` gives for such a document.

    For callers that hand in a few events at a time (the trace contract's prepare step, one
    event per transaction): what a document's scope remembers -- canonical locations,
    parties, steps, and the fast path's verdicts on them -- is kept from call to call, so a
    location seen in an earlier transaction costs a look-up, as it would later in one
    document. The memos are pure functions of the prefixes and the value: outcomes are the
    same with or without them.
    """
    scope = _shared_scope(namespaces, len(events))
    if scope is None:
        return parse_document(_capture_document(events, dict(namespaces or {}))).events
    return _parse_events(events, [], True, scope)


def _capture_document(events: list[Any], namespaces: dict[str, str]) -> dict[str, Any]:
    """The document parse_events's events are judged as part of."""
    return {"@context": [EPCIS_CONTEXT, namespaces] if namespaces else [EPCIS_CONTEXT],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "1970-01-01T00:00:00.000Z", "epcisBody": {"eventList": events}}


def parse_document(source: Any, *, validate: bool = True,
                   namespaces: Mapping[str, str] | None = None) -> ParsedDocument:
    """Parse an EPCISDocument (or a bare event list, or one event) into normalised events.

    ``source`` is a parsed JSON value, JSON text (``str``/``bytes``) or a :class:`Path` to read.
    With ``validate`` (the default) an invalid document raises
    :class:`~supplyledger.errors.EPCISValidationError` listing every problem.

    Events take the fast path (:mod:`._plain`), which checks and pre-hashes a plain event in
    one pass; the general validator and hasher take the others. Problems and hash IDs are the
    same either way.
    """
    doc = _load(source)
    if not validate and not isinstance(doc, dict | list):
        raise ValidationError("an EPCIS document must be a JSON object or array")
    errors, events, terms = document_scope(doc, namespaces)
    if not validate:
        errors = []
    namespaces = {k: v for k, v in terms.items() if BUILTIN_PREFIXES.get(k) != v}
    c = Canon(terms)
    parsed = _parse_events(events, errors, validate, _Scope(c, PlainEvents(c), namespaces))
    standalone = bool(events) and events[0] is doc  # one event, not a document
    header: Mapping[str, Any] = doc if isinstance(doc, dict) and not standalone else {}
    return ParsedDocument(
        events=tuple(parsed),
        creation_date=header.get("creationDate"),
        sender=header.get("sender"),
        receiver=header.get("receiver"),
        instance_identifier=header.get("instanceIdentifier"),
        namespaces=namespaces,
    )


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def build_document(events: Iterable[EPCISEvent | Mapping[str, Any]], *,
                   sender: str | None = None, receiver: str | None = None,
                   creation_date: str | None = None, instance_identifier: str | None = None,
                   assign_event_ids: bool = False) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD ``EPCISDocument`` holding ``events`` (parsed or raw JSON).

    Prefixes every event declares alike go into the document ``@context``; the others into the
    event's own ``@context``, so every event's meaning -- and hash -- is preserved.
    ``assign_event_ids`` fills a missing ``eventID`` with the hash ID (harmless: the hash
    ignores eventID). ``creation_date`` defaults to the latest event time, this layer having
    no clock.
    """
    items: list[tuple[Mapping[str, Any], Mapping[str, str], str, str]] = []
    for event in events:
        if isinstance(event, EPCISEvent):
            items.append((event.raw, event.namespaces, event.event_time, event.hash_id))
        else:
            # A raw event must carry the @context for the prefixes it uses.
            own, _ = read_context(event.get("@context"))
            time = utc_millis(str(event.get("eventTime", ""))) or ""
            hash_id = hash_id_of(prehash_with(Canon(own), event)) if assign_event_ids else ""
            items.append((event, own, time, hash_id))
    # Hoist only what *every* event declares identically: declaring a prefix for an event that
    # did not have it would change what its compact IRIs (``example:x``) expand to.
    doc_terms: dict[str, str] = dict(items[0][1]) if items else {}
    for _, scope, _, _ in items[1:]:
        doc_terms = {p: iri for p, iri in doc_terms.items() if scope.get(p) == iri}
    event_list = []
    for raw, scope, _, hash_id in items:
        out = _copy_json(raw)
        clash = {p: iri for p, iri in scope.items() if p not in doc_terms}
        if clash:
            own = out.get("@context")
            own_list = own if isinstance(own, list) else [] if own is None else [own]
            out["@context"] = [*own_list, clash]
        if assign_event_ids and "eventID" not in out:
            out["eventID"] = hash_id
        event_list.append(out)
    if creation_date is None:
        times = [time for _, _, time, _ in items if time]
        if not times:
            raise ValidationError("creation_date is required for a document without events")
        creation_date = max(times)
    context: list[Any] = [EPCIS_CONTEXT]
    if doc_terms:
        context.append(dict(sorted(doc_terms.items())))
    doc: dict[str, Any] = {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": creation_date,
    }
    for key, value in (("sender", sender), ("receiver", receiver),
                       ("instanceIdentifier", instance_identifier)):
        if value is not None:
            doc[key] = value
    doc["epcisBody"] = {"eventList": event_list}
    return doc
