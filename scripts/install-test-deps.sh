#!/usr/bin/env bash
# Installs the system packages `make test` needs beyond Go and Node: the
# PostgreSQL server binaries (initdb, postgres), nginx (the load balancer in
# front of the replicas in internal/systemtest), PgBouncer (the transaction
# pooler of the PgBouncer system test) and Chromium (the browser test of the
# SPA). Debian or Ubuntu, as root or with sudo.
# It installs only what is missing, and never starts the packages' own
# services: the tests run private instances on loopback.
set -euo pipefail

missing=()
# Where internal/pgcluster looks: pg_config --bindir, then Debian's layout.
has_postgres() {
	local dir
	if dir=$(pg_config --bindir 2>/dev/null) && [[ -x $dir/initdb && -x $dir/postgres ]]; then
		return 0
	fi
	for dir in /usr/lib/postgresql/*/bin; do
		[[ -x $dir/initdb && -x $dir/postgres ]] && return 0
	done
	return 1
}
has_postgres || missing+=(postgresql)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-test-deps: nothing to install"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: no apt-get here; install by hand: ${missing[*]} (macOS: brew install ${missing[*]})" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-test-deps: need root or sudo to install: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	# Exit status 101 tells dpkg not to start the packages' services.
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
