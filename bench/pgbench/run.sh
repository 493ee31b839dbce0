#!/usr/bin/env bash
# The database's side of an admission, without Node (docs/scaling.md): pgbench runs gsc_admit,
# a bare INSERT … RETURNING into a trigger-less copy of gsc_session, and the same INSERT into
# gsc_session (its app-count trigger), each for 5 s at the same concurrency, on a scratch
# database it migrates and drops. Needs pgbench (Debian: postgresql-contrib / the server package).
# Usage: bash bench/pgbench/run.sh [clients]   (BENCH_DATABASE_URL: the server, default local)
set -euo pipefail
cd "$(dirname "$0")"
CLIENTS=${1:-10}
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBENCH" ] || { echo "pgbench not found" >&2; exit 1; }
NAME=gsc_pgbench_$$
URL="${ADMIN_URL%/*}/$NAME"
psql "$ADMIN_URL" -qc "create database $NAME"
trap 'psql "$ADMIN_URL" -qc "drop database if exists $NAME with (force)"' EXIT
DATABASE_URL="$URL" npx --no-install tsx ../../src/cli/main.ts migrate >/dev/null
psql "$URL" -qc 'create table gsc_bench_plain (like gsc_session including all)'
for round in 1 2; do
  for script in admit insert-plain insert-gsc-session; do
    tps=$("$PGBENCH" "$URL" -n -M extended -c "$CLIENTS" -j 2 -T 5 -f "$script.sql" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    printf 'round %s  %-20s %8.0f /s\n' "$round" "$script" "$tps"
  done
done
