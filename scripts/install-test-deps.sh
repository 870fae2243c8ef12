#!/usr/bin/env bash
# Installs the system packages `make test` needs beyond Go and Node: the
# PostgreSQL server binaries (initdb, postgres), nginx (the load balancer in
# front of the replicas in internal/systemtest), PgBouncer (the transaction
# pooler of the PgBouncer system test), Chromium (the browser test of the
# SPA) and OpenSSL 3's libcrypto (the RS256 signer's tests). Debian or Ubuntu, as root or with sudo.
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
# OpenSSL 3's libcrypto: the RS256 signer's tests (REVENUE_SIGNER=auto) load it.
ldconfig -p 2>/dev/null | grep -q 'libcrypto\.so\.3 ' || [[ -e /usr/lib/x86_64-linux-gnu/libcrypto.so.3 || -e /usr/lib/aarch64-linux-gnu/libcrypto.so.3 ]] || missing+=(libssl3)

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-test-deps: nothing to install"
	exit 0
fi
# shellcheck source=scripts/apt-install.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install install-test-deps "${missing[@]}"
