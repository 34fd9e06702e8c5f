#!/usr/bin/env bash
# The whole test suite: lint, types, flow validation, schema freshness, unit, conversation and
# integration tests. This is what CI runs (.ci/run). PostgreSQL: VOICEBOT_TEST_POSTGRES_URL if set, else
# a private cluster in a temporary folder (scripts/postgres-cluster.sh), stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check voicebot tests bench scripts
echo "== mypy"; mypy
echo "== flows"; voicebot validate flows/
echo "== schema"
voicebot schema | diff -u flows/schema.json - || { echo "flows/schema.json is stale: run 'voicebot schema -o flows/schema.json'" >&2; exit 1; }
# The ACD's claims are proven on PostgreSQL too: a private throw-away cluster unless one is configured.
source scripts/postgres-cluster.sh
postgres_cluster_start
echo "== pytest"; pytest -q "$@"
