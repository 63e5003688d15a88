#!/usr/bin/env bash
# Runs every test of every module. Tests that need real PostgreSQL 15 peers (psql, pg_receivewal,
# a primary, a standby) use the Debian package; it is installed here when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-postgres.sh"
cd "$root"
exec mvn -B verify "$@"
