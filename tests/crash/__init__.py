"""Crash-safety tests that SIGKILL a real node process (see test_crash.py)."""
