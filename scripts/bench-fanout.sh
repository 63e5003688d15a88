#!/usr/bin/env bash
# bench fanout: one node serving the same WAL to N pull consumers (pg_receivewal) and M push
# downstreams (walkeeper receive) at once, against one pg_receivewal pulling that WAL from the real
# PostgreSQL walsender that wrote it, in the same run. Needs PostgreSQL 15 (installed if missing).
# Usage: scripts/bench-fanout.sh [pull consumers, default 3] [push downstreams, default 2]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-postgres.sh"
cd "$root"
mvn -B -pl ops -am test -Dexcluded.test.groups= -Dgroups=bench -Dtest=FanoutBenchmark \
  -Dsurefire.failIfNoSpecifiedTests=false -Dfanout.pull="${1:-3}" -Dfanout.push="${2:-2}" \
  2>&1 | sed -n '/^bench fanout/,/^\[/p' | grep -v '^\['
