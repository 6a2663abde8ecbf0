"""Vocabulary, JSON-LD context and time helpers shared by validation, hashing and parsing.

Why one private module: the CBV 2.0 term lists, the namespace rules and the timestamp grammar
must be *the same* for the validator (which accepts a value) and the hasher (which canonicalises
it); two copies would drift and an accepted event could hash inconsistently.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from supplyledger.gs1 import canonical_digital_link

# The EPCIS 2.0 JSON-LD context, by the URLs it is published (and was drafted) under.
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EPCIS_CONTEXT_URLS = frozenset({
    EPCIS_CONTEXT,
    "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    "https://id.gs1.org/epcis-context.jsonld",
})
# Prefixes the EPCIS 2.0.0 context itself declares (gs1 is the Web Vocabulary namespace of that
# context, https://gs1.org/voc/ -- not the https://ref.gs1.org/voc/ of EPCIS 2.1 drafts).
BUILTIN_PREFIXES: Mapping[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}
CBV_WEB = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"

# CBV 2.0 standard vocabularies, keyed by the web-URI type prefix (BizStep-, Disp-, ...).
CBV_TERMS: Mapping[str, frozenset[str]] = {
    "BizStep": frozenset((
        "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
        "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
        "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
        "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
        "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
        "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
        "transporting", "unloading", "unpacking", "void_shipping",
    )),
    "Disp": frozenset((
        "active", "available", "completeness_inferred", "completeness_verified", "conformant",
        "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
        "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_class",
        "mismatch_instance", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
        "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
        "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
        "unavailable", "unknown",
    )),
    "BTT": frozenset((
        "bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
        "testprd", "testres", "upevt",
    )),
    "SDT": frozenset(("owning_party", "possessing_party", "location")),
    "ER": frozenset(("did_not_occur", "incorrect_data")),
    "Comp": frozenset((
        "x", "y", "z", "axial_distance", "azimuth", "height", "spherical_radius", "polar_angle",
        "elevation_angle", "easting", "northing", "latitude", "longitude", "altitude",
    )),
}
_URN_VOCAB = {"bizstep": "BizStep", "disp": "Disp", "btt": "BTT", "sdt": "SDT", "er": "ER"}
# GS1 Web Vocabulary terms the EPCIS 2.0.0 context maps for sensorReport type / exception.
MEASUREMENT_TYPES = frozenset((
    "AbsoluteHumidity", "AbsorbedDose", "AbsorbedDoseRate", "Acceleration", "Radioactivity",
    "Altitude", "AmountOfSubstance", "AmountOfSubstancePerUnitVolume", "Angle",
    "AngularAcceleration", "AngularMomentum", "AngularVelocity", "Area", "Capacitance",
    "Conductance", "Conductivity", "Count", "Density", "Dimensionless", "DoseEquivalent",
    "DoseEquivalentRate", "DynamicViscosity", "ElectricCharge", "ElectricCurrent",
    "ElectricCurrentDensity", "ElectricFieldStrength", "Energy", "Exposure", "Force", "Frequency",
    "Illuminance", "Inductance", "Irradiance", "KinematicViscosity", "Length", "LinearMomentum",
    "Luminance", "LuminousFlux", "LuminousIntensity", "MagneticFlux", "MagneticFluxDensity",
    "MagneticVectorPotential", "Mass", "MassConcentration", "MassFlowRate", "MassPerAreaTime",
    "MemoryCapacity", "MolalityOfSolute", "MolarEnergy", "MolarMass", "MolarVolume", "Power",
    "Pressure", "RadiantFlux", "RadiantIntensity", "RelativeHumidity", "Resistance", "Resistivity",
    "SolidAngle", "SpecificVolume", "Speed", "SurfaceDensity", "SurfaceTension", "Temperature",
    "Time", "Torque", "Voltage", "Volume", "VolumeFlowRate", "VolumeFraction", "VolumetricFlux",
    "Wavenumber",
))
SENSOR_ALERTS = frozenset(("ALARM_CONDITION", "ERROR_CONDITION"))

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
FULL_URI_SCHEMES = frozenset(("http", "https", "urn", "tag"))
TIME_ZONE_OFFSET = re.compile(r"^[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)$")
_DATETIME = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)"
    r"(?:\.(\d{1,9}))?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)
_DATE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_NUMERIC = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


# ------------------------------------------------------------------------------ time
_UTC = frozenset(("Z", "z", "+00:00", "-00:00"))
# Look-up tables for the fast path of utc_millis: "hhmm" -> minute of the day, offset ->
# minutes east of UTC, minute of the day -> "hh:mm".
_MINUTE_OF_DAY = {f"{m // 60:02d}{m % 60:02d}": m for m in range(1440)}
_OFFSET_MINUTES = {f"{sign}{m // 60:02d}:{m % 60:02d}": (m if sign == "+" else -m)
                   for m in range(1440) for sign in "+-"}
_HH_MM = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]


@lru_cache(maxsize=8)
def _match_datetime(value: str) -> tuple[Any, ...] | None:
    # (Cached for the few strings at hand: the validator and then the hasher parse each
    # event's times, one right after the other.)
    m = _DATETIME.match(value)
    if m is None:
        return None
    groups = m.groups()
    day = groups[2]
    if day > "28" and int(day) > monthrange(int(groups[0]), int(groups[1]))[1]:
        return None  # 31 April, 29 February of a common year, ...
    if groups[0] in ("0000", "0001", "9999"):
        # Only times whose UTC instant exists in years 1-9999 can be hashed and stored.
        try:
            _naive_utc(groups)
        except (ValueError, OverflowError):
            return None
    return groups


def is_datetime(value: str) -> bool:
    """True for an ISO 8601 / RFC 3339 date-time *with* a UTC offset (EPCIS requires one)."""
    return _match_datetime(value) is not None


def _naive_utc(groups: tuple[Any, ...]) -> datetime:
    """UTC wall time of matched date-time parts, sub-millisecond digits rounded half-up (the
    precision the CBV event hash fixes and the one we store)."""
    year, month, day, hour, minute, second, frac, off = groups
    dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    if frac:
        millis = int(frac[:3].ljust(3, "0")) + (1 if len(frac) > 3 and frac[3] >= "5" else 0)
        dt += timedelta(milliseconds=millis)
    if off not in ("Z", "z", "+00:00", "-00:00"):
        delta = timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
        dt = dt - delta if off[0] == "+" else dt + delta
    return dt


def utc_millis(value: str) -> str | None:
    """``2005-04-03T20:33:31.1164-06:00`` -> ``2005-04-04T02:33:31.116Z`` (None if invalid)."""
    groups = _match_datetime(value.strip())
    if groups is None:
        return None
    year, month, day, hour, minute, second, frac, off = groups
    if frac is None or len(frac) <= 3:
        # Fast paths (nearly every captured time is at most ms precise, so no rounding can
        # carry into the seconds): text only, no datetime arithmetic, which costs 4x more.
        millis = (frac or "").ljust(3, "0")
        if off in _UTC:
            return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{millis}Z"
        # An offset moves only hour and minute -- unless UTC falls on another day, which is
        # left to datetime (month lengths, leap years), as are the (regex-valid) non-ASCII
        # digits datetime would rewrite and year 0, which datetime rejects.
        minutes = _MINUTE_OF_DAY[hour + minute] - _OFFSET_MINUTES[off] \
            if value.isascii() and year != "0000" else -1
        if 0 <= minutes < 1440:
            return f"{year}-{month}-{day}T{_HH_MM[minutes]}:{second}.{millis}Z"
    return _naive_utc(groups).isoformat(timespec="milliseconds") + "Z"


def is_date(value: str) -> bool:
    """xsd:date without timezone, as the GS1 Web Vocabulary uses for certification dates."""
    m = _DATE.match(value)
    if m is None:
        return False
    try:
        datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ numbers
def canonical_number(value: Any) -> str:
    """Decimal text without exponent or trailing zeros (``1.0`` -> ``1``, ``1e-7`` ->
    ``0.0000001``), as the event hash prescribes for quantitative values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return _decimal_text(Decimal(repr(value)))
    text = str(value).strip()
    if _NUMERIC.match(text):
        try:
            return _decimal_text(Decimal(text))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            return text
    return text


