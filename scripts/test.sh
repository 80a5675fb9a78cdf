#!/usr/bin/env bash
# The test suite: set up, then run every test against real services started on loopback
# (PostgreSQL, moto_server, fake-gcs-server, Azurite). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
