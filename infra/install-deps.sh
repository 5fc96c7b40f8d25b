#!/usr/bin/env bash
# Installs the Debian packages the local servers and checks need, only when they are missing.
set -euo pipefail
need=()
[[ -x /usr/sbin/clickhouse-server ]] || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
command -v kcat >/dev/null || need+=(kcat)
if (( ${#need[@]} == 0 )); then exit 0; fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
echo "installing ${need[*]} from Debian..." >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
