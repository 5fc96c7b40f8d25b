#!/usr/bin/env bash
# Runs every test assembly with xunit's own runner and prints one summary line:
#   tests: N passed, N failed, N skipped
# Exit code is non-zero when any test failed or an assembly did not finish.
set -uo pipefail
cd "$(dirname "$0")/.."
CONFIGURATION="${1:-Release}"
RESULTS=.run/test-results
mkdir -p "$RESULTS"
passed=0; failed=0; skipped=0; status=0
for project in Pipeline.UnitTests Pipeline.IntegrationTests; do
  exe="tests/$project/bin/$CONFIGURATION/net10.0/$project"
  log="$RESULTS/$project.log"
  echo "== $project"
  "$exe" -noColor -noLogo -xml "$RESULTS/$project.xml" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  summary=$(grep -E "^\s+$project\s+Total: " "$log" | tail -1)
  if [[ -z "$summary" ]]; then
    echo "$project did not report a summary (exit $rc): counted as one failure"
    failed=$((failed + 1)); status=1; continue
  fi
  read -r total errors fails skips notrun < <(sed -E 's/.*Total: ([0-9]+), Errors: ([0-9]+), Failed: ([0-9]+), Skipped: ([0-9]+), Not Run: ([0-9]+).*/\1 \2 \3 \4 \5/' <<<"$summary")
  passed=$((passed + total - fails - skips - notrun))
  failed=$((failed + fails + errors))
  skipped=$((skipped + skips + notrun))
  if (( rc != 0 || fails + errors > 0 )); then status=1; fi
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
