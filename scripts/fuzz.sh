#!/usr/bin/env bash
# Fuzzes the protocol decoders with Jazzer, each target for SECONDS (default 60). Jazzer fuzzes
# one @FuzzTest per JVM, so every target is its own Maven run. A finding fails its target and is
# written to protocol/src/test/resources/<package>/<Class>Inputs/<method>/: fix the decoder and
# commit the file, from then on every `mvn test` replays it. The corpus grows in
# protocol/.cifuzz-corpus/ (not committed) and is reused by the next run.
#   scripts/fuzz.sh [SECONDS] [Class#method ...]     e.g. scripts/fuzz.sh 120 PgDecodersFuzzTest#serverStream
#   scripts/fuzz.sh --ci                             CI's bounded pass: 2 s on each of four targets
#                                                    fed by the server's peers (under a minute)
# Extra Maven flags (such as -o) in MVN_FLAGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = "--ci" ]; then
  # What a peer of the server sends: the client stream (startup packet, FrontendCodec), the
  # proposer's messages, a receiver's (with pageserver feedback), WAL. Each target costs ~10 s of
  # Maven and JVM start besides its 2 s, so the others (what walkeeper reads as a client, replication
  # commands, startup options, SCRAM, mutated WAL) only replay their inputs at every `mvn test`
  # and fuzz in the long run.
  set -- 2 PgDecodersFuzzTest#serverStream SafekeeperDecodersFuzzTest#proposerMessage \
    ReplicationDecodersFuzzTest#receiverMessage WalRecordScannerFuzzTest#garbageAfterValidWal
fi
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(
    PgDecodersFuzzTest#serverStream PgDecodersFuzzTest#clientStream
    PgDecodersFuzzTest#frontendMessage PgDecodersFuzzTest#backendMessage
    PgDecodersFuzzTest#replicationCommand PgDecodersFuzzTest#startupOptions
    SafekeeperDecodersFuzzTest#proposerMessage SafekeeperDecodersFuzzTest#acceptorMessage
    ReplicationDecodersFuzzTest#senderMessage ReplicationDecodersFuzzTest#receiverMessage
    WalRecordScannerFuzzTest#garbageAfterValidWal WalRecordScannerFuzzTest#mutatedValidWal
    ScramFuzzTest#clientFirstMessage ScramFuzzTest#clientFinalMessage ScramFuzzTest#storedVerifier
  )
fi
logs="protocol/target/fuzz-logs"
mkdir -p "$logs"
failed=()
for target in "${targets[@]}"; do
  log="$logs/${target/\#/.}.log"
  if JAZZER_FUZZ=1 mvn -B -q ${MVN_FLAGS:-} -pl protocol test -Dtest="$target" \
      -Dsurefire.failIfNoSpecifiedTests=false -Djazzer.max_duration="${seconds}s" >"$log" 2>&1; then
    echo "$target: $(grep -h '^Done [0-9]* runs' "$log" | tail -1)"
  else
    echo "$target: FAILED, see $log"
    failed+=("$target")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzzing found problems in: ${failed[*]}"; exit 1; }
