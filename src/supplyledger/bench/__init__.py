"""Benchmarks run by ``supplyledger bench`` (measured on this machine, never hard-coded)."""
