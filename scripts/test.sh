#!/usr/bin/env bash
# Runs every Herald test: unit and integration tests of every package (the
# store suite on SQLite, in both its builds, and PostgreSQL), the dashboard in headless Chromium,
# the Svix SDK compatibility module, and the interop tests against the
# official JavaScript libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/ensure-cc.sh
./scripts/ensure-postgres.sh
./scripts/ensure-node-deps.sh
./scripts/ensure-browser.sh

echo "== go vet"
go vet ./...
echo "== go test (race detector on)"
go test -race -count=1 -timeout 20m ./...
echo "== SQLite store on the pure-Go build (what CGO_ENABLED=0 and machines without a C compiler get)"
CGO_ENABLED=0 go test -count=1 -timeout 10m ./internal/store/sqlite
echo "== Svix SDK compatibility"
(cd sdktest && go test -race -count=1 -timeout 10m ./...)
echo "== fuzz targets (briefly each)"
./scripts/fuzz.sh
