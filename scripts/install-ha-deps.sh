#!/usr/bin/env bash
# Installs what `make test-ha` and `make bench-data-tier` need beyond
# scripts/install-test-deps.sh: Patroni (runs on the system python3), etcd
# (the DCS Patroni elects its leader in), haproxy (documented alternative
# front; the tests use libpq multi-host URLs) and PgBouncer (the bench's
# pooled tier; install-test-deps.sh installs it too). Debian or Ubuntu, as
# root or with sudo.
# It installs only what is missing and never leaves the packages' own
# services running: the test starts private instances on 127.0.0.1.
set -euo pipefail

missing=()
command -v patroni >/dev/null 2>&1 || missing+=(patroni)
command -v etcd >/dev/null 2>&1 || [[ -x /usr/bin/etcd ]] || missing+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-ha-deps: nothing to install"
	exit 0
fi
# shellcheck source=scripts/apt-install.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install install-ha-deps "${missing[@]}"

# Nothing is running (policy-rc.d said no), but the packages enable their
# units for the next boot; disable them (this works without a running
# systemd) and, should one be running anyway, stop it: the test runs its own.
for unit in patroni etcd haproxy pgbouncer; do
	if command -v systemctl >/dev/null 2>&1; then
		"${sudo[@]}" systemctl disable "$unit" >/dev/null 2>&1 || true
		if [[ -d /run/systemd/system ]]; then
			"${sudo[@]}" systemctl stop "$unit" >/dev/null 2>&1 || true
		fi
	fi
	if [[ -x /etc/init.d/$unit && ! -d /run/systemd/system ]]; then
		"${sudo[@]}" /etc/init.d/$unit stop >/dev/null 2>&1 || true
	fi
done
