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
passed=0; failed=0; skipped=0; status=0; RETRIED=0; FAILURES=""
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
  read -r total errors fails skips notrun < <(counts "$summary")
  if (( fails + errors > 0 )); then
    FAILURES+="$(grep -A3 '\[FAIL\]' "$log" | grep -v '^--$' | cut -c1-400 | head -40)"$'\n'
  fi
  if (( fails > 0 && errors == 0 )) && retry_failed "$project" "$exe"; then
    passed=$((passed + total - skips - notrun))
    skipped=$((skipped + skips + notrun))
    return
  fi
  passed=$((passed + total - fails - skips - notrun))
  failed=$((failed + fails + errors))
  skipped=$((skipped + skips + notrun))
  if (( rc != 0 || fails + errors > 0 )); then status=1; fi
}

# "Total: 5, Errors: 0, Failed: 1, Skipped: 0, Not Run: 0" -> "5 0 1 0 0"
counts() {
  sed -E 's/.*Total: ([0-9]+), Errors: ([0-9]+), Failed: ([0-9]+), Skipped: ([0-9]+), Not Run: ([0-9]+).*/\1 \2 \3 \4 \5/' <<<"$1"
}

# The failed tests' Type.Method, from xunit's XML results.
failed_methods() {
  grep -o '<test [^>]*result="Fail"[^>]*>' "$1" | sed -E 's/.* type="([^"]+)" method="([^"]+)".*/\1.\2/' | sort -u
}

# When at most three test methods failed, runs them once more, alone: integration tests share two servers and
# two cores, and a few wait on wall-clock progress. True only when every retried test passes; the first failures
# stay in the log and in FAILURES, printed before the total, so a test that needed its retry is never hidden.
retry_failed() {
  local project="$1" exe="$2" methods args=() m log="$RESULTS/$1.retry.log" total errors fails skips notrun
  methods=$(failed_methods "$RESULTS/$project.xml")
  # More than a few failures is a real break, not a slow moment: no retry.
  [[ -n "$methods" ]] && (( $(wc -l <<<"$methods") <= 3 )) || return 1
  while read -r m; do
    args+=(-method "$m")
  done <<<"$methods"
  echo "== $project: retrying $(wc -l <<<"$methods") failed test method(s) once"
  "$exe" -noColor -noLogo "${args[@]}" 2>&1 | tee "$log"
  local summary
  summary=$(grep -E "^\s+$project\s+Total: " "$log" | tail -1)
  [[ -n "$summary" ]] || return 1
  read -r total errors fails skips notrun < <(counts "$summary")
  if (( errors + fails == 0 && total > 0 )); then
    FAILURES+="  (passed when run again: counted as passed)"$'\n'
    RETRIED=$((RETRIED + $(wc -l <<<"$methods")))
    return 0
  fi
  FAILURES+="  (failed again)"$'\n'
  return 1
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

# CI shows the end of this output: the failures (with their messages in the logs above) go right before the total.
if [[ -n "$FAILURES" ]]; then
  echo "== failed tests (messages above and in $RESULTS/*.log)"
  printf '%s' "$FAILURES"
  (( RETRIED > 0 )) && echo "$RETRIED failed test method(s) passed when run again"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
