#!/usr/bin/env bash
# Installs the pinned npm packages the interop tests run: the official
# JavaScript libraries of Standard Webhooks and the providers. Each folder
# has a committed package-lock.json, so installs are reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "Node.js and npm are needed for the interop tests; installing them with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq nodejs npm >/dev/null
fi

for lock in $(git ls-files '*package-lock.json'); do
	dir=$(dirname "$lock")
	if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules" ]; then
		npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
	fi
done
