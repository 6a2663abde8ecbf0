#!/usr/bin/env bash
# The main job from a fresh clone: install, load the demo consortium (a flour-mill group,
# e-commerce platforms A/B/C, their suppliers, couriers and customers: six weeks of
# activity, a failed inspection, a dispute, a tampering attempt), print the logins and
# serve the web UI on http://127.0.0.1:8000/ until Ctrl-C.
# Usage: bash scripts/demo.sh [supplyledger demo options: --data DIR --port P --no-serve]
set -euo pipefail
# No cd: a relative --data is the caller's, and the commands the demo prints name this
# clone's .venv/bin/supplyledger by its full path (a new shell has no supplyledger).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUPPLYLEDGER_SKIP_PACKAGES=1 SUPPLYLEDGER_EXTRAS="" bash "$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/supplyledger" demo "$@"
