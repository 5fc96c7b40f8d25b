# Two commands do everything on a fresh Debian machine with the .NET SDK: `make demo` and `make test`.
SHELL := /bin/bash
CONFIGURATION ?= Release
export PIPELINE_CONFIGURATION := $(CONFIGURATION)
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: all build test pack demo bench eval up down status clean deps help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

deps: ## install the Debian packages the servers and checks need (idempotent)
	@./infra/install-deps.sh

build: ## restore and build everything (warnings are errors)
	dotnet build Pipeline.sln -c $(CONFIGURATION) -nologo -v minimal -clp:ErrorsOnly
	@mkdir -p .run && touch .run/cli-build.stamp

test: deps build ## the whole test suite against real local servers; prints 'tests: N passed, N failed, N skipped'
	@./infra/run-tests.sh $(CONFIGURATION)

# A prerelease label unique to each local pack, so a cached package of the same version never stands in;
# 'make pack VERSION_SUFFIX=' packs the release version (eng/Version.props), 'VERSION_SUFFIX=rc.1' a named one.
VERSION_SUFFIX ?= dev.$(shell date -u +%Y%m%d%H%M%S)
FEED ?= .run/feed

pack: ## Pipeline.Schemas, Pipeline.Producers (the SDK) and the Pipeline.Cli tool into the local feed .run/feed
	@./infra/pack.sh "$(FEED)" "$(VERSION_SUFFIX)"

demo: deps build ## start the servers, play a release with a latency regression end to end: alerts, health, report
	./pipeline up
	./pipeline migrate
	./pipeline smoke
	./pipeline demo
	./pipeline status

bench: deps build ## end-to-end throughput with ratios, then BenchmarkDotNet hot paths (never part of make test)
	dotnet build tests/Pipeline.Benchmarks -c Release -nologo -v q -clp:ErrorsOnly
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll e2e 120000 2000 3
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll backfill 50000 300000 2000 20
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll dashboard 1000 30 3
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll live 50
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll ingest 100000
	dotnet tests/Pipeline.Benchmarks/bin/Release/net10.0/Pipeline.Benchmarks.dll --filter '*' --job short

eval: deps build ## how well the default alert rules catch a suite of incidents: table in docs/detection.md (~20 min; never part of make test)
	./pipeline up
	./pipeline eval --days 1 --series 50 --seeds 1,2,3 --json .run/eval.json

up: ## start the local ClickHouse and dev broker
	./pipeline up

down: ## stop them
	./pipeline down

status: ## show both servers and their addresses
	./pipeline status

clean: ## stop the servers, delete their data (.run/) and build outputs
	-./pipeline down
	rm -rf .run
	dotnet clean Pipeline.sln -nologo -v quiet
