"""Validation of EPCIS 2.0 JSON-LD capture documents: JSON schema rules plus CBV 2.0 semantics.

Why our own validator instead of a JSON-schema engine: the import path must sustain thousands of
events per second, and a generic engine walking the official schema's ``anyOf``/``if``/
``propertyNames`` costs milliseconds per event; plain checks against precompiled regexes,
frozensets and static dispatch tables cost microseconds. It also lets us add what the schema
cannot express: that a non-standard ``bizStep`` must be a URI rather than a bare word, that
extension prefixes are declared in ``@context``, that an ``urn:epc:`` identifier is well formed.

Every problem is collected (not just the first) as ``{"event": index or None, "reason": text}``;
``reason`` starts with the JSON path of the offending field.

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
from typing import Any

from supplyledger.errors import EPCISValidationError, ValidationError
from supplyledger.gs1 import canonical_digital_link, parse_epc

from ._common import (
    BUILTIN_PREFIXES,
    GS1_VOC,
    SENSOR_ALERTS,
    TIME_ZONE_OFFSET,
    URI,
    cbv_term,
    is_cbv_namespace,
    is_date,
    is_datetime,
    merge_terms,
    namespace_error,
    read_context,
)

__all__ = ["EVENT_TYPES", "document_problems", "event_problems", "validate_document"]

EVENT_TYPES = frozenset(
    ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
     "AssociationEvent")
)
_ACTIONS = frozenset(("ADD", "OBSERVE", "DELETE"))
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
_HEX = frozenset("0123456789abcdefABCDEF")


class _Checker:
    """Collects the problems of one event; ``terms`` are the namespace prefixes in scope."""

    __slots__ = ("errors", "index", "terms")

    def __init__(self, errors: list[dict[str, Any]], index: int | None,
                 terms: Mapping[str, str]) -> None:
        self.errors = errors
        self.index = index
        self.terms = terms

    def bad(self, path: str, message: str) -> None:
        self.errors.append({"event": self.index, "reason": f"{path}: {message}"})

    # ---------------------------------------------------------------- scalars
    def uri(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or URI.match(value) is None:
            self.bad(path, f"{value!r} is not a URI")
        elif value.startswith("urn:epc:") and canonical_digital_link(value) is None:
            # canonical_digital_link is cached and shared with the hasher; parse again only to
            # word the error.
            try:
                parse_epc(value)
            except ValidationError as exc:
                self.bad(path, exc.message)

    def time(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not is_datetime(value):
            self.bad(path, f"{value!r} is not an ISO 8601 date-time with a UTC offset "
                           "(e.g. 2024-05-01T12:00:00.000+02:00)")

    def offset(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and TIME_ZONE_OFFSET.match(value)):
            self.bad(path, f"{value!r} is not a time zone offset (+hh:mm or -hh:mm, "
                           "-14:00..+14:00)")

    def number(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(path, f"{value!r} must be a number")

    def string(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.bad(path, f"{value!r} must be a string")

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.bad(path, f"{value!r} must be true or false")

    def hex_binary(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and value and len(value) % 2 == 0
                and _HEX.issuperset(value)):
            self.bad(path, f"{value!r} is not hexBinary (pairs of hex digits)")

    def uom(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and 2 <= len(value) <= 3 and value.isalnum()
                and value.isascii() and value == value.upper()):
            self.bad(path, f"{value!r} is not a UN/CEFACT Rec. 20 unit code (2-3 of A-Z, 0-9)")

    def action(self, value: Any, path: str) -> None:
        if value not in _ACTIONS:
            self.bad(path, f"{value!r} must be ADD, OBSERVE or DELETE")

    def ignore(self, value: Any, path: str) -> None:
        return None

    # ---------------------------------------------------------------- vocabularies
    def vocab(self, value: Any, path: str, kind: str, label: str, strict: bool) -> None:
        """A CBV vocabulary value: standard in any spelling, or a URI of a user vocabulary."""
        if not isinstance(value, str):
            self.bad(path, f"{value!r} must be a string")
        elif cbv_term(value, kind) is not None:
            return
        elif URI.match(value) is None:
            self.bad(path, f"{value!r} is neither a CBV 2.0 {label} nor a URI "
                           "(a non-standard value must be a namespaced URI)")
        elif value.startswith("urn:epcglobal:cbv:") or (strict and is_cbv_namespace(value)):
            # GS1 owns the CBV namespace: nobody may mint a business step or disposition there.
            self.bad(path, f"{value!r} is in the CBV namespace but is not a CBV 2.0 {label}")

    def biz_step(self, value: Any, path: str) -> None:
        self.vocab(value, path, "BizStep", "business step", True)

    def disposition(self, value: Any, path: str) -> None:
        self.vocab(value, path, "Disp", "disposition", True)

    def btt(self, value: Any, path: str) -> None:
        self.vocab(value, path, "BTT", "business transaction type", False)

    def sdt(self, value: Any, path: str) -> None:
        self.vocab(value, path, "SDT", "source/destination type", False)

    def error_reason(self, value: Any, path: str) -> None:
        self.vocab(value, path, "ER", "error reason", False)

    def component(self, value: Any, path: str) -> None:
        self.vocab(value, path, "Comp", "component", False)

    def measurement_type(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and (
            (value.isidentifier() and value[0].isalpha()) or URI.match(value)
        )):
            self.bad(path, f"{value!r} is neither a GS1 measurement type nor a URI")

    def alert(self, value: Any, path: str) -> None:
        if not (isinstance(value, str) and (value in SENSOR_ALERTS or URI.match(value))):
            self.bad(path, f"{value!r} is neither ALARM_CONDITION, ERROR_CONDITION nor a URI")

    # ---------------------------------------------------------------- structures
    def extension(self, key: str, path: str) -> None:
        """A user field attached to an EPCIS structure must be namespaced. What nests *inside*
        it is the extension's own business, so it is not checked further."""
        why = namespace_error(key, self.terms)
        if why is not None:
            self.bad(f"{path}{key}", why)

    def fields(self, obj: Any, path: str, known: Mapping[str, _Check], *,
               extensible: bool) -> bool:
        """Check an object's known fields; others must be namespaced extensions (if allowed)."""
        if not isinstance(obj, dict):
            self.bad(path, "must be an object")
            return False
        for key, value in obj.items():
            check = known.get(key)
            if check is not None:
                check(self, value, f"{path}.{key}")
            elif extensible and (":" in key or key in self.terms):
                self.extension(key, path + ".")
            else:
                allowed = ", ".join(sorted(known))
                self.bad(f"{path}.{key}", f"unknown field (allowed: {allowed}"
                         + (", or namespaced extensions)" if extensible else ")"))
        return True

    def uri_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of URIs")
            return
        for i, item in enumerate(value):
            self.uri(item, f"{path}[{i}]")
        if len(value) > 1 and len({str(v) for v in value}) != len(value):
            self.bad(path, "contains duplicate identifiers")

    def corrective_ids(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of event IDs")
            return
        for i, item in enumerate(value):
            self.uri(item, f"{path}[{i}]")

    def quantity_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array of quantity elements")
            return
        for i, element in enumerate(value):
            p = f"{path}[{i}]"
            if self.fields(element, p, _QUANTITY, extensible=False) and "epcClass" not in element:
                self.bad(f"{p}.epcClass", "is required")

    def place(self, value: Any, path: str) -> None:
        if self.fields(value, path, _PLACE, extensible=True) and "id" not in value:
            self.bad(f"{path}.id", "is required")

    def biz_transactions(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array")
            return
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if self.fields(item, p, _BIZ_TRANSACTION, extensible=False) and \
                    "bizTransaction" not in item:
                self.bad(f"{p}.bizTransaction", "is required")

    def sources(self, value: Any, path: str) -> None:
        self.source_dest(value, path, "source", _SOURCE)

    def destinations(self, value: Any, path: str) -> None:
        self.source_dest(value, path, "destination", _DESTINATION)

    def source_dest(self, value: Any, path: str, role: str, known: Mapping[str, _Check]) -> None:
        if not isinstance(value, list):
            self.bad(path, "must be an array")
            return
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if self.fields(item, p, known, extensible=False):
                for need in ("type", role):
                    if need not in item:
                        self.bad(f"{p}.{need}", "is required")

    def persistent_disposition(self, value: Any, path: str) -> None:
        if self.fields(value, path, _PERSISTENT, extensible=False) and \
                "set" not in value and "unset" not in value:
            self.bad(path, "needs set or unset")

    def disposition_list(self, value: Any, path: str) -> None:
        if not isinstance(value, list) or not value:
            self.bad(path, "must be a non-empty array of dispositions")
            return
        for i, item in enumerate(value):
            self.disposition(item, f"{path}[{i}]")
        if len({str(v) for v in value}) != len(value):
            self.bad(path, "contains duplicates")

    def error_declaration(self, value: Any, path: str) -> None:
        if self.fields(value, path, _ERROR_DECLARATION, extensible=True) and \
                "declarationTime" not in value:
            self.bad(f"{path}.declarationTime", "is required")

    def certification_info(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            self.uri(value, path)
            return
        if not isinstance(value, list):
            self.bad(path, "must be a URI or an array of URIs / certification details")
            return
        for i, item in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(item, str):
                self.uri(item, p)
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
                    self.uri(prop_value, p)

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
            p = f"{path}[{i}]"
            if self.fields(element, p, _SENSOR_ELEMENT, extensible=True) and \
                    "sensorReport" not in element:
                self.bad(f"{p}.sensorReport", "is required")

    def sensor_metadata(self, value: Any, path: str) -> None:
        self.fields(value, path, _SENSOR_METADATA, extensible=True)

    def sensor_reports(self, value: Any, path: str) -> None:
        if not isinstance(value, list) or not value:
            self.bad(path, "must be a non-empty array of sensor reports")
            return
        for i, report in enumerate(value):
            p = f"{path}[{i}]"
            if self.fields(report, p, _SENSOR_REPORT, extensible=True) and \
                    "type" not in report and "exception" not in report:
                self.bad(f"{p}.type", "is required unless the report is an exception")

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


_Check = Callable[[_Checker, Any, str], None]
_C = _Checker
_QUANTITY: dict[str, _Check] = {"epcClass": _C.uri, "quantity": _C.number, "uom": _C.uom}
_PLACE: dict[str, _Check] = {"id": _C.uri}
_BIZ_TRANSACTION: dict[str, _Check] = {"type": _C.btt, "bizTransaction": _C.uri}
_SOURCE: dict[str, _Check] = {"type": _C.sdt, "source": _C.uri}
_DESTINATION: dict[str, _Check] = {"type": _C.sdt, "destination": _C.uri}
_PERSISTENT: dict[str, _Check] = {"set": _C.disposition_list, "unset": _C.disposition_list}
_ERROR_DECLARATION: dict[str, _Check] = {
    "declarationTime": _C.time, "reason": _C.error_reason,
    "correctiveEventIDs": _C.corrective_ids}
_SENSOR_ELEMENT: dict[str, _Check] = {
    "sensorMetadata": _C.sensor_metadata, "sensorReport": _C.sensor_reports}
_SENSOR_METADATA: dict[str, _Check] = {
    **dict.fromkeys(_META_URIS, _C.uri),
    **dict.fromkeys(("time", "startTime", "endTime"), _C.time)}
_SENSOR_REPORT: dict[str, _Check] = {
    **dict.fromkeys(_REPORT_URIS, _C.uri), **dict.fromkeys(_REPORT_NUMBERS, _C.number),
    "type": _C.measurement_type, "exception": _C.alert, "time": _C.time,
    "component": _C.component, "stringValue": _C.string, "booleanValue": _C.boolean,
    "hexBinaryValue": _C.hex_binary, "uom": _C.uom,
}
_EVENT: dict[str, _Check] = {
    "@context": _C.context, "type": _C.ignore, "eventTime": _C.time, "recordTime": _C.time,
    "eventTimeZoneOffset": _C.offset, "eventID": _C.uri,
    "certificationInfo": _C.certification_info, "errorDeclaration": _C.error_declaration,
    "action": _C.action,
    "epcList": _C.uri_list, "childEPCs": _C.uri_list, "inputEPCList": _C.uri_list,
    "outputEPCList": _C.uri_list,
    "quantityList": _C.quantity_list, "childQuantityList": _C.quantity_list,
    "inputQuantityList": _C.quantity_list, "outputQuantityList": _C.quantity_list,
    "parentID": _C.uri, "transformationID": _C.uri,
    "bizStep": _C.biz_step, "disposition": _C.disposition,
    "persistentDisposition": _C.persistent_disposition,
    "readPoint": _C.place, "bizLocation": _C.place,
    "bizTransactionList": _C.biz_transactions,
    "sourceList": _C.sources, "destinationList": _C.destinations,
    "sensorElementList": _C.sensor_elements, "ilmd": _C.ilmd,
}


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
    scope = merge_terms(terms or {}, event.get("@context"))
    c = _Checker(errors, index, scope)
    etype = event.get("type")
    if etype not in EVENT_TYPES:
        c.bad("type", "is required" if etype is None
              else f"{etype!r} is not an EPCIS 2.0 event type")
        return errors
    allowed = _ALLOWED[etype]
    for key, value in event.items():
        if key in allowed:
            _EVENT[key](c, value, key)
        elif ":" in key or key in scope:
            c.extension(key, "")
        elif key in _EVENT:
            c.bad(key, f"is not allowed in an {etype}")
        else:
            c.bad(key, "unknown field (user extensions must be namespaced)")
    for key in ("eventTime", "eventTimeZoneOffset"):
        if key not in event:
            c.bad(key, "is required")
    _what_rules(c, event, etype)
    return errors


def document_problems(doc: Any, *, namespaces: Mapping[str, str] | None = None
                      ) -> list[dict[str, Any]]:
    """All problems of an EPCISDocument, a bare list of events, or a single event.

    ``namespaces`` are extra prefixes to assume (for bare events captured without a context).
    """
    errors: list[dict[str, Any]] = []
    base = dict(namespaces or {})
    if isinstance(doc, list):
        for i, event in enumerate(doc):
            errors.extend(event_problems(event, index=i, terms=base))
        return errors
    if not isinstance(doc, dict):
        return [{"event": None, "reason": "document must be a JSON object or array"}]
    if doc.get("type") in EVENT_TYPES:
        if "@context" not in doc and not base:
            errors.append({"event": 0, "reason": "@context: is required on a standalone event"})
        errors.extend(event_problems(doc, index=0, terms=base))
        return errors
    c = _Checker(errors, None, base)
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        c.bad("type", f"{doc.get('type')!r} must be EPCISDocument")
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
    if doc.get("schemaVersion") != "2.0":
        c.bad("schemaVersion", f"{doc.get('schemaVersion')!r} must be \"2.0\"")
    if "creationDate" in doc or doc.get("type") == "EPCISDocument":
        c.time(doc.get("creationDate"), "creationDate")
    for key in doc:
        if key not in _DOC_FIELDS and (":" not in key or namespace_error(key, base)):
            c.bad(key, "unknown document field")
    for key in ("sender", "receiver", "instanceIdentifier"):
        if key in doc and not isinstance(doc[key], str):
            c.bad(key, "must be a string")
    for i, event in enumerate(_event_list(doc, c)):
        errors.extend(event_problems(event, index=i, terms=base))
    return errors


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
        first = errors[0]
        where = "document" if first["event"] is None else f"event {first['event']}"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise EPCISValidationError(f"EPCIS {where}: {first['reason']}{more}", errors=errors)
