#!/usr/bin/env bash
# Installs Chromium for the dashboard's browser tests (internal/ui
# TestBrowser) when it is missing. The tests drive it headless through the
# pinned playwright-core in internal/ui/browsertest.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	exit 0
fi
echo "Chromium is needed for the dashboard's browser tests; installing it with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
