#!/usr/bin/env bash
# The whole test suite: lint, types, flow validation, schema freshness, unit, conversation and
# integration tests. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check voicebot tests bench scripts
echo "== mypy"; mypy
echo "== flows"; voicebot validate flows/
echo "== schema"
voicebot schema | diff -u flows/schema.json - || { echo "flows/schema.json is stale: run 'voicebot schema -o flows/schema.json'" >&2; exit 1; }
echo "== pytest"; pytest -q "$@"
