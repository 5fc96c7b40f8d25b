#!/usr/bin/env bash
# Packs what a team installs into a local NuGet feed folder:
#   Pipeline.Schemas, Pipeline.Producers (the SDK) and Pipeline.Cli (the 'pipeline' .NET tool).
# Usage: infra/pack.sh FEED [VERSION_SUFFIX] [--no-build]
#   FEED            folder the .nupkg/.snupkg files are written to (created when missing)
#   VERSION_SUFFIX  prerelease label (0.1.0-SUFFIX); empty packs the plain VersionPrefix of eng/Version.props
#   --no-build      pack what 'make build' already built (the package version is still the one asked for)
set -euo pipefail
cd "$(dirname "$0")/.."
feed="${1:?usage: infra/pack.sh FEED [VERSION_SUFFIX] [--no-build]}"
suffix="${2:-}"
configuration="${PIPELINE_CONFIGURATION:-Release}"
args=(-c "$configuration" -o "$feed" -nologo -v minimal -clp:ErrorsOnly "-p:VersionSuffix=$suffix")
[[ "${3:-}" == "--no-build" ]] && args+=(--no-build)
mkdir -p "$feed"
for project in schemas/Pipeline.Schemas producers/Pipeline.Producers cli/Pipeline.Cli; do
  dotnet pack "$project" "${args[@]}"
done

echo "packed into $feed:"
ls -1 "$feed" | sed 's/^/  /'
