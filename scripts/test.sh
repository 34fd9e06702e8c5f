#!/usr/bin/env bash
# The whole test suite: lint, types, flow validation, schema freshness, then the fast and the
# integration test tiers. This is what CI runs (.ci/run). PostgreSQL: VOICEBOT_TEST_POSTGRES_URL if set,
# else a private cluster in a temporary folder (scripts/postgres-cluster.sh), stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check voicebot tests bench scripts
echo "== mypy"; mypy
echo "== flows"; voicebot validate --strict flows/
echo "== schema"
voicebot schema | diff -u flows/schema.json - || { echo "flows/schema.json is stale: run 'voicebot schema -o flows/schema.json'" >&2; exit 1; }
for kind in grammar:grammars/schema.json conversation:tests/conversations/schema.json config:deploy/voicebot.schema.json; do
  voicebot schema --for "${kind%%:*}" | diff -u "${kind#*:}" - || { echo "${kind#*:} is stale: run 'voicebot schema --for ${kind%%:*} -o ${kind#*:}'" >&2; exit 1; }
done
# The ACD's claims are proven on PostgreSQL too: a private throw-away cluster unless one is configured.
source scripts/postgres-cluster.sh
postgres_cluster_start
# Two tiers (tests/conftest.py marks them): fast (pure code, fakes, SQLite files) first, then integration
# (real models, SIP peers, subprocesses, database faults, PostgreSQL). Extra arguments go to both runs.
# Exit status 5 is "nothing selected" (e.g. a path given that holds only one tier): not a failure.
tier() { pytest -q -m "$1" "${@:2}" || [ $? -eq 5 ]; }
echo "== pytest: fast tier"; tier "not integration" "$@"
# The integration tier runs on two workers, one test file each at a time (--dist loadfile keeps a module's
# fixtures, e.g. the synthesized accuracy corpus, on one worker): most of its time is real-time calls waiting
# on the wire, so two at once roughly halve it. VOICEBOT_TEST_WORKERS=0 runs it in this process.
echo "== pytest: integration tier"
if [ "${VOICEBOT_TEST_WORKERS:-2}" = 0 ]; then tier integration "$@"
else tier integration -n "${VOICEBOT_TEST_WORKERS:-2}" --dist loadfile "$@"; fi
