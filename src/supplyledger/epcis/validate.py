"""Validation of EPCIS 2.0 JSON-LD capture documents: JSON schema rules plus CBV 2.0 semantics.

Why our own validator instead of a JSON-schema engine: the import path must sustain thousands of
events per second, and a generic engine walking the official schema's ``anyOf``/``if``/
``propertyNames`` costs milliseconds per event; plain checks against precompiled regexes,
frozensets and static dispatch tables cost microseconds. It also lets us add what the schema
cannot express: that a non-standard ``bizStep`` must be a URI rather than a bare word, that
extension prefixes are declared in ``@context``, that an ``urn:epc:`` identifier is well formed.

Every problem is collected (not just the first) as ``{"event": index or None, "reason": text}``;
``reason`` starts with the JSON path of the offending field.

How it stays fast: values are judged by the pure rules of :mod:`._values` (verdicts on
repeated strings are cached there); the walk over each event follows a plan worked out once
per event shape (the events of a document carry the same fields in the same order); and a
JSON path is only spelt out when there is a problem to report.

Deliberate tolerances (documented because they differ from the official JSON schema, and each is
needed by a document the OpenEPCIS test suite ships as *valid*, e.g.
``SensorData_with_combined_events.json``):

* a ``sensorReport`` without ``type`` is accepted when it carries ``exception``: an alarm or
  error report describes a condition, not a measurement, so it has no measurement type;
* a bare ``sensorReport.type`` outside the EPCIS 2.0.0 context's list (``Molar_concentration``,
  ``EffectiveDoseRate``) is accepted when it is a well-formed vocabulary term: that list grows
  with each GS1 Web Vocabulary release and drafts spelt terms differently, so rejecting unknown
  terms would reject tomorrow's sensors (the closed CBV vocabularies stay strict);
* ``bizRules`` inside a ``sensorReport`` is accepted (the EPCIS context defines the term for
  sensor data; the schema lists it only under ``sensorMetadata``);
* fields nested *inside* a namespaced extension need no namespace of their own (XML-born
  extensions carry unqualified children); the extension itself must be namespaced;
* ``urn:epcglobal:cbv:...`` spellings of *standard* values are accepted (the schema rejects all
  URNs; CBV 2.0 still defines them), while a CBV-namespace URI naming a term the CBV does not
  define is rejected for ``bizStep`` and ``disposition``.

Identifiers are checked as URIs; ``urn:epc:`` URNs must also be well-formed EPCs. Digital Link
check digits are *not* enforced here (EPCIS only requires URIs, and partners' test data carry
bad ones); :func:`supplyledger.gs1.parse_epc` enforces them where a GS1 key is required.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeGuard

from supplyledger.errors import EPCISValidationError

from . import _values as rules
from ._common import (
    BUILTIN_PREFIXES,
    GS1_VOC,
    is_date,
    merge_terms,
    namespace_error,
    read_context,
)

__all__ = ["EVENT_TYPES", "document_problems", "event_problems", "validate_document"]

EVENT_TYPES = frozenset(
    ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
     "AssociationEvent")
)
_COMMON = frozenset(("type", "@context", "eventTime", "recordTime", "eventTimeZoneOffset",
                     "eventID", "certificationInfo", "errorDeclaration"))
_WHY = frozenset(("bizStep", "disposition", "persistentDisposition", "readPoint", "bizLocation",
                  "bizTransactionList", "sourceList", "destinationList", "sensorElementList"))
_ALLOWED: Mapping[str, frozenset[str]] = {
    "ObjectEvent": _COMMON | _WHY | {"action", "epcList", "quantityList", "ilmd"},
    "AggregationEvent": _COMMON | _WHY | {"action", "parentID", "childEPCs", "childQuantityList"},
    "AssociationEvent": _COMMON | _WHY | {"action", "parentID", "childEPCs", "childQuantityList"},
    "TransactionEvent": _COMMON | _WHY | {"action", "parentID", "epcList", "quantityList"},
    "TransformationEvent": _COMMON | _WHY | {
        "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList",
        "transformationID", "ilmd"},
}
_DOC_FIELDS = frozenset(("@context", "id", "type", "schemaVersion", "creationDate",
                         "instanceIdentifier", "sender", "receiver", "epcisHeader", "epcisBody"))
_META_URIS = ("deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "bizRules")
_REPORT_URIS = (*_META_URIS, "microorganism", "chemicalSubstance", "coordinateReferenceSystem",
                "uriValue")
_REPORT_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")
_GS1_CERT_DATES = frozenset(("certificationAuditDate", "certificationStartDate",
                             "certificationEndDate", "initialCertificationDate"))
_CERT_DETAILS = GS1_VOC + "CertificationDetails"


def _is_event_type(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value in EVENT_TYPES


def _at(path: str, index: int | None) -> str:
    return path if index is None else f"{path}[{index}]"


class _Checker:
    """Collects the problems of one event; ``terms`` are the namespace prefixes in scope.

    Values are judged by the rules of :mod:`._values`; the methods here walk the structures
    (objects and arrays) and say where a problem is. A path is formatted only when a problem
    is reported, except the paths of nested structures, which their own checks need.
    """

    __slots__ = ("errors", "index", "terms")

    def __init__(self, errors: list[dict[str, Any]], index: int | None,
                 terms: Mapping[str, str]) -> None:
        self.errors = errors
        self.index = index
        self.terms = terms

    def bad(self, path: str, message: str) -> None:
        self.errors.append({"event": self.index, "reason": f"{path}: {message}"})

    def value(self, rule: rules.Rule, value: Any, path: str) -> None:
        problem = rule(value)
        if problem is not None:
            self.bad(path, problem)

    # ---------------------------------------------------------------- structures
    def extension(self, key: str, path: str) -> None:
        """A user field attached to an EPCIS structure must be namespaced. What nests *inside*
        it is the extension's own business, so it is not checked further."""
        why = namespace_error(key, self.terms)
        if why is not None:
            self.bad(f"{path}{key}", why)

    def fields(self, obj: Any, path: str, shape: _Shape, index: int | None = None) -> bool:
        """Check an object's known fields; others must be namespaced extensions (if allowed).

        ``index``: the object is item ``index`` of the array at ``path`` (its path is only
        spelt out when there is a problem to report)."""
        if not isinstance(obj, dict):
            self.bad(_at(path, index), "must be an object")
            return False
        for key, value in obj.items():
            rule = shape.values.get(key)
            if rule is not None:
                problem = rule(value)
                if problem is not None:
                    self.bad(f"{_at(path, index)}.{key}", problem)
            elif key in shape.nested:
                shape.nested[key](self, value, f"{_at(path, index)}.{key}")
            elif shape.extensible and (":" in key or key in self.terms):
                self.extension(key, _at(path, index) + ".")
            else:
                self.bad(f"{_at(path, index)}.{key}", shape.unknown)
        return True

    def required(self, obj: dict[str, Any], keys: tuple[str, ...], path: str,
                 index: int | None = None) -> None:
        """Report each of ``keys`` missing from ``obj``."""
        for key in keys:
            if key not in obj:
                self.bad(f"{_at(path, index)}.{key}", "is required")

    def uri_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of URIs")
            return
        self.uri_items(value, path)
        # str(): 1 and "1" are the same identifier once serialised
        if len(value) > 1 and len(set(map(str, value))) != len(value):
            self.bad(path, "contains duplicate identifiers")

    def uri_items(self, items: list[Any], path: str) -> None:
        uri = rules.uri
        for i, item in enumerate(items):
            problem = uri(item)
            if problem is not None:
                self.bad(f"{path}[{i}]", problem)

    def corrective_ids(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of event IDs")
            return
        self.uri_items(value, path)

    def quantity_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of quantity elements")
            return
        for i, element in enumerate(value):
            if self.fields(element, path, _QUANTITY, i) and "epcClass" not in element:
                self.required(element, ("epcClass",), path, i)

    def place(self, value: Any, path: str) -> None:
        if self.fields(value, path, _PLACE) and "id" not in value:
            self.bad(f"{path}.id", "is required")

    def biz_transactions(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array")
            return
        for i, item in enumerate(value):
            if self.fields(item, path, _BIZ_TRANSACTION, i) and "bizTransaction" not in item:
                self.required(item, ("bizTransaction",), path, i)

    def sources(self, value: Any, path: str) -> None:
        self.source_dest(value, path, "source", _SOURCE)

    def destinations(self, value: Any, path: str) -> None:
        self.source_dest(value, path, "destination", _DESTINATION)

    def source_dest(self, value: Any, path: str, role: str, shape: _Shape) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array")
            return
        for i, item in enumerate(value):
            if self.fields(item, path, shape, i) and ("type" not in item or role not in item):
                self.required(item, ("type", role), path, i)

    def persistent_disposition(self, value: Any, path: str) -> None:
        if self.fields(value, path, _PERSISTENT) and "set" not in value and "unset" not in value:
            self.bad(path, "needs set or unset")

    def disposition_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list) or not value:
            self.bad(path, "must be a non-empty array of dispositions")
            return
        for i, item in enumerate(value):
            self.value(rules.disposition, item, f"{path}[{i}]")
        if len(set(map(str, value))) != len(value):
            self.bad(path, "contains duplicates")

    def error_declaration(self, value: Any, path: str) -> None:
        if self.fields(value, path, _ERROR_DECLARATION) and "declarationTime" not in value:
            self.bad(f"{path}.declarationTime", "is required")

    def certification_info(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            self.value(rules.uri, value, path)
            return
        if not isinstance(value, list):
            self.bad(path, "must be a URI or an array of URIs / certification details")
            return
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(item, str):
                self.value(rules.uri, item, p)
            elif isinstance(item, dict):
                self.certification_details(item, p)
            else:
                self.bad(p, "must be a URI or a certification details object")

    def certification_details(self, item: dict[str, Any], path: str) -> None:
        """``gs1:CertificationDetails`` typed by the GS1 Web Vocabulary (dates are xsd:date)."""
        for key, details in item.items():
            self.extension(key, path + ".")
            if self.gs1_iri(key) != _CERT_DETAILS:
                continue
            if not isinstance(details, dict):
                self.bad(f"{path}.{key}", "must be an object")
                continue
            for prop, prop_value in details.items():
                local = self.gs1_iri(prop)[len(GS1_VOC):]
                p = f"{path}.{key}.{prop}"
                if local in _GS1_CERT_DATES and not (
                    isinstance(prop_value, str) and is_date(prop_value)
                ):
                    self.bad(p, f"{prop_value!r} is not a date (YYYY-MM-DD)")
                elif local == "certificationURI":
                    self.value(rules.uri, prop_value, p)

    def gs1_iri(self, key: str) -> str:
        """Expanded IRI of ``key`` if it lies in the GS1 Web Vocabulary, else ''."""
        colon = key.find(":")
        if colon > 0:
            iri = self.terms.get(key[:colon], BUILTIN_PREFIXES.get(key[:colon]))
            if iri == GS1_VOC:
                return GS1_VOC + key[colon + 1 :]
        return key if key.startswith(GS1_VOC) else ""

    def sensor_elements(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array")
            return
        for i, element in enumerate(value):
            if self.fields(element, path, _SENSOR_ELEMENT, i) and "sensorReport" not in element:
                self.required(element, ("sensorReport",), path, i)

    def sensor_metadata(self, value: Any, path: str) -> None:
        self.fields(value, path, _SENSOR_METADATA)

    def sensor_reports(self, value: Any, path: str) -> None:
        if not isinstance(value, list) or not value:
            self.bad(path, "must be a non-empty array of sensor reports")
            return
        for i, report in enumerate(value):
            if self.fields(report, path, _SENSOR_REPORT, i) and \
                    "type" not in report and "exception" not in report:
                self.bad(f"{path}[{i}].type", "is required unless the report is an exception")

    def ilmd(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.bad(path, "must be an object of namespaced fields")
            return
        for key in value:
            self.extension(key, path + ".")

    def context(self, value: Any, path: str) -> None:
        problems: list[str] = []
        read_context(value, problems)
        for problem in problems:
            self.bad(path, problem)


_Nested = Callable[[_Checker, Any, str], None]


class _Shape:
    """The fields an EPCIS object may have: a rule per plain value, a check per nested
    structure, and whether namespaced extensions may be added."""

    __slots__ = ("extensible", "nested", "unknown", "values")

    def __init__(self, values: Mapping[str, rules.Rule], nested: Mapping[str, _Nested] | None
                 = None, *, extensible: bool = False) -> None:
        self.values = values
        self.nested = nested or {}
        self.extensible = extensible
        allowed = ", ".join(sorted({*self.values, *self.nested}))
        self.unknown = f"unknown field (allowed: {allowed}" + (
            ", or namespaced extensions)" if extensible else ")")


def _ignore(value: Any) -> None:
    return None


_C = _Checker
_QUANTITY = _Shape({"epcClass": rules.uri, "quantity": rules.number, "uom": rules.uom})
_PLACE = _Shape({"id": rules.uri}, extensible=True)
_BIZ_TRANSACTION = _Shape({"type": rules.btt, "bizTransaction": rules.uri})
_SOURCE = _Shape({"type": rules.sdt, "source": rules.uri})
_DESTINATION = _Shape({"type": rules.sdt, "destination": rules.uri})
_PERSISTENT = _Shape({}, {"set": _C.disposition_list, "unset": _C.disposition_list})
_ERROR_DECLARATION = _Shape(
    {"declarationTime": rules.time, "reason": rules.error_reason},
    {"correctiveEventIDs": _C.corrective_ids}, extensible=True)
_SENSOR_ELEMENT = _Shape(
    {}, {"sensorMetadata": _C.sensor_metadata, "sensorReport": _C.sensor_reports},
    extensible=True)
_SENSOR_METADATA = _Shape({
    **dict.fromkeys(_META_URIS, rules.uri),
    **dict.fromkeys(("time", "startTime", "endTime"), rules.time)}, extensible=True)
_SENSOR_REPORT = _Shape({
    **dict.fromkeys(_REPORT_URIS, rules.uri), **dict.fromkeys(_REPORT_NUMBERS, rules.number),
    "type": rules.measurement_type, "exception": rules.alert, "time": rules.time,
    "component": rules.component, "stringValue": rules.string, "booleanValue": rules.boolean,
    "hexBinaryValue": rules.hex_binary, "uom": rules.uom,
}, extensible=True)
_EVENT = _Shape({
    "type": _ignore, "eventTime": rules.time, "recordTime": rules.time,
    "eventTimeZoneOffset": rules.offset, "eventID": rules.uri, "action": rules.action,
    "parentID": rules.uri, "transformationID": rules.uri,
    "bizStep": rules.biz_step, "disposition": rules.disposition,
}, {
    "@context": _C.context, "certificationInfo": _C.certification_info,
    "errorDeclaration": _C.error_declaration,
    "epcList": _C.uri_list, "childEPCs": _C.uri_list, "inputEPCList": _C.uri_list,
    "outputEPCList": _C.uri_list,
    "quantityList": _C.quantity_list, "childQuantityList": _C.quantity_list,
    "inputQuantityList": _C.quantity_list, "outputQuantityList": _C.quantity_list,
    "persistentDisposition": _C.persistent_disposition,
    "readPoint": _C.place, "bizLocation": _C.place,
    "bizTransactionList": _C.biz_transactions,
    "sourceList": _C.sources, "destinationList": _C.destinations,
    "sensorElementList": _C.sensor_elements, "ilmd": _C.ilmd,
})
_EVENT_FIELDS = frozenset((*_EVENT.values, *_EVENT.nested))
# The event's fields restricted to those its type allows.
_EVENT_SHAPES = {
    etype: _Shape({k: v for k, v in _EVENT.values.items() if k in allowed},
                  {k: v for k, v in _EVENT.nested.items() if k in allowed})
    for etype, allowed in _ALLOWED.items()
}
_REQUIRED = frozenset(("eventTime", "eventTimeZoneOffset"))


def _nonempty(event: Mapping[str, Any], key: str) -> bool:
    value = event.get(key)
    return isinstance(value, list) and len(value) > 0


def _what_rules(c: _Checker, event: Mapping[str, Any], etype: str) -> None:
    """The per-type 'what' and action rules of EPCIS 2.0 (section 7.4)."""
    action = event.get("action")
    if etype == "TransformationEvent":
        has_in = _nonempty(event, "inputEPCList") or _nonempty(event, "inputQuantityList")
        has_out = _nonempty(event, "outputEPCList") or _nonempty(event, "outputQuantityList")
        if not (has_in and has_out) and not ((has_in or has_out) and "transformationID" in event):
            c.bad(etype, "needs inputs and outputs, or transformationID with inputs or outputs")
        return
    if "action" not in event:
        c.bad("action", "is required")
    if etype == "ObjectEvent":
        if "epcList" not in event and not _nonempty(event, "quantityList") and not (
            _nonempty(event, "sensorElementList") and "readPoint" in event
        ):
            c.bad(etype, "needs epcList or a non-empty quantityList (the objects it is about)")
        if "ilmd" in event and action in ("OBSERVE", "DELETE"):
            c.bad("ilmd", f"is only allowed with action ADD, not {action}")
    elif etype == "TransactionEvent":
        if not _nonempty(event, "bizTransactionList"):
            c.bad("bizTransactionList", "is required and must not be empty")
        if "epcList" not in event and not _nonempty(event, "quantityList") and action != "DELETE":
            c.bad(etype, "needs epcList or a non-empty quantityList unless action is DELETE")
    else:  # AggregationEvent, AssociationEvent
        if "parentID" not in event and (etype == "AssociationEvent" or action != "OBSERVE"):
            c.bad("parentID", "is required" + ("" if etype == "AssociationEvent"
                                               else " when action is ADD or DELETE"))
        if not (_nonempty(event, "childEPCs") or _nonempty(event, "childQuantityList")) and \
                action != "DELETE":
            c.bad(etype, "needs childEPCs or childQuantityList unless action is DELETE")


def event_problems(event: Any, *, index: int | None = None,
                   terms: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """All problems of one event. ``terms`` are the prefixes declared by enclosing contexts."""
    errors: list[dict[str, Any]] = []
    if not isinstance(event, dict):
        errors.append({"event": index, "reason": "event must be a JSON object"})
        return errors
    own = event.get("@context")
    scope = (terms or {}) if own is None else merge_terms(terms or {}, own)
    c = _Checker(errors, index, scope)
    etype = event.get("type")
    if not _is_event_type(etype):
        c.bad("type", "is required" if etype is None
              else f"{etype!r} is not an EPCIS 2.0 event type")
        return errors
    checks, complete = _plan(etype, tuple(event))
    for key, rule, check in checks:
        value = event[key]
        if rule is not None:
            if (problem := rule(value)) is not None:
                c.bad(key, problem)
        elif check is not None:
            check(c, value, key)
        elif ":" in key or key in scope:
            c.extension(key, "")
        elif key in _EVENT_FIELDS:
            c.bad(key, f"is not allowed in an {etype}")
        else:
            c.bad(key, "unknown field (user extensions must be namespaced)")
    if not complete:
        for key in ("eventTime", "eventTimeZoneOffset"):
            if key not in event:
                c.bad(key, "is required")
    _what_rules(c, event, etype)
    return errors


@lru_cache(maxsize=1024)
def _plan(etype: str, fields: tuple[str, ...]
          ) -> tuple[tuple[tuple[str, rules.Rule | None, _Nested | None], ...], bool]:
    """The check of each of ``fields`` in an ``etype`` (a rule for a plain value, a check for
    a structure, or neither: not allowed, or an extension), and whether the required fields
    are there. The events of a document have the same fields in the same order, so this is
    worked out once for them."""
    shape = _EVENT_SHAPES[etype]
    checks = tuple((key, shape.values.get(key), shape.nested.get(key)) for key in fields)
    return checks, _REQUIRED.issubset(fields)


def document_problems(doc: Any, *, namespaces: Mapping[str, str] | None = None
                      ) -> list[dict[str, Any]]:
    """All problems of an EPCISDocument, a bare list of events, or a single event.

    ``namespaces`` are extra prefixes to assume (for bare events captured without a context).
    """
    errors, events, terms = document_scope(doc, namespaces)
    for i, event in enumerate(events):
        errors.extend(event_problems(event, index=i, terms=terms))
    return errors


def document_scope(doc: Any, namespaces: Mapping[str, str] | None
                   ) -> tuple[list[dict[str, Any]], list[Any], dict[str, str]]:
    """The problems of ``doc`` itself (not of its events), its events, and the prefixes in
    scope for them: ``namespaces`` and those of the document's ``@context``."""
    errors: list[dict[str, Any]] = []
    base = dict(namespaces or {})
    if isinstance(doc, list):
        return errors, doc, base
    if not isinstance(doc, dict):
        errors.append({"event": None, "reason": "document must be a JSON object or array"})
        return errors, [], base
    if _is_event_type(doc.get("type")):
        if "@context" not in doc and not base:
            errors.append({"event": 0, "reason": "@context: is required on a standalone event"})
        return errors, [doc], base
    c = _Checker(errors, None, base)
    # (a missing or null member is "required", not "None", which is no JSON)
    if doc.get("type") is None:
        c.bad("type", "is required (EPCISDocument)")
    elif doc["type"] not in ("EPCISDocument", "EPCISQueryDocument"):
        c.bad("type", f"{doc['type']!r} must be EPCISDocument")
    if "@context" not in doc:
        c.bad("@context", "is required")
    else:
        problems: list[str] = []
        terms, has_epcis = read_context(doc["@context"], problems)
        base.update(terms)
        for problem in problems:
            c.bad("@context", problem)
        if not has_epcis:
            c.bad("@context", "must reference the EPCIS 2.0 JSON-LD context")
    if doc.get("schemaVersion") is None:
        c.bad("schemaVersion", 'is required ("2.0")')
    elif doc["schemaVersion"] != "2.0":
        c.bad("schemaVersion", f"{doc['schemaVersion']!r} must be \"2.0\"")
    if "creationDate" in doc or doc.get("type") == "EPCISDocument":
        c.value(rules.time, doc.get("creationDate"), "creationDate")
    for key in doc:
        if key not in _DOC_FIELDS and (":" not in key or namespace_error(key, base)):
            c.bad(key, "unknown document field")
    for key in ("sender", "receiver", "instanceIdentifier"):
        if key in doc and not isinstance(doc[key], str):
            c.bad(key, "must be a string")
    return errors, _event_list(doc, c), base


def _event_list(doc: Mapping[str, Any], c: _Checker) -> list[Any]:
    body = doc.get("epcisBody")
    if doc.get("type") == "EPCISQueryDocument" and isinstance(body, dict):
        results = body.get("queryResults")
        body = results.get("resultsBody") if isinstance(results, dict) else None
    if not isinstance(body, dict):
        c.bad("epcisBody", "is required and must be an object")
        return []
    events = body.get("eventList")
    if not isinstance(events, list):
        c.bad("epcisBody.eventList", "is required and must be an array")
        return []
    return events


def validate_document(doc: Any, *, namespaces: Mapping[str, str] | None = None) -> None:
    """Raise :class:`EPCISValidationError` listing every problem, or return quietly."""
    errors = document_problems(doc, namespaces=namespaces)
    if errors:
        raise problems_error(errors)


def problems_error(errors: list[dict[str, Any]]) -> EPCISValidationError:
    """The error listing every problem, worded after the first."""
    first = errors[0]
    where = "document" if first["event"] is None else f"event {first['event']}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return EPCISValidationError(f"EPCIS {where}: {first['reason']}{more}", errors=errors)
