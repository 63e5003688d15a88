#!/usr/bin/env bash
# Installs the PostgreSQL 15 binaries that walkeeper's tests drive (see walkeeper-testkit's
# PgBinaries). Quiet and idempotent: exits 0 at once when everything is already there.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
TOOLS=(postgres initdb pg_ctl psql pg_receivewal pg_waldump pg_basebackup pgbench)

missing_tools() {
  local tool
  for tool in "${TOOLS[@]}"; do
    [[ -x "$PG_BIN/$tool" ]] || printf '%s ' "$tool"
  done
}

missing=$(missing_tools)
[[ -z "$missing" ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "error: PostgreSQL 15 tools missing from $PG_BIN: $missing" >&2
  echo "Install them as root, e.g.: sudo apt-get install -y postgresql-15 (or run this script as root)." >&2
  echo "Elsewhere, point -Dwalkeeper.pg.bin or WALKEEPER_PG_BIN at a PostgreSQL 15 bin directory." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "error: PostgreSQL 15 tools missing from $PG_BIN ($missing) and apt-get is not available;" >&2
  echo "install PostgreSQL 15 by hand and set WALKEEPER_PG_BIN to its bin directory." >&2
  exit 1
fi

# Tests start their own throw-away clusters. The package's default cluster would only hold port
# 5432 and memory, and starting it fails in containers without an init system, so skip it.
# Keeping this file across the install needs --force-confold (it is a conffile of postgresql-common).
conf=/etc/postgresql-common/createcluster.conf
mkdir -p "$(dirname "$conf")"
if [[ -f "$conf" ]] && grep -Eq '^[[:space:]]*#?[[:space:]]*create_main_cluster' "$conf"; then
  sed -Ei 's/^[[:space:]]*#?[[:space:]]*create_main_cluster.*/create_main_cluster = false/' "$conf"
else
  echo 'create_main_cluster = false' >>"$conf"
fi

apt-get update -qq
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql-15; then
  echo "error: apt-get could not install postgresql-15. If this distribution does not ship it," >&2
  echo "add the PGDG repository (https://wiki.postgresql.org/wiki/Apt) and run this script again." >&2
  exit 1
fi

missing=$(missing_tools)
if [[ -n "$missing" ]]; then
  echo "error: postgresql-15 is installed but $PG_BIN still lacks: $missing" >&2
  exit 1
fi
echo "PostgreSQL 15 installed in $PG_BIN"
