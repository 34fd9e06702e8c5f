#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster for the tests, in a temporary folder.
#
#   source scripts/postgres-cluster.sh   # then: postgres_cluster_start; ... ; postgres_cluster_stop
#
# postgres_cluster_start sets VOICEBOT_TEST_POSTGRES_URL (unless it is already set: a configured server
# wins) and registers postgres_cluster_stop to run at exit. initdb refuses to run as root, and CI runs
# as root, so as root the cluster belongs to the unprivileged "postgres" user that Debian's package
# creates. It listens on 127.0.0.1 at a free port and on a socket in its own folder only.

postgres_cluster_bin() {
  local dir
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

postgres_cluster_start() {
  if [ -n "${VOICEBOT_TEST_POSTGRES_URL:-}" ]; then
    echo "== postgres: using VOICEBOT_TEST_POSTGRES_URL"; return 0
  fi
  local bin run_as=() port
  bin=$(postgres_cluster_bin) || { echo "postgres: initdb not found (apt-get install postgresql)" >&2; return 1; }
  PG_TEST_DIR=$(mktemp -d /tmp/voicebot-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "postgres: no 'postgres' user to run the cluster as" >&2; return 1; }
    chown postgres: "$PG_TEST_DIR"
    run_as=(runuser -u postgres --)
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run_as[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U voicebot -A trust -E UTF8 --no-sync >"$PG_TEST_DIR/initdb.log" 2>&1 \
    || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c max_connections=100" start >/dev/null \
    || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
  PG_TEST_BIN=$bin
  PG_TEST_RUN_AS=("${run_as[@]}")
  trap postgres_cluster_stop EXIT
  export VOICEBOT_TEST_POSTGRES_URL="postgresql+psycopg://voicebot@127.0.0.1:$port/postgres"
  echo "== postgres: private cluster on 127.0.0.1:$port ($PG_TEST_DIR)"
}

postgres_cluster_stop() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  "${PG_TEST_RUN_AS[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_TEST_DIR"
  PG_TEST_DIR=
}
