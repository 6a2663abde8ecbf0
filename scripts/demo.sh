#!/usr/bin/env bash
# The main job from a fresh clone: install, load the demo consortium (a flour-mill group,
# e-commerce platforms A/B/C, their suppliers, couriers and customers: six weeks of
# activity, a failed inspection, a dispute, a tampering attempt), print the logins and
# serve the web UI on http://127.0.0.1:8000/ until Ctrl-C.
# Usage: bash scripts/demo.sh [supplyledger demo options: --data DIR --port P --no-serve]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SUPPLYLEDGER_SKIP_BROWSER=1 SUPPLYLEDGER_EXTRAS="" bash scripts/setup.sh
exec .venv/bin/supplyledger demo "$@"
