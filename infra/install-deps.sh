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
# Headless Chromium for the dashboard's browser tests (driven by Playwright with the system browser).
command -v chromium >/dev/null || need+=(chromium)
# The Python producer and alert-subscriber examples, run by the integration tests with Debian's interpreter.
[[ -d /usr/lib/python3/dist-packages/confluent_kafka ]] || need+=(python3-confluent-kafka)
[[ -d /usr/lib/python3/dist-packages/avro ]] || need+=(python3-avro)
# Postfix only for its smtp-sink program: the SMTP server the report-email tests send to (ReportEmailTests).
[[ -x /usr/sbin/smtp-sink ]] || need+=(postfix)
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
if (( ${#need[@]} > 0 )); then
  echo "installing ${need[*]} from Debian..." >&2
  "${sudo[@]}" apt-get update -qq
  if [[ " ${need[*]} " == *" postfix "* ]]; then
    # No mail system is configured ("No configuration"): this machine must not become a mail server.
    echo "postfix postfix/main_mailer_type select No configuration" | "${sudo[@]}" debconf-set-selections
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Postfix must not be left running as the system's MTA (its package may start it); smtp-sink runs on its own.
if [[ -x /usr/sbin/postfix ]] && "${sudo[@]}" /usr/sbin/postfix status >/dev/null 2>&1; then
  "${sudo[@]}" /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
# The dashboard's chart library, date adapter and annotation plugin, bundled into the assembly at build time
# (the page never uses a CDN); a checkout that has only the chart library gets the other two.
if [[ ! -d "$root/analytics/Pipeline.Dashboard/node_modules/chartjs-plugin-annotation" || ! -d "$root/analytics/Pipeline.Dashboard/node_modules/chartjs-adapter-date-fns" ]]; then
  (cd "$root/analytics/Pipeline.Dashboard" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "npm install of chart.js and its plugins failed: the dashboard will show tables without charts" >&2
fi
# The TypeScript producer and alert-subscriber examples (kafkajs, avsc, lz4js: plain JavaScript; tsc), run by the
# integration tests; missing, the tests say they skipped.
if [[ ! -d "$root/producers/examples/typescript/node_modules/lz4js" || ! -d "$root/producers/examples/typescript/node_modules/typescript" ]]; then
  (cd "$root/producers/examples/typescript" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "npm install of the TypeScript examples' packages failed: their tests will be skipped" >&2
fi
# A Prometheus text-format parser (80 KB) that reads the window-metrics endpoint back in WindowMetricsExportTests.
if [[ ! -d "$root/tests/prom-text/node_modules/parse-prometheus-text-format" ]]; then
  (cd "$root/tests/prom-text" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "npm install of parse-prometheus-text-format failed: the window-metrics export test will be skipped" >&2
fi
# The Node OpenTelemetry SDK and its OTLP/proto and OTLP/JSON exporters (28 MB), a client nobody here wrote, for IngestTests.
if [[ ! -d "$root/tests/otel-node/node_modules/@opentelemetry/exporter-trace-otlp-http" ]]; then
  (cd "$root/tests/otel-node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "npm ci of the Node OpenTelemetry SDK failed: its ingest test will be skipped" >&2
fi
# chdb (ClickHouse 26.x in-process, ~550 MB) from npm, once; the test says it skipped when this failed.
if [[ ! -d "$root/tests/chdb/node_modules/chdb" ]]; then
  echo "installing npm chdb (current ClickHouse in-process) for the SQL compatibility check..." >&2
  (cd "$root/tests/chdb" && npm install --no-audit --no-fund --loglevel=error >/dev/null) \
    || echo "npm install of chdb failed: the current-ClickHouse check will be skipped" >&2
fi
