#!/usr/bin/env bash
# The PostgreSQL pass of `make test`: the suite again on PostgreSQL whenever one answers on
# 127.0.0.1:5432 (or at MV_TEST_POSTGRES_URL), and a plain line saying it was skipped when none does.
# Usage: scripts/test-postgres.sh PYTHON [pytest options...]
set -euo pipefail
py=$1; shift
url=${MV_TEST_POSTGRES_URL:-}
if [ -z "$url" ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    echo "== PostgreSQL pass SKIPPED: nothing answers on 127.0.0.1:5432 (start PostgreSQL or set MV_TEST_POSTGRES_URL)"
    exit 0
  fi
  url="postgres://postgres@127.0.0.1:5432/postgres"
fi
echo "== the suite again on PostgreSQL at ${url##*@}"  # host/db only: never the password
DATABASE_URL="$url" MV_TEST_POSTGRES_URL="$url" "$py" -m pytest "$@"
