#!/usr/bin/env bash
# Checks the deployment files: the systemd unit with systemd-analyze verify (against this checkout's voicebot
# binary), the sample configuration with voicebot config check, and builds the image where Docker runs.
# Each check that cannot run here says so and is skipped; a check that runs and fails fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
VOICEBOT=${VOICEBOT:-$(command -v voicebot || echo .venv/bin/voicebot)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "== config: deploy/voicebot.yaml"
# The paths in it are the deployed ones; point them at this checkout to check the rest.
sed -e "s#/etc/voicebot/#$PWD/#g" deploy/voicebot.yaml > "$tmp/voicebot.yaml"
"$VOICEBOT" config check "$tmp/voicebot.yaml" >/dev/null
echo "ok"

echo "== systemd unit: deploy/voicebot.service"
if command -v systemd-analyze >/dev/null; then
  bin=$(readlink -f "$VOICEBOT")
  sed -e "s#/opt/voicebot/bin/voicebot#$bin#g" deploy/voicebot.service > "$tmp/voicebot.service"
  # verify prints problems and exits non-zero on errors; warnings about the absent user/dirs are not errors.
  out=$(systemd-analyze verify "$tmp/voicebot.service" 2>&1) || { echo "$out" >&2; exit 1; }
  [ -z "$out" ] || echo "$out"
  echo "ok"
else
  echo "skipped: systemd-analyze is not installed"
fi

echo "== image: deploy/Dockerfile"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker build -q -f deploy/Dockerfile -t voicebot:check . >/dev/null
  docker run --rm --entrypoint voicebot voicebot:check --version
  echo "ok"
else
  echo "skipped: no Docker daemon here (docker info fails); the image is built where one runs"
fi
