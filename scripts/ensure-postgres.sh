#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the test
# suite: starts the local cluster if it is stopped, installs PostgreSQL from
# the distribution's packages if it is missing.
set -euo pipefail

host=127.0.0.1 port=5432

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }
# The suite connects as postgres without a password.
trusted() { psql -h "$host" -p "$port" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; }

if command -v pg_isready >/dev/null && ready && trusted; then
	psql -h "$host" -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 ||
		psql -h "$host" -p "$port" -U postgres -c "CREATE DATABASE test" >/dev/null
	exit 0
fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
	echo "PostgreSQL is not installed; installing it with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# Trust local TCP connections so tests need no password (test machines only).
if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"; then
	sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
fi
# Start it, or, if it was already running (the package's install may start
# it), reload it so the trust lines above apply.
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
	pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true

for _ in $(seq 1 60); do
	if ready; then break; fi
	sleep 0.5
done
if ! ready; then
	echo "PostgreSQL did not come up on $host:$port; start it with:" >&2
	echo "  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
	exit 1
fi

# The suite connects as postgres to database test.
psql -h "$host" -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 ||
	psql -h "$host" -p "$port" -U postgres -c "CREATE DATABASE test" >/dev/null