def _decimal_text(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def looks_numeric(text: str) -> bool:
    return _NUMERIC.match(text) is not None


# ------------------------------------------------------------------------------ JSON-LD context
def read_context(ctx: Any, problems: list[str] | None = None) -> tuple[dict[str, str], bool]:
    """Terms/prefixes an ``@context`` declares, and whether it references the EPCIS context.

    Only what EPCIS documents use is interpreted: context URLs and ``{"prefix": "IRI"}`` (or
    ``{"term": {"@id": "IRI"}}``) maps. Later entries override earlier ones, as in JSON-LD;
    ``@protected`` is not enforced (a document that redefines ``cbvmda`` gets its own mapping).
    Malformed entries are reported into ``problems`` when given.
    """
    terms: dict[str, str] = {}
    has_epcis = False
    entries = ctx if isinstance(ctx, list) else [ctx]
    for entry in entries:
        if isinstance(entry, str):
            if entry in EPCIS_CONTEXT_URLS:
                has_epcis = True
            elif problems is not None and URI.match(entry) is None:
                problems.append(f"@context entry {entry!r} is not a URI")
        elif isinstance(entry, dict):
            for name, value in entry.items():
                if name.startswith("@"):
                    continue
                iri = value.get("@id") if isinstance(value, dict) else value
                if isinstance(iri, str) and URI.match(iri):
                    terms[name] = iri
                elif problems is not None:
                    problems.append(f"@context term {name!r} does not map to an IRI")
        elif problems is not None:
            problems.append("@context entries must be URLs or objects")
    return terms, has_epcis


def merge_terms(base: Mapping[str, str], ctx: Any) -> Mapping[str, str]:
    """``base`` overlaid with the terms of an event-level ``@context`` (if any)."""
    if ctx is None:
        return base
    extra, _ = read_context(ctx)
    if not extra:
        return base
    merged = dict(base)
    merged.update(extra)
    return merged


def namespace_error(key: str, terms: Mapping[str, str]) -> str | None:
    """Why ``key`` is not a properly namespaced user field, or None when it is.

    Properly namespaced means a compact IRI whose prefix the ``@context`` declares, a full IRI
    (http/https/urn/tag), or a term the ``@context`` defines explicitly. A bare word -- or a
    ``foo:bar`` whose ``foo`` nobody declared -- would expand to nothing in JSON-LD and is lost
    to every receiver, which is why EPCIS requires namespaces for extensions.
    """
    colon = key.find(":")
    if colon < 0:
        return None if key in terms else "user extension fields must be namespaced"
    prefix = key[:colon]
    if prefix in terms or prefix in BUILTIN_PREFIXES:
        return None if colon + 1 < len(key) else "empty local name"
    if prefix in FULL_URI_SCHEMES and URI.match(key):
        return None
    return f"namespace prefix {prefix!r} is not declared in @context"


def expand_curie(value: str, terms: Mapping[str, str]) -> str:
    """Expand ``prefix:local`` when ``prefix`` is declared in ``terms`` or by the EPCIS context
    (JSON-LD compact IRI expansion)."""
    colon = value.find(":")
    if colon > 0 and not value.startswith("//", colon + 1):
        prefix = value[:colon]
        iri = terms.get(prefix) or BUILTIN_PREFIXES.get(prefix)
        if iri is not None:
            return iri + value[colon + 1 :]
    return value


def qualified_name(key: str, terms: Mapping[str, str]) -> str:
    """``{namespace}local`` of an extension key, the XML-compatible form the event hash uses.

    A namespace that ends in ``:`` (URN style, e.g. ``urn:epcglobal:cbv:mda:``) is written
    without it, as its XML namespace is.
    """
    colon = key.find(":")
    if colon > 0 and not key.startswith("//", colon + 1):
        prefix = key[:colon]
        ns = terms.get(prefix) or BUILTIN_PREFIXES.get(prefix)
        if ns is not None:
            return "{" + (ns[:-1] if ns.endswith(":") else ns) + "}" + key[colon + 1 :]
    iri = terms.get(key, key) if colon < 0 else key
    cut = max(iri.rfind("/"), iri.rfind("#"))
    if cut < 0 or iri.startswith("urn:"):
        cut = iri.rfind(":")
        if cut > 0:
            return "{" + iri[:cut] + "}" + iri[cut + 1 :]
        return iri
    return "{" + iri[: cut + 1] + "}" + iri[cut + 1 :]


# ------------------------------------------------------------------------------ CBV values
def cbv_term(value: str, kind: str) -> str | None:
    """The bare CBV term if ``value`` is a standard ``kind`` value in any of its spellings:
    bare (``shipping``), URN (``urn:epcglobal:cbv:bizstep:shipping``), web URI
    (``https://ref.gs1.org/cbv/BizStep-shipping``) or CURIE (``cbv:BizStep-shipping``)."""
    terms = CBV_TERMS[kind]
    if value in terms:
        return value
    term = cbv_namespace_term(value, kind)
    return term if term in terms else None


def cbv_namespace_term(value: str, kind: str) -> str | None:
    """The term part if ``value`` is *spelt* in the CBV namespace for ``kind`` (standard or
    not), e.g. ``transforming`` for ``urn:epcglobal:cbv:bizstep:transforming``."""
    if value.startswith("urn:epcglobal:cbv:"):
        rest = value[18:]
        colon = rest.find(":")
        if colon > 0 and _URN_VOCAB.get(rest[:colon]) == kind:
            return rest[colon + 1 :]
        return None
    for prefix in (CBV_WEB, "cbv:"):
        if value.startswith(prefix):
            rest = value[len(prefix) :]
            if rest.startswith(kind + "-"):
                return rest[len(kind) + 1 :]
    return None


def is_cbv_namespace(value: str) -> bool:
    return value.startswith(("urn:epcglobal:cbv:", CBV_WEB, "cbv:"))


def canonical_uri(value: str) -> str:
    """EPC URNs and Digital Links (any host) to the canonical Digital Link; CBV 1.x URNs to
    their CBV 2.0 web URIs; anything else unchanged (but stripped of surrounding whitespace).

    Not cached itself: the expensive part, :func:`canonical_digital_link`, is, and callers
    memoise per document (:class:`~supplyledger.epcis._canon.Canon`)."""
    value = value.strip()
    if value.startswith("urn:epcglobal:cbv:"):
        rest = value[18:]
        colon = rest.find(":")
        kind = _URN_VOCAB.get(rest[:colon]) if colon > 0 else None
        if kind is not None:
            return f"{CBV_WEB}{kind}-{rest[colon + 1:]}"
        return value
    if value.startswith(("urn:epc:", "http://", "https://")):
        dl = canonical_digital_link(value)
        if dl is not None:
            return dl
    return value


def vocab_uri(value: str, kind: str, terms: Mapping[str, str]) -> str:
    """Full URI of a vocabulary value (bare standard term, CURIE, URN or URI)."""
    if kind in CBV_TERMS:
        if value in CBV_TERMS[kind]:
            return f"{CBV_WEB}{kind}-{value}"
    elif value in (MEASUREMENT_TYPES if kind == "MT" else SENSOR_ALERTS):
        return GS1_VOC + value
    return canonical_uri(expand_curie(value, terms))
