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

# Browser tests drive Debian's chromium (never a downloaded browser build). Install it when
# it is missing and we may (root); outside CI a failure only means those tests skip, in CI
# it is an error. SUPPLYLEDGER_SKIP_BROWSER=1 skips this (the demo needs no browser).
if [ -z "${SUPPLYLEDGER_SKIP_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1 \
        && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser tests (apt-get)…"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
        if [ "${CI:-}" = "true" ]; then
            echo "could not install chromium, which CI needs for the browser tests" >&2
            exit 1
        fi
        echo "could not install chromium: browser tests will be skipped" >&2
    fi
fi

# Device ingest over MQTT runs against Debian's mosquitto (`serve --mqtt`, the MQTT tests and
# `bench-readings --via mqtt`). Installed like chromium: when missing and we may; outside CI
# a failure only means the MQTT tests skip, in CI it is an error.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
        && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing mosquitto for MQTT ingest (apt-get)…"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends mosquitto >/dev/null; }; then
        if [ "${CI:-}" = "true" ]; then
            echo "could not install mosquitto, which CI needs for the MQTT tests" >&2
            exit 1
        fi
        echo "could not install mosquitto: MQTT tests will be skipped" >&2
    fi
fi
