#!/usr/bin/env bash
# The main job from a fresh clone. Until the demo scenario lands this runs the ledger
# benchmark at a size that finishes in about a minute, keeping the ledger for audit.
# Usage: bash scripts/demo.sh [supplyledger bench options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
dir="$(mktemp -d -t supplyledger-XXXXXX)"
.venv/bin/supplyledger bench --txs 20000 --data "$dir" "$@"
.venv/bin/supplyledger audit --data "$dir/ledger"
