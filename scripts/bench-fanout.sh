#!/usr/bin/env bash
# bench fanout: one node serving the same WAL to N pull consumers (pg_receivewal) and M push
# downstreams (walkeeper receive) at once, against one pg_receivewal pulling that WAL from the real
# PostgreSQL walsender that wrote it, in the same run. Needs PostgreSQL 15 (installed if missing).
# Usage: scripts/bench-fanout.sh [pull consumers, default 3] [push downstreams, default 2] [maven options]
# e.g. scripts/bench-fanout.sh 1 0 -Dfanout.rounds=5 -Dfanout.rows=240000 (rounds: default 6, each a
# walsender pull then the node's; rows: 120000, about 80 MiB of WAL)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-postgres.sh"
cd "$root"
pull="${1:-3}" push="${2:-2}"
shift $(( $# < 2 ? $# : 2 ))
mvn -B -pl ops -am test -Dexcluded.test.groups= -Dgroups=bench -Dtest=FanoutBenchmark \
  -Dsurefire.failIfNoSpecifiedTests=false -Dfanout.pull="$pull" -Dfanout.push="$push" "$@" \
  2>&1 | sed -n '/^bench fanout/,/^\[/p' | grep -v '^\['
