# Sourced by scripts/install-*-deps.sh: apt_install NAME PACKAGE... installs
# the Debian packages named, as root or with sudo (sets the array sudo for
# the caller), without starting their services: during the install a
# policy-rc.d that exits 101 tells dpkg not to. NAME prefixes messages.
apt_install() {
	local name=$1
	shift
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$name: no apt-get here; install by hand: $* (macOS: brew install $*)" >&2
		exit 1
	fi
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "$name: need root or sudo to install: $*" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	echo "$name: installing $*"
	export DEBIAN_FRONTEND=noninteractive
	local policy=/usr/sbin/policy-rc.d
	if [[ ! -e $policy ]]; then
		# Exit status 101 tells dpkg not to start the packages' services.
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
		trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}
