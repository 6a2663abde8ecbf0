#!/usr/bin/env bash
# The whole test suite from a fresh clone: setup, lint, type check, tests.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check src tests
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
