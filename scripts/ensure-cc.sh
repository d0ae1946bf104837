#!/usr/bin/env bash
# Installs a C compiler when there is none: the race detector (go test
# -race) needs cgo, and Go turns cgo off where it finds no compiler. Herald
# itself builds without one (its SQLite is then the pure-Go translation).
set -euo pipefail

if command -v "$(go env CC)" >/dev/null 2>&1; then
	exit 0
fi
echo "A C compiler is needed for the race detector; installing gcc with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq gcc libc6-dev >/dev/null
