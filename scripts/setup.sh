#!/usr/bin/env bash
# Creates .venv and installs supplyledger with its test tools. Idempotent.
# Usage: bash scripts/setup.sh   (sourced by test.sh and demo.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "supplyledger needs Python 3.11 or newer as '$PY' (set PYTHON=...)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
