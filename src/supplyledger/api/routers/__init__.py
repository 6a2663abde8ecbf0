"""JSON API routers, one per area; each is thin over ``LedgerService``."""
