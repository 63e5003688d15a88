#!/usr/bin/env bash
# Runs every test of every module, then a short fuzzing pass. Tests that need real PostgreSQL 15
# peers (psql, pg_receivewal, a primary, a standby) use the Debian package; it is installed here
# when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-postgres.sh"
cd "$root"
mvn -B verify "$@"
# The bounded fuzzing pass (README "Fuzzing"): under a minute on the decoders a peer feeds.
exec ./scripts/fuzz.sh --ci
