#!/usr/bin/env bash
# The main job: set up, seed the demo bank and run scripted demo calls end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/voicebot demo "$@"
