#!/usr/bin/env bash
# bench pgbench: pgbench -N (scale 10) with 1 and 8 clients against a PostgreSQL 15 primary
# (a) without a standby, (b) with a native synchronous streaming standby, (d) with PostgreSQL's
# quorum commit ANY 2 of three pg_receivewal --synchronous, (c) with the proposer bridge and three
# walkeeper nodes as its synchronous standby, in one run; prints TPS and latency per configuration
# and the TPS ratios (c)/(d), (c)/(b), (d)/(b), (b)/(a). Needs PostgreSQL 15 (installed if missing).
# Usage: scripts/bench-pgbench.sh [seconds per run, default 30] [clients, default 1,8]
#          [configurations, default a,b,c,d] [maven options]
# e.g. scripts/bench-pgbench.sh 5 1,8 d,c (a ratio is printed when both its configurations ran).
# Each configuration first runs an unmeasured 90 s pgbench -N warm-up (-Dpgbench.warmup=SECONDS).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-postgres.sh"
cd "$root"
seconds="${1:-30}"
clients="${2:-1,8}"
shift $(($# < 2 ? $# : 2))
# Maven options start with '-', so calls with options but no configurations still work.
configs=a,b,c,d
if [[ $# -gt 0 && $1 != -* ]]; then
  configs="$1"
  shift
fi
out="$root/ops/target/bench-pgbench.out"
mkdir -p "$(dirname "$out")"
# Maven's output is kept whole: on failure it holds the reason (and the standby logs' tails).
if ! mvn -B -pl ops -am test -Dexcluded.test.groups= -Dgroups=bench -Dtest=PgbenchBenchmark \
    -Dsurefire.failIfNoSpecifiedTests=false -Dpgbench.seconds="$seconds" -Dpgbench.clients="$clients" \
    -Dpgbench.configs="$configs" "$@" >"$out" 2>&1; then
  grep -E -A 40 '<<< (FAILURE|ERROR)!' "$out" >&2 || tail -n 60 "$out" >&2
  echo "bench pgbench failed; Maven's whole output: $out" >&2
  exit 1
fi
sed -n '/^bench pgbench/,/^standby logs/p' "$out"
