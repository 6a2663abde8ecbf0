#!/usr/bin/env bash
# The whole test suite from a fresh clone: setup, lint, type check, tests.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
    -h|--help)  # before the set-up, ruff and mypy a run would do first
        echo "Usage: bash scripts/test.sh [pytest args]"
        echo "Sets up .venv (scripts/setup.sh), then runs ruff, mypy and pytest with the"
        echo "args given (none: the whole suite, as CI does; paths from the repository root)."
        echo "e.g. bash scripts/test.sh tests/core -x   |   -m \"not slow and not browser\""
        echo "Without the set-up and checks: .venv/bin/pytest ARGS (.venv/bin/pytest --help)."
        exit 0 ;;
esac
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check src tests
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
