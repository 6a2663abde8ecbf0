"""GS1 identifiers: check digits, EPC URNs and GS1 Digital Link URIs (pure, no IO).

Why this module exists: the same physical thing reaches the ledger under several spellings --
an EPC URN (``urn:epc:id:sgtin:0614141.107346.2017``), a Digital Link on GS1's resolver
(``https://id.gs1.org/01/10614141073464/21/2017``) or on a brand's own domain
(``https://id.brand.example/01/10614141073464/21/2017?linkType=all``). Trace and recall
queries, and the EPCIS event hash, need *one* spelling, so :func:`parse_epc` turns any of them
into an :class:`EPC` whose :attr:`EPC.canonical` is the constrained canonical Digital Link on
``https://id.gs1.org`` (GS1 Digital Link 1.2 section 4.11, as the CBV 2.0 event hash requires).

Going back to a URN needs the GS1 Company Prefix length, which a Digital Link does not carry
(only GS1's prefix registry knows it). A URN does carry it -- the dot after the prefix -- so an
:class:`EPC` parsed from a URN remembers it and :meth:`EPC.to_urn` round-trips; otherwise the
caller passes ``company_prefix_length``.

Check digits: URNs have none (they are recomputed), Digital Links do; :func:`parse_epc` verifies
them unless ``verify_check_digits=False``. The event hash uses the lenient
:func:`canonical_digital_link`, which never raises, because a hash must be defined for every
event a partner may send, and EPCIS itself only requires identifiers to be URIs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

from supplyledger.errors import ValidationError

__all__ = [
    "EPC",
    "canonical_digital_link",
    "gs1_check_digit",
    "gtin_check_digit",
    "parse_epc",
    "sscc_link",
    "validate_gln",
    "validate_gtin",
    "validate_sscc",
]

GS1_RESOLVER = "https://id.gs1.org"

_DIGITS = re.compile(r"^[0-9]+$")
_SAFE = re.compile(r"^[A-Za-z0-9._~\-]*$")
# GS1 AI encodable character set 82, as it appears in URN components (escapes are %HH).
_URN_CHARS = re.compile(r"^(?:[A-Za-z0-9!'()*+,\-.:;=_]|%[0-9A-Fa-f]{2})+$")  # '.' last only
_URN_ESCAPE = {'"': "%22", "%": "%25", "&": "%26", "/": "%2F", "<": "%3C", ">": "%3E", "?": "%3F"}


# ---------------------------------------------------------------------------- check digits
def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of ``body`` (all digits, any length): weights 3,1,3,... from the
    right. The same rule serves GTIN, GLN, SSCC, GRAI, GDTI, GSRN, GSIN and GCN."""
    if not (body.isascii() and body.isdigit()):
        raise ValidationError(f"check digit body must be digits, got {body!r}")
    return _check_digit(body)


