#!/usr/bin/env bash
# Runs every fuzz target of the main module briefly: FUZZTIME each (20000
# executions unless set). Targets are found by grepping for `func FuzzX(`, so
# a new one runs without editing this script. Go fuzzes one target per
# invocation, hence the loop. A crasher is saved under the package's
# testdata/fuzz/ and from then on runs as an ordinary test case.
#
# The budget is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" when
# a busy worker misses the deadline (go.dev/issue/75804). A count has no
# deadline to race, and does the same work on a slow machine as a fast one.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-20000x}"
targets=$(grep -rEo --include='*_test.go' --exclude-dir=sdktest --exclude-dir=node_modules \
	'^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort)
if [ -z "$targets" ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
for t in $targets; do
	file=${t%%:*}
	name=${t##*:}
	pkg=$(dirname "$file")
	echo "-- $name ($pkg, $fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
done
