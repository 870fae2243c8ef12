#!/usr/bin/env bash
# Installs what `make test-ha` needs beyond scripts/install-test-deps.sh:
# Patroni (runs on the system python3), etcd (the DCS Patroni elects its
# leader in) and haproxy (documented alternative front; the test itself uses
# libpq multi-host URLs). Debian or Ubuntu, as root or with sudo.
# It installs only what is missing and never leaves the packages' own
# services running: the test starts private instances on 127.0.0.1.
set -euo pipefail

missing=()
command -v patroni >/dev/null 2>&1 || missing+=(patroni)
command -v etcd >/dev/null 2>&1 || [[ -x /usr/bin/etcd ]] || missing+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-ha-deps: nothing to install"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-ha-deps: no apt-get here; install by hand: ${missing[*]}" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-ha-deps: need root or sudo to install: ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "install-ha-deps: installing ${missing[*]}"
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

# Nothing is running (policy-rc.d said no), but the packages enable their
# units for the next boot; disable them (this works without a running
# systemd) and, should one be running anyway, stop it: the test runs its own.
for unit in patroni etcd haproxy; do
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
