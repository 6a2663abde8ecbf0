"""GS1 EPCIS 2.0 for supplyledger: validate, hash, parse and build capture documents.

Pure (no clock, no database, no network): the node's ingest and the API's EPCIS binding call in
here, the ledger stores what comes out. The public surface is what ``__all__`` lists; the
submodules are implementation detail except :mod:`supplyledger.epcis.bench`, a benchmark helper.
"""

from supplyledger.errors import EPCISValidationError

from .document import (
    EPCISEvent,
    ParsedDocument,
    QuantityElement,
    build_document,
    parse_document,
    parse_events,
)
from .hashing import HASH_VERSION, event_hash_id, event_prehash
from .validate import EVENT_TYPES, document_problems, event_problems, validate_document

__all__ = [
    "EVENT_TYPES",
    "HASH_VERSION",
    "EPCISEvent",
    "EPCISValidationError",
    "ParsedDocument",
    "QuantityElement",
    "build_document",
    "document_problems",
    "event_hash_id",
    "event_prehash",
    "event_problems",
    "parse_document",
    "parse_events",
    "validate_document",
]