def _check_digit(digits: str) -> int:
    """:func:`gs1_check_digit` of ``digits`` known to be ASCII digits."""
    # Summing the ASCII bytes runs in C; this is on the hot path of every EPC we normalise.
    # The bytes are the digits plus 48 each, which the 48 * (3 * odd + even) takes off.
    b = digits.encode()
    n = len(b)
    return (48 * (3 * ((n + 1) // 2) + n // 2) - 3 * sum(b[-1::-2]) - sum(b[-2::-2])) % 10


def gtin_check_digit(body: str) -> int:
    """Check digit for a GTIN given *without* it (7, 11, 12 or 13 digits: GTIN-8/12/13/14)."""
    if len(body) not in (7, 11, 12, 13) or not _DIGITS.match(body):
        raise ValidationError(f"GTIN body must be 7, 11, 12 or 13 digits, got {body!r}")
    return gs1_check_digit(body)


def _check(name: str, value: str, lengths: tuple[int, ...]) -> str:
    if not _DIGITS.match(value) or len(value) not in lengths:
        want = "/".join(str(n) for n in lengths)
        raise ValidationError(f"{name} must be {want} digits, got {value!r}")
    expected = gs1_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise ValidationError(
            f"{name} {value} has check digit {value[-1]}, expected {expected}"
        )
    return value


def validate_gtin(value: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as the 14-digit form used in Digital Links."""
    return _check("GTIN", value, (8, 12, 13, 14)).zfill(14)


def validate_gln(value: str) -> str:
    """Validate a 13-digit GLN (physical location or party)."""
    return _check("GLN", value, (13,))


def validate_sscc(value: str) -> str:
    """Validate an 18-digit SSCC (logistic unit)."""
    return _check("SSCC", value, (18,))


def sscc_link(text: str) -> str | None:
    """The Digital Link of the SSCC ``text`` as people copy it from a label or a page (18
    digits, or with its AI: ``00…``, ``(00)…``), or None if it is no SSCC with a valid
    check digit."""
    digits = text.strip().removeprefix("(00)").strip()
    if len(digits) == 20 and digits.startswith("00"):
        digits = digits[2:]
    if len(digits) != 18 or not _DIGITS.match(digits) or \
            _check_digit(digits[:-1]) != int(digits[-1]):
        return None
    return f"{GS1_RESOLVER}/00/{digits}"


# ---------------------------------------------------------------------------- the EPC value
# scheme -> (primary AI, qualifier AI of `serial` or None)
_SCHEME_AI: dict[str, tuple[str, str | None]] = {
    "sgtin": ("01", "21"), "lgtin": ("01", "10"), "upui": ("01", "235"),
    "sscc": ("00", None), "sgln": ("414", "254"), "pgln": ("417", None),
    "grai": ("8003", None), "giai": ("8004", None), "gsrn": ("8018", None),
    "gsrnp": ("8017", None), "gdti": ("253", None), "sgcn": ("255", None),
    "cpi": ("8010", "8011"), "ginc": ("401", None), "gsin": ("402", None),
    "itip": ("8006", "21"),
}
# Schemes whose serial is appended to the key inside one AI value (no separate qualifier).
_APPENDED_SERIAL = {"grai": 14, "gdti": 13, "sgcn": 13}


@dataclass(frozen=True, slots=True)
class EPC:
    """A GS1-keyed identifier in one normalised form.

    ``kind`` is the EPC scheme (``sgtin``, ``lgtin``, ``sscc``, ``sgln``, ``pgln``, ``grai``,
    ``giai``, ``gsrn``, ``gsrnp``, ``gdti``, ``sgcn``, ``cpi``, ``ginc``, ``gsin``, ``itip``,
    ``upui``); ``key`` the GS1 key with its check digit (GTIN always 14 digits); ``serial`` the
    instance part (``None`` for a class-level identifier such as an ``idpat`` pattern);
    ``lot`` the batch of an ``lgtin`` (or of an ``itip`` class); ``extension`` the GLN
    extension of an ``sgln``.
    """

    kind: str
    key: str
    serial: str | None = None
    lot: str | None = None
    extension: str | None = None
    company_prefix_length: int | None = None

    @property
    def gtin(self) -> str | None:
        """GTIN-14 of a trade item identifier, else ``None``."""
        if self.kind in ("sgtin", "lgtin", "upui"):
            return self.key
        return self.key[:14] if self.kind == "itip" else None

    @property
    def sscc(self) -> str | None:
        return self.key if self.kind == "sscc" else None

    @property
    def gln(self) -> str | None:
        return self.key if self.kind in ("sgln", "pgln") else None

    @property
    def is_class(self) -> bool:
        """True for class-level identifiers (a lot, or a pattern without serial)."""
        if self.kind == "lgtin":
            return True
        return self.serial is None and self.kind in ("sgtin", "grai", "gdti", "sgcn", "cpi", "itip")

    @property
    def canonical(self) -> str:
        """The constrained canonical Digital Link, the one spelling used for comparison."""
        return self.to_digital_link()

    def ai_pairs(self) -> tuple[tuple[str, str], ...]:
        """The GS1 element string as (AI, value) pairs, in Digital Link path order."""
        primary, qualifier = _SCHEME_AI[self.kind]
        if self.kind in _APPENDED_SERIAL:
            return ((primary, self.key + (self.serial or "")),)
        if self.kind == "lgtin" or (self.kind == "itip" and self.lot and self.serial is None):
            return ((primary, self.key), ("10", self.lot or ""))
        if self.kind == "sgln":
            ext = self.extension
            return ((primary, self.key),) + ((("254", ext),) if ext else ())
        if qualifier is not None and self.serial is not None:
            return ((primary, self.key), (qualifier, self.serial))
        return ((primary, self.key),)

    def to_digital_link(self, base: str = GS1_RESOLVER) -> str:
        """Digital Link URI on ``base`` (default GS1's resolver); values are percent-encoded."""
        path = "".join(
            f"/{ai}/{value if _SAFE.match(value) else quote(value, safe='')}"
            for ai, value in self.ai_pairs()
        )
        return base.rstrip("/") + path

    def to_urn(self, company_prefix_length: int | None = None) -> str:
        """EPC pure-identity URN (``urn:epc:id:`` / ``class:lgtin`` / ``idpat:`` for classes).

        The split point between company prefix and reference is not recoverable from the key
        itself, so it comes from the URN this EPC was parsed from or from the argument.
        """
        cpl = company_prefix_length if company_prefix_length is not None \
            else self.company_prefix_length
        if cpl is None:
            raise ValidationError(
                f"cannot build a URN for {self.canonical}: GS1 Company Prefix length unknown "
                "(pass company_prefix_length)"
            )
        if not 6 <= cpl <= 12:
            raise ValidationError(f"GS1 Company Prefix length must be 6..12, got {cpl}")
        if self.kind == "itip" and self.lot:
            raise ValidationError(f"{self.canonical}: an ITIP lot has no EPC URN form")
        return _to_urn(self, cpl)


def _urn_escape(value: str) -> str:
    return "".join(_URN_ESCAPE.get(ch, ch) for ch in value)


def _split_indicator(key14: str, cpl: int) -> tuple[str, str]:
    """(company prefix, indicator/extension digit + item reference) of a GTIN-14 or SSCC."""
    return key14[1 : 1 + cpl], key14[0] + key14[1 + cpl : -1]


def _to_urn(epc: EPC, cpl: int) -> str:
    kind, key = epc.kind, epc.key
    serial = _urn_escape(epc.serial) if epc.serial is not None else None
    if kind in ("sgtin", "lgtin", "upui", "itip"):
        cp, ref = _split_indicator(key[:14], cpl)
        body = f"{cp}.{ref}"
        if kind == "itip":
            body += f".{key[14:16]}.{key[16:18]}"
        if kind == "lgtin":
            return f"urn:epc:class:lgtin:{body}.{_urn_escape(epc.lot or '')}"
        if serial is None:
            return f"urn:epc:idpat:{kind}:{body}.*"
        return f"urn:epc:id:{kind}:{body}.{serial}"
    if kind == "sscc":
        cp, ref = _split_indicator(key, cpl)
        return f"urn:epc:id:sscc:{cp}.{ref}"
    if kind in ("grai", "gdti", "sgcn"):
        digits = key[1:] if kind == "grai" else key
        body = f"{digits[:cpl]}.{digits[cpl:-1]}"
        if serial is None:
            return f"urn:epc:idpat:{kind}:{body}.*"
        return f"urn:epc:id:{kind}:{body}.{serial}"
    if kind == "sgln":
        return f"urn:epc:id:sgln:{key[:cpl]}.{key[cpl:-1]}.{_urn_escape(epc.extension or '0')}"
    if kind in ("pgln", "gsrn", "gsrnp", "gsin"):
        return f"urn:epc:id:{kind}:{key[:cpl]}.{key[cpl:-1]}"
    if kind == "cpi":
        body = f"{key[:cpl]}.{_urn_escape(key[cpl:])}"
        if serial is None:
            return f"urn:epc:idpat:cpi:{body}.*"
        return f"urn:epc:id:cpi:{body}.{serial}"
    # giai, ginc: the reference is the rest of the key, no check digit
    return f"urn:epc:id:{kind}:{key[:cpl]}.{_urn_escape(key[cpl:])}"


# ---------------------------------------------------------------------------- URN parsing
# scheme -> number of dot-separated components (idpat replaces the last one by "*")
_URN_PARTS = {
    "sgtin": 3, "sscc": 2, "sgln": 3, "pgln": 2, "grai": 3, "giai": 2, "gsrn": 2, "gsrnp": 2,
    "gdti": 3, "cpi": 3, "sgcn": 3, "ginc": 2, "gsin": 2, "itip": 5, "upui": 3, "lgtin": 3,
}
# scheme -> total digits of company prefix + the numeric reference (key length minus check
# digit and indicator/filler) -- the TDS rule that fixes where the prefix ends.
_URN_DIGITS = {"sgtin": 13, "lgtin": 13, "upui": 13, "itip": 13, "sscc": 17, "sgln": 12,
               "pgln": 12, "grai": 12, "gdti": 12, "sgcn": 12, "gsrn": 17, "gsrnp": 17,
               "gsin": 16}


def _bad(uri: str, why: str) -> ValidationError:
    return ValidationError(f"invalid EPC {uri!r}: {why}")


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_urn(uri: str) -> EPC:
    parts = uri.split(":", 4)  # a serial may itself contain ':'
    if len(parts) != 5 or parts[:2] != ["urn", "epc"] or not parts[4]:
        raise _bad(uri, "expected urn:epc:{id|class|idpat}:{scheme}:{value}")
    form, scheme, value = parts[2], parts[3], parts[4]
    if form not in ("id", "class", "idpat") or (form == "class") != (scheme == "lgtin"):
        raise _bad(uri, f"unsupported form/scheme {form}:{scheme}")
    nparts = _URN_PARTS.get(scheme)
    if nparts is None:
        raise _bad(uri, f"scheme {scheme!r} has no GS1 key equivalent")
    # The last component (a serial, lot, extension or asset reference) may itself contain '.'.
    comps = value.split(".", nparts - 1)
    if len(comps) != nparts:
        raise _bad(uri, f"{scheme} needs {nparts} dot-separated components")
    pattern = form == "idpat"
    if pattern and comps[-1] != "*":
        raise _bad(uri, "an idpat URN must end in '*'")
    cp = comps[0]
    cpl = len(cp)
    if not (6 <= cpl <= 12 and _is_digits(cp)):
        raise _bad(uri, "GS1 Company Prefix must be 6..12 digits")
    ref = comps[1]
    need = _URN_DIGITS.get(scheme)
    if need is not None:
        # a 12-digit prefix leaves an empty location/asset/party reference, which is valid
        if cpl + len(ref) != need or (ref and not _is_digits(ref)):
            raise _bad(uri, f"company prefix + reference must be {need} digits")
        if scheme in ("sgtin", "lgtin", "upui", "itip", "sscc") and not ref:
            raise _bad(uri, "the indicator / extension digit is missing")
    free = comps[2:] if need is not None else comps[1:]
    if pattern:
        free = free[:-1]
    for comp in free:
        if not comp or _URN_CHARS.match(comp) is None:
            raise _bad(uri, f"component {comp!r} has characters outside the GS1 set")
    last = None if pattern else comps[-1]
    if last is not None and "%" in last:
        last = unquote(last)
    if scheme in ("sgtin", "lgtin", "upui", "itip"):
        body = ref[0] + cp + ref[1:]
        key = body + str(gs1_check_digit(body))
        if scheme == "itip":
            pp, tt = comps[2], comps[3]
            if not (len(pp) == 2 and len(tt) == 2 and _is_digits(pp + tt)):
                raise _bad(uri, "ITIP piece and total must be 2 digits each")
            key += pp + tt
        if scheme == "lgtin":
            return EPC("lgtin", key, None, last, None, cpl)
        return EPC(scheme, key, last, None, None, cpl)
    if scheme == "sscc":
        body = ref[0] + cp + ref[1:]
        return EPC("sscc", body + str(gs1_check_digit(body)), None, None, None, cpl)
    if scheme in ("grai", "gdti", "sgcn"):
        body = ("0" if scheme == "grai" else "") + cp + ref
        return EPC(scheme, body + str(gs1_check_digit(body)), last, None, None, cpl)
    if scheme == "sgln":
        key = cp + ref + str(gs1_check_digit(cp + ref))
        return EPC("sgln", key, None, None, None if last in (None, "0") else last, cpl)
    if scheme in ("pgln", "gsrn", "gsrnp", "gsin"):
        return EPC(scheme, cp + ref + str(gs1_check_digit(cp + ref)), None, None, None, cpl)
    if scheme == "cpi":
        return EPC("cpi", cp + unquote(ref), last, None, None, cpl)
    return EPC(scheme, cp + unquote(ref), None, None, None, cpl)  # giai, ginc


# ---------------------------------------------------------------------------- Digital Link
_PRIMARY = {"00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006",
            "8010", "8017", "8018"}
# primary AI -> qualifiers allowed after it, in the only order Digital Link permits
_QUALIFIERS = {"01": ("22", "10", "21", "235"), "8006": ("22", "10", "21"),
               "414": ("254",), "8010": ("8011",)}
_AI_FORMAT = {
    "00": re.compile(r"^\d{18}$"), "01": re.compile(r"^(\d{8}|\d{12}|\d{13}|\d{14})$"),
    "253": re.compile(r"^\d{13}.{0,17}$"), "255": re.compile(r"^\d{13}\d{0,12}$"),
    "401": re.compile(r"^.{1,30}$"), "402": re.compile(r"^\d{17}$"),
    "414": re.compile(r"^\d{13}$"), "417": re.compile(r"^\d{13}$"),
    "8003": re.compile(r"^\d{14}.{0,16}$"), "8004": re.compile(r"^.{1,30}$"),
    "8006": re.compile(r"^\d{18}$"), "8010": re.compile(r"^.{1,30}$"),
    "8017": re.compile(r"^\d{18}$"), "8018": re.compile(r"^\d{18}$"),
    "22": re.compile(r"^.{1,20}$"), "10": re.compile(r"^.{1,20}$"),
    "21": re.compile(r"^.{1,20}$"), "235": re.compile(r"^.{1,28}$"),
    "254": re.compile(r"^.{1,20}$"), "8011": re.compile(r"^\d{1,12}$"),
}
_DL = re.compile(r"^https?://[^/?#\s]+(/[^?#\s]*)(?:\?[^#\s]*)?(?:#\S*)?$")


def _dl_pairs(uri: str) -> list[tuple[str, str]] | None:
    """(AI, value) pairs of a Digital Link path (any host, optional path prefix), or None."""
    m = _DL.match(uri)
    if m is None:
        return None
    segs = m.group(1).split("/")[1:]
    for start in range(len(segs) - 1):
        if segs[start] not in _PRIMARY:
            continue
        rest = segs[start:]
        if len(rest) % 2:
            continue
        pairs = [(rest[i], unquote(rest[i + 1])) for i in range(0, len(rest), 2)]
        allowed = _QUALIFIERS.get(pairs[0][0], ())
        pos = -1
        ok = True
        for ai, _ in pairs[1:]:
            if ai not in allowed or allowed.index(ai) <= pos:
                ok = False
                break
            pos = allowed.index(ai)
        if ok and all(_AI_FORMAT[ai].match(v) for ai, v in pairs):
            return pairs
    return None


def _epc_from_pairs(uri: str, pairs: list[tuple[str, str]], verify: bool) -> EPC:
    ai, value = pairs[0]
    quals = dict(pairs[1:])

    def key(name: str, digits: str) -> str:
        if verify:
            _check(name, digits, (len(digits),))
        return digits

    if ai == "01":
        gtin = key("GTIN", value).zfill(14)
        if "21" in quals:
            return EPC("sgtin", gtin, serial=quals["21"])
        if "235" in quals:
            return EPC("upui", gtin, serial=quals["235"])
        if "10" in quals:
            return EPC("lgtin", gtin, lot=quals["10"])
        return EPC("sgtin", gtin)
    if ai == "8006":
        itip = key("ITIP", value[:14]) + value[14:]
        serial = quals.get("21")
        return EPC("itip", itip, serial=serial, lot=None if serial else quals.get("10"))
    if ai == "00":
        return EPC("sscc", key("SSCC", value))
    if ai in ("414", "417"):
        gln = key("GLN", value)
        if ai == "417":
            return EPC("pgln", gln)
        return EPC("sgln", gln, extension=quals.get("254"))
    if ai in ("8003", "253", "255"):
        kind, n = {"8003": ("grai", 14), "253": ("gdti", 13), "255": ("sgcn", 13)}[ai]
        if verify and kind == "grai" and value[0] != "0":
            raise _bad(uri, "a GRAI in AI 8003 starts with the filler digit 0")
        return EPC(kind, key(kind.upper(), value[:n]), serial=value[n:] or None)
    if ai in ("8018", "8017", "402"):
        kind = {"8018": "gsrn", "8017": "gsrnp", "402": "gsin"}[ai]
        return EPC(kind, key(kind.upper(), value))
    if ai == "8010":
        return EPC("cpi", value, serial=quals.get("8011"))
    return EPC({"8004": "giai", "401": "ginc"}[ai], value)


def parse_epc(uri: str, *, verify_check_digits: bool = True) -> EPC:
    """Parse an EPC URN or a GS1 Digital Link URI (any host) into an :class:`EPC`.

    Raises :class:`ValidationError` naming what is wrong (a bad check digit names the digit it
    expected). Digital Link query strings (data attributes) are ignored, and so is a consumer
    product variant (AI 22) next to a lot or serial: an EPC names the finest level only.
    """
    if not isinstance(uri, str):
        raise ValidationError(f"EPC must be a string, got {type(uri).__name__}")
    if uri.startswith("urn:epc:"):
        return _parse_urn(uri)
    pairs = _dl_pairs(uri)
    if pairs is None:
        raise _bad(uri, "neither an EPC URN nor a GS1 Digital Link with a known primary key")
    return _epc_from_pairs(uri, pairs, verify_check_digits)


# A plain EPC URN: company prefix, numeric reference, and at most one more component in GS1
# characters without '.' or %-escapes. ASCII digits only ([0-9], not \d, which is Unicode).
_FAST_URN = re.compile(
    r"^urn:epc:(id|class):([a-z]+):([0-9]{6,12})\.([0-9]{0,11})"
    r"(?:\.([A-Za-z0-9!'()*+,\-:;=_]+))?$"
)
# The schemes that carry nearly every event's identifiers, built straight from such a URN:
# scheme -> (primary AI, how the key is laid out, whether the URN has a last component).
# "indicator": the indicator/extension digit moves in front of the company prefix (GTIN,
# SSCC); "filler": a GRAI's leading 0; "plain": prefix + reference. Everything else (itip,
# upui, cpi, giai, ginc, patterns, escapes, malformed URNs) takes the general parser.
_FAST_SCHEMES: dict[str, tuple[str, str, bool]] = {
    "sgtin": ("01", "indicator", True), "lgtin": ("01", "indicator", True),
    "sscc": ("00", "indicator", False), "sgln": ("414", "plain", True),
    "pgln": ("417", "plain", False), "gsrn": ("8018", "plain", False),
    "gsrnp": ("8017", "plain", False), "gsin": ("402", "plain", False),
    "gdti": ("253", "plain", True), "sgcn": ("255", "plain", True),
    "grai": ("8003", "filler", True),
}
# ``$`` also matches before a final newline. The first fast path (these four schemes) built
# such URNs as if the newline were not there; for the others the general parser keeps it
# (%0A). Both stay as they were, so no identifier changes its canonical form.
_NEWLINE_TOLERANT = frozenset(("sgtin", "lgtin", "sgln", "sscc"))


def _dl_value(urn_component: str) -> str:
    """A URN component (GS1 characters, no %-escapes) as a Digital Link path segment."""
    return urn_component if _SAFE.match(urn_component) else quote(urn_component, safe="")


def _key_link(form: str, scheme: str, cp: str, ref: str) -> str | None:
    """``{resolver}/{AI}/{key with check digit}`` of a URN's company prefix and reference, or
    None if the scheme is not one of the fast ones or the parts do not fit it."""
    spec = _FAST_LINKS.get(scheme)
    if spec is None:
        return None
    head, digits, class_form, layout = spec
    if form != class_form or len(cp) + len(ref) != digits:
        return None
    if layout == "indicator":
        if not ref:
            return None
        body = ref[0] + cp + ref[1:]
    else:
        body = ("0" if layout == "filler" else "") + cp + ref
    return f"{head}{body}{_check_digit(body)}"  # (digits: the URN's regex said so)


# scheme -> (its links up to the key, the digits of company prefix + reference, the URN form
# it takes, the key's layout): what _key_link reads of the tables above, in one look-up.
_FAST_LINKS: dict[str, tuple[str, int, str, str]] = {
    scheme: (f"{GS1_RESOLVER}/{ai}/", _URN_DIGITS[scheme],
             "class" if scheme == "lgtin" else "id", layout)
    for scheme, (ai, layout, _) in _FAST_SCHEMES.items()
}


def _urn_link(uri: str) -> str | None:
    """The canonical Digital Link of a plain URN of a common scheme, or None to let the general
    parser decide (same result: tests/epcis/test_gs1.py compares them on generated URNs)."""
    m = _FAST_URN.match(uri)
    if m is None:
        return None
    form, scheme, cp, ref, last = m.groups()
    link = _key_link(form, scheme, cp, ref)
    if link is None or (last is not None) != _FAST_SCHEMES[scheme][2] \
            or (m.end() != len(uri) and scheme not in _NEWLINE_TOLERANT):
        return None
    if last is None:
        return link
    if scheme in ("sgtin", "lgtin"):
        return f"{link}/{'21' if scheme == 'sgtin' else '10'}/{_dl_value(last)}"
    if scheme == "sgln":
        return link if last == "0" else f"{link}/254/{_dl_value(last)}"
    return link + _dl_value(last)  # gdti, sgcn, grai: the serial continues the key's AI value


# The class part of a URN whose last component is a serial or lot that ends its link as is.
_SERIALISED = re.compile(r"urn:epc:(id|class):(sgtin|lgtin|gdti|sgcn|grai):([0-9]{6,12})"
                         r"\.([0-9]{0,11})")
_SERIAL_AI = {"sgtin": "/21/", "lgtin": "/10/"}  # the others append the serial to the key


@lru_cache(maxsize=4096)
def _serial_base(head: str) -> str | None:
    """The Digital Link of the URNs ``{head}.{serial}`` up to the serial (None if ``head`` is
    no such class part). Why: serials are new on every item, but the classes they belong to
    (GTIN, document type, asset type) are few, so prefix, key and check digit are worked out
    once per class."""
    m = _SERIALISED.fullmatch(head)
    if m is None:
        return None
    link = _key_link(*m.groups())
    return None if link is None else link + _SERIAL_AI.get(m.group(2), "")


# How the URNs of those schemes begin (the others' class parts are not looked up).
_SERIALISED_HEADS = ("urn:epc:id:sgtin:", "urn:epc:class:lgtin:", "urn:epc:id:gdti:",
                     "urn:epc:id:sgcn:", "urn:epc:id:grai:")


def _fast_digital_link(uri: str) -> str | None:
    """The canonical Digital Link of a plain EPC URN of a common scheme, or None (then the
    general parser decides): a serial of a class seen before costs a look-up."""
    if not uri.startswith("urn:epc:"):
        return None
    if uri.startswith(_SERIALISED_HEADS):
        head, _, last = uri.rpartition(".")
        if last.isalnum() and last.isascii():  # the usual serial or lot: no escaping needed
            base = _serial_base(head)
            if base is not None:
                return base + last
    return _urn_link(uri)


@lru_cache(maxsize=65536)
def canonical_digital_link(uri: str) -> str | None:
    """Constrained canonical Digital Link of an EPC URN or Digital Link, or ``None``.

    Never raises: check digits are not verified, the host becomes ``id.gs1.org``, the query
    string is dropped and only the finest identification level is kept (``01/22/x/10/y/21/z``
    becomes ``01/21/z``), which is what the CBV 2.0 event hash prescribes. Plain URNs of the
    common schemes take a fast path; everything else the general parser.
    """
    return _fast_digital_link(uri) or _general_digital_link(uri)


def _general_digital_link(uri: str) -> str | None:
    try:
        epc = parse_epc(uri, verify_check_digits=False)
    except ValidationError:
        return None
    if epc.kind == "sgln" and epc.extension == "0":
        epc = EPC("sgln", epc.key)
    return epc.to_digital_link()
