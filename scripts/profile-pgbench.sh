#!/usr/bin/env bash
# Profiles the JVMs of bench pgbench's configuration (c) (the bridge and three nodes) with
# async-profiler while pgbench runs, after the warm-up: where each process spends its CPU
# (event cpu), allocates (alloc) or waits (wall). Writes one collapsed-stack file per process
# (any flame-graph tool reads them) and prints each process's busiest threads.
# Usage: scripts/profile-pgbench.sh [event, default cpu] [seconds profiled, default 20]
#          [clients, default 1] [warm-up seconds, default 120] [maven options for bench pgbench]
# e.g. scripts/profile-pgbench.sh alloc 15 8
# The JVMs' JIT compilers keep a core busy for well over a minute after the start (jstat -compiler:
# ~25 s of compile time per node JVM, most of it in the first 60 s), hence the long warm-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
event="${1:-cpu}"
seconds="${2:-20}"
clients="${3:-1}"
warmup="${4:-120}"
shift $(($# < 4 ? $# : 4))
version=4.1   # async-profiler, from Maven Central (tools.profiler:async-profiler)
out="$root/ops/target/profile-pgbench"
rm -rf "$out"
mkdir -p "$out"
jar="$HOME/.m2/repository/tools/profiler/async-profiler/$version/async-profiler-$version.jar"
if [[ ! -f $jar ]]; then
  mvn -B -q dependency:get -Dartifact="tools.profiler:async-profiler:$version"
fi
(cd "$out" && unzip -q -o "$jar" 'linux-x64/libasyncProfiler.so')
lib="$out/linux-x64/libasyncProfiler.so"
interval=1ms
[[ $event == alloc ]] && interval=64k
# The measured run starts after pgbench -i and the warm-up; profile inside it.
delay=$((warmup + 10))
"$root/scripts/bench-pgbench.sh" $((seconds + 15)) "$clients" c -Dpgbench.warmup="$warmup" "$@" \
  >"$out/bench.txt" 2>&1 &
bench=$!
pids=()
until ((${#pids[@]} == 4)); do
  kill -0 "$bench" 2>/dev/null || { cat "$out/bench.txt" >&2; exit 1; }
  sleep 0.5
  mapfile -t pids < <(pgrep -f 'dev.walkeeper.ops.Main' || true)
done
sleep "$delay"
# jcmd passes the agent's options as one quoted argument (its own parser splits on '=').
for pid in "${pids[@]}"; do
  jcmd "$pid" JVMTI.agent_load "$lib" "\"start,event=$event,interval=$interval,threads\"" >/dev/null
done
sleep "$seconds"
for pid in "${pids[@]}"; do
  name=$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -q ' propose ' && echo bridge || echo "node-$pid")
  jcmd "$pid" JVMTI.agent_load "$lib" "\"stop,collapsed,file=$out/$name-$event.collapsed\"" >/dev/null
done
wait "$bench"
cat "$out/bench.txt"
for f in "$out"/*.collapsed; do
  echo "== $(basename "$f"): samples per thread (the busiest 6)"
  awk '{n = $NF; t = $0; sub(/;.*/, "", t); sum[t] += n; all += n}
       END {for (t in sum) printf "%8d %5.1f%% %s\n", sum[t], 100 * sum[t] / all, t}' "$f" | sort -rn | head -6
done
echo "collapsed stacks: $out"
