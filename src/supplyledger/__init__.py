"""supplyledger: a tamper-evident, permissioned supply-chain ledger."""

__version__ = "0.1.0"
__all__ = ["__version__"]
