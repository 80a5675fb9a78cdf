#!/usr/bin/env bash
# The demo: set up, then run labelbridge's jobs against loopback PostgreSQL and S3 (moto).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
