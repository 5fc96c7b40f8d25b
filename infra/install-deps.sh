#!/usr/bin/env bash
# Installs the Debian packages the local servers and checks need, only when they are missing.
set -euo pipefail
need=()
[[ -x /usr/sbin/clickhouse-server ]] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
command -v kcat >/dev/null || need+=(kcat)
# Node runs the check of our SQL on current ClickHouse (npm chdb) in tests/chdb.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if (( ${#need[@]} > 0 )); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
  echo "installing ${need[*]} from Debian..." >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# chdb (ClickHouse 26.x in-process, ~550 MB) from npm, once; the test says it skipped when this failed.
cd "$(dirname "$0")/../tests/chdb"
if [[ ! -d node_modules/chdb ]]; then
  echo "installing npm chdb (current ClickHouse in-process) for the SQL compatibility check..." >&2
  npm install --no-audit --no-fund --loglevel=error >/dev/null || echo "npm install of chdb failed: the current-ClickHouse check will be skipped" >&2
fi
