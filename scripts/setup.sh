#!/usr/bin/env bash
# Creates .venv and installs supplyledger with its test tools. Idempotent: a second run
# finds the install up to date (pyproject.toml unchanged) and skips pip.
# Usage: bash scripts/setup.sh   (run by test.sh and demo.sh)
# SUPPLYLEDGER_EXTRAS="" installs the package alone (the demo needs no test tools);
# SUPPLYLEDGER_SKIP_PACKAGES=1 installs no Debian package (the demo needs none),
# SUPPLYLEDGER_SKIP_BROWSER=1 just not chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "supplyledger needs Python 3.11 or newer as '$PY' (set PYTHON=...)" >&2
    exit 2
fi
# A .venv without a working pip (a set-up interrupted while it was made, or its Python
# removed) would fail every run with "No module named pip": make it again.
if ! .venv/bin/python -c 'import pip' >/dev/null 2>&1; then
    if [ -e .venv ]; then
        echo "setup: .venv is incomplete (an interrupted set-up?): making it again"
    fi
    "$PY" -m venv --clear .venv
fi

# What was installed, and from which pyproject.toml: an unchanged one needs no pip run (it
# would take seconds and reach the package index). An editable install follows the code.
EXTRAS="${SUPPLYLEDGER_EXTRAS-[dev]}"
STAMP=.venv/.supplyledger-installed
WANT="$(.venv/bin/python -c 'import hashlib, sys
print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.argv[1])' "$EXTRAS")"
HAVE="$(cat "$STAMP" 2>/dev/null || true)"
# The test tools installed serve the demo too: "[dev]" covers "".
if [ "$HAVE" != "$WANT" ] && [ "$HAVE" != "${WANT% *} [dev]" ]; then
    echo "setup: installing supplyledger${EXTRAS:+ with $EXTRAS} and its dependencies into" \
         ".venv (the first time takes a few minutes)…"
    rm -f "$STAMP"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$EXTRAS"
    echo "$WANT" > "$STAMP"
fi

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

# The browser tests run Debian's chromium; MQTT ingest (`serve --mqtt`, its tests,
# `bench-readings --via mqtt`) runs Debian's mosquitto.
if [ -z "${SUPPLYLEDGER_SKIP_PACKAGES:-}" ]; then
    if [ -z "${SUPPLYLEDGER_SKIP_BROWSER:-}" ]; then
        debian_package chromium chromium "the browser tests"
    fi
    debian_package mosquitto mosquitto "the MQTT tests"
fi
