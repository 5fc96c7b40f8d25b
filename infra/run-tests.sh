#!/usr/bin/env bash
# Runs every test assembly with xunit's own runner (the unit and integration tests, then the package test that
# infra/package-test.sh builds from freshly packed packages) and prints one summary line:
#   tests: N passed, N failed, N skipped
# Exit code is non-zero when any test failed or an assembly did not finish.
# Usage: infra/run-tests.sh [CONFIGURATION] [ASSEMBLIES]   (ASSEMBLIES: a space-separated subset, default all three)
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION="${1:-Release}"
ASSEMBLIES=" ${2:-Pipeline.UnitTests Pipeline.IntegrationTests Pipeline.PackageTests} "
RESULTS=.run/test-results
mkdir -p "$RESULTS"
passed=0; failed=0; skipped=0; status=0
# Runs one test assembly and adds its counts; an assembly that reports no summary counts as one failure.
run_assembly() {
  local project="$1" exe="$2" log="$RESULTS/$1.log"
  "$exe" -noColor -noLogo -xml "$RESULTS/$project.xml" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local summary
  summary=$(grep -E "^\s+$project\s+Total: " "$log" | tail -1)
  if [[ -z "$summary" ]]; then
    echo "$project did not report a summary (exit $rc): counted as one failure"
    failed=$((failed + 1)); status=1; return
  fi
  read -r total errors fails skips notrun < <(sed -E 's/.*Total: ([0-9]+), Errors: ([0-9]+), Failed: ([0-9]+), Skipped: ([0-9]+), Not Run: ([0-9]+).*/\1 \2 \3 \4 \5/' <<<"$summary")
  passed=$((passed + total - fails - skips - notrun))
  failed=$((failed + fails + errors))
  skipped=$((skipped + skips + notrun))
  if (( rc != 0 || fails + errors > 0 )); then status=1; fi
}

for project in Pipeline.UnitTests Pipeline.IntegrationTests; do
  [[ "$ASSEMBLIES" == *" $project "* ]] || continue
  echo "== $project"
  run_assembly "$project" "tests/$project/bin/$CONFIGURATION/net10.0/$project"
done

# The SDK as a service team installs it: pack, install the tool, build tests/Pipeline.PackageTests from the
# local feed, run it (infra/package-test.sh). A pack, restore or build failure counts as one failed test.
if [[ "$ASSEMBLIES" == *" Pipeline.PackageTests "* ]]; then
  echo "== Pipeline.PackageTests"
  started=$SECONDS
  ./infra/package-test.sh "$CONFIGURATION" "$RESULTS/package-test.env" --no-build 2>&1 | tee "$RESULTS/Pipeline.PackageTests.prepare.log"
  if (( PIPESTATUS[0] == 0 )); then
    # shellcheck disable=SC1091
    source "$RESULTS/package-test.env"
    run_assembly Pipeline.PackageTests ".run/package-test/bin/$CONFIGURATION/net10.0/Pipeline.PackageTests"
  else
    echo "Pipeline.PackageTests: pack, tool install, restore or build failed (log: $RESULTS/Pipeline.PackageTests.prepare.log): counted as one failure"
    failed=$((failed + 1)); status=1
  fi
  if [[ -f .run/package-test/started-servers ]]; then ./pipeline down >/dev/null; fi
  echo "Pipeline.PackageTests took $((SECONDS - started)) s"
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
