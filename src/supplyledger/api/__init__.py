"""HTTP API and web UI over the node (FastAPI). See ``app.create_app``."""

from supplyledger.api.app import create_app
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.settings import ApiSettings

__all__ = ["ApiSettings", "LedgerService", "Principal", "create_app"]
