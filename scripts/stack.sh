#!/usr/bin/env bash
# The docker-compose.yml topology on loopback without Docker (docs/deploy.md).
#   scripts/stack.sh start|stop|status|purge
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${root}/.venv/bin/python"
if [[ ! -x "${python}" ]]; then
    echo "stack.sh: ${python} is missing: create the environment first (see README)" >&2
    exit 2
fi
cd "${root}"
exec "${python}" -m devservices.stack "$@"
