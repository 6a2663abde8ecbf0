"""Optional features: services that other parts of the platform provide.

The trace, recall and data-sharing pages use the traceability queries
(``supplyledger.node.queries.TraceQueries``) and the private-data service
(``supplyledger.node.private_data.PrivateData``) when those modules exist, and say "not
available yet" otherwise, so this package imports nothing that may be missing and the UI
grows with the platform. The module and class names are listed here, in one place.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Features"]

TRACE = ("supplyledger.node.queries", "TraceQueries")
PRIVATE = ("supplyledger.node.private_data", "PrivateData")


def _class(where: tuple[str, str]) -> Any:
    try:
        module = importlib.import_module(where[0])
    except ImportError:
        return None
    return getattr(module, where[1], None)


class Features:
    """The optional services for one node, built once (they keep small caches)."""

    def __init__(self, node: Any) -> None:
        trace_cls = _class(TRACE)
        private_cls = _class(PRIVATE)
        self.trace: Any = None if trace_cls is None else trace_cls(node.store, node.contracts)
        self.private: Any = None if private_cls is None else private_cls(node)
