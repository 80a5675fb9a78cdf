#!/usr/bin/env bash
# Creates the project's environment from an empty machine (Python 3.11, Node 20):
# a venv with uv, the locked requirements, the project itself, Label Studio in .ls-venv, and Azurite for the tests.
# Idempotent: reruns skip what is already in place and in step with the lock files.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
UV_VERSION="0.13.9"

stamp=".venv/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: creating .venv with $($PYTHON --version) and uv $UV_VERSION"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  # Plain pip backtracks for a very long time on this set; uv installs the lock as is.
  .venv/bin/uv pip install --python .venv/bin/python --compile-bytecode --quiet -r requirements.txt
  .venv/bin/uv pip install --python .venv/bin/python --no-deps --quiet -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Label Studio, the annotation tool the tests and the demo talk to over HTTP, in an environment of its own:
# its Django pins clash with Airflow's (installed together it downgrades the Azure provider and others).
ls_stamp=".ls-venv/.installed-$(sha256sum requirements-label-studio.txt | cut -c1-16)"
if [ ! -f "$ls_stamp" ]; then
  echo "setup: installing Label Studio into .ls-venv"
  [ -x .ls-venv/bin/python ] || "$PYTHON" -m venv .ls-venv
  .venv/bin/uv pip install --python .ls-venv/bin/python --quiet -r requirements-label-studio.txt
  rm -f .ls-venv/.installed-*
  touch "$ls_stamp"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Azurite (npm ci)"
  npm ci --no-audit --no-fund --silent
fi

# Headless Chromium for the end-to-end UI screenshots (Debian's package; its own download is blocked here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian chromium for the end-to-end UI test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
  else
    echo "setup: chromium not found; the end-to-end UI test needs it (apt-get install -y chromium)" >&2
  fi
fi
