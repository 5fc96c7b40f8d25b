#!/usr/bin/env bash
# Prepares the package test (tests/Pipeline.PackageTests): builds it from freshly packed packages, as a
# service team's app would be built.
#   1. packs Pipeline.Schemas, Pipeline.Producers and the Pipeline.Cli tool into .run/package-test/feed with a
#      version of this run only (0.1.0-ci.<UTC time>.<pid>, no other version is in that feed);
#   2. installs the tool from that feed into .run/package-test/tool;
#   3. restores and builds the test against that version, into .run/package-test-nuget (its own packages
#      folder; this run's Pipeline.* packages are the only ones in it, so no cached package can stand in);
#   4. makes sure the servers answer (./pipeline up when PIPELINE_TEST_* do not name others).
# Usage: infra/package-test.sh CONFIGURATION ENV_FILE [--no-build]
#   ENV_FILE receives the variables the test needs (export lines). --no-build packs what 'make build' built.
# Exit code non-zero when any step failed (run-tests.sh counts that as one failed test).
set -euo pipefail
cd "$(dirname "$0")/.."
configuration="${1:-Release}"
env_file="${2:?usage: infra/package-test.sh CONFIGURATION ENV_FILE [--no-build]}"
no_build="${3:-}"
run=.run/package-test
suffix="ci.$(date -u +%Y%m%d%H%M%S).$$"
export PIPELINE_CONFIGURATION="$configuration"

rm -rf "$run" .run/package-test-nuget/pipeline.*
mkdir -p "$run"
step() { echo "-- $* (at ${SECONDS}s)"; }
step "pack ($suffix)"
./infra/pack.sh "$run/feed" "$suffix" $no_build
producers=$(ls "$run/feed" | grep -E '^Pipeline\.Producers\..*[0-9]\.nupkg$')
version=${producers#Pipeline.Producers.}; version=${version%.nupkg}

step "install the Pipeline.Cli tool $version"
dotnet tool install Pipeline.Cli --version "$version" --tool-path "$run/tool" \
  --configfile tests/Pipeline.PackageTests/NuGet.config >/dev/null

step "build tests/Pipeline.PackageTests against Pipeline.Producers $version"
dotnet build tests/Pipeline.PackageTests -c "$configuration" -nologo -v minimal -clp:ErrorsOnly "-p:PipelinePackageVersion=$version"
restored=$(ls .run/package-test-nuget/pipeline.producers)
[[ "$restored" == "$version" ]] || { echo "restored Pipeline.Producers '$restored', expected $version" >&2; exit 1; }

# The servers: the ones PIPELINE_TEST_* name, else the local ones ('./pipeline up' is idempotent; the ones it
# started here are stopped again by run-tests.sh through the 'started' file).
if [[ -z "${PIPELINE_TEST_KAFKA_BOOTSTRAP:-}" || -z "${PIPELINE_TEST_CLICKHOUSE_URL:-}" ]]; then
  if ! ./pipeline status >/dev/null 2>&1; then
    step "./pipeline up"
    ./pipeline up >/dev/null
    touch "$run/started-servers"
  fi
fi
kafka="${PIPELINE_TEST_KAFKA_BOOTSTRAP:-$(cat .run/broker/bootstrap)}"
{
  echo "export PIPELINE_TEST_KAFKA_BOOTSTRAP='$kafka'"
  if [[ -n "${PIPELINE_TEST_CLICKHOUSE_URL:-}" ]]; then
    echo "export PIPELINE_TEST_CLICKHOUSE_URL='$PIPELINE_TEST_CLICKHOUSE_URL'"
    echo "export PIPELINE_TEST_CLICKHOUSE_USER='${PIPELINE_TEST_CLICKHOUSE_USER:-default}'"
    echo "export PIPELINE_TEST_CLICKHOUSE_PASSWORD='${PIPELINE_TEST_CLICKHOUSE_PASSWORD:-}'"
  else
    # The local server's writer user (infra/Pipeline.DevServers/LocalClickHouse.cs).
    echo "export PIPELINE_TEST_CLICKHOUSE_URL='http://127.0.0.1:18123/'"
    echo "export PIPELINE_TEST_CLICKHOUSE_USER='pipeline'"
    echo "export PIPELINE_TEST_CLICKHOUSE_PASSWORD='pipeline-dev'"
  fi
  echo "export PIPELINE_PACKAGE_TEST_CLI='$PWD/$run/tool/pipeline'"
} >"$env_file"
step "ready"
