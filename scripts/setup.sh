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
# SUPPLYLEDGER_EXTRAS="" installs the package alone (the demo needs no test tools).
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -e ".${SUPPLYLEDGER_EXTRAS-[dev]}"

# Debian packages the tests drive (never downloaded builds): installed when missing and we
# may (root with apt-get). Outside CI a failure only means those tests skip; in CI it is an
# error. Usage: debian_package PACKAGE BINARY WHAT-NEEDS-IT
debian_package() {
    if command -v "$2" >/dev/null 2>&1 || [ -x "/usr/sbin/$2" ] || [ "$(id -u)" != "0" ] \
            || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    echo "installing $1 for $3 (apt-get)…"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$1" >/dev/null; }; then
        if [ "${CI:-}" = "true" ]; then
            echo "could not install $1, which CI needs for $3" >&2
            exit 1
        fi
        echo "could not install $1: $3 will be skipped" >&2
    fi
}

# The browser tests run Debian's chromium; SUPPLYLEDGER_SKIP_BROWSER=1 skips it (the demo
# needs no browser). MQTT ingest (`serve --mqtt`, its tests, `bench-readings --via mqtt`)
# runs Debian's mosquitto.
if [ -z "${SUPPLYLEDGER_SKIP_BROWSER:-}" ]; then
    debian_package chromium chromium "the browser tests"
fi
debian_package mosquitto mosquitto "the MQTT tests"
