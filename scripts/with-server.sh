#!/usr/bin/env bash
# shellcheck disable=SC2317 # the cleanup functions run from traps, which shellcheck cannot follow
# Runs a command against a fresh revenue-api server:
#
#   scripts/with-server.sh <command> [args...]
#
# Builds ./cmd/revenue-api into a temporary directory and starts `revenue-api serve`
# on a free loopback port, with its own private PostgreSQL (migrated, dev users
# seeded) and a freshly generated signing key, both under that directory. Once
# GET /healthz answers 200 it runs the command, in the caller's working
# directory, with REVENUE_TEST_URL=http://127.0.0.1:PORT in its environment.
# Then it stops the server (SIGTERM, SIGKILL after 20 s), removes the temporary
# directory and exits with the command's status. The server's log is printed
# if the server does not come up or the command fails.
#
# The caller's REVENUE_* variables reach the server (e.g.
# REVENUE_ACCESS_TOKEN_TTL=4s), except REVENUE_HTTP_ADDR, REVENUE_DATA_DIR and
# REVENUE_KEYS_DIR, which this script sets; DATABASE_URL is unset for it.
set -euo pipefail

readonly startup_timeout=120 # seconds for the server to log its address and answer /healthz
readonly stop_timeout=20     # seconds between SIGTERM and SIGKILL

if [[ $# -eq 0 ]]; then
	echo "usage: $0 <command> [args...]" >&2
	exit 2
fi

root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

tmp=""
server_pid=""
server_log=""
cmd_pid=""

log() { echo "with-server: $*" >&2; }

print_server_log() {
	if [[ -n $server_log && -s $server_log ]]; then
		log "server log ($server_log):"
		sed 's/^/    /' "$server_log" >&2 || true
	fi
}

# postgres_pid prints the pid of the private PostgreSQL (its data dir is
# $REVENUE_DATA_DIR or a directory in it), if it left a pid file.
postgres_pid() {
	local pidfile pid=""
	for pidfile in "$tmp"/data/postmaster.pid "$tmp"/data/*/postmaster.pid; do
		if [[ -r $pidfile ]]; then
			read -r pid <"$pidfile" || true
			pid=${pid#-}
			break
		fi
	done
	[[ $pid =~ ^[0-9]+$ ]] && echo "$pid"
	return 0
}

# wait_gone waits up to $2 seconds for process $1 to exit; false if it is still there.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

stop_server() {
	[[ -n $server_pid ]] || return 0
	local pid=$server_pid pg_pid
	server_pid=""
	pg_pid=$(postgres_pid)
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" "$stop_timeout"; then
			log "server did not stop within ${stop_timeout}s of SIGTERM; sending SIGKILL"
			# The server runs in its own process group (setsid); take all of it.
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	# The server stops its PostgreSQL on shutdown, and PostgreSQL stops by
	# itself when the server dies; give it a moment before removing its files.
	if [[ -n $pg_pid ]] && ! wait_gone "$pg_pid" 10; then
		log "PostgreSQL (pid $pg_pid) still running; sending SIGKILL"
		kill -KILL "$pg_pid" 2>/dev/null || true
		wait_gone "$pg_pid" 5 || true
	fi
}

# stop_command ends the command when we are interrupted or terminated
# ourselves (e.g. by `timeout`), so that nothing outlives this script.
stop_command() {
	[[ -n $cmd_pid ]] || return 0
	local pid=$cmd_pid
	cmd_pid=""
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	set +e
	stop_command
	stop_server
	[[ -n $tmp ]] && rm -rf -- "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmp=$(mktemp -d "${TMPDIR:-/tmp}/revenue-api.XXXXXX")
# When we are root the server runs PostgreSQL as an unprivileged user, which
# must be able to reach $tmp/data through $tmp (search only, no listing).
chmod 0711 "$tmp"
server_log="$tmp/server.log"

log "building ./cmd/revenue-api"
(cd "$root" && go build -o "$tmp/revenue-api" ./cmd/revenue-api)

log "starting the server"
(
	cd "$root"
	unset DATABASE_URL
	export REVENUE_HTTP_ADDR=127.0.0.1:0
	export REVENUE_DATA_DIR="$tmp/data"
	export REVENUE_KEYS_DIR="$tmp/keys"
	# Its own session, so a terminal's ^C reaches only this script, which then
	# stops the server once, cleanly.
	exec setsid "$tmp/revenue-api" serve </dev/null >>"$server_log" 2>&1
) &
server_pid=$!

deadline=$((SECONDS + startup_timeout))

# The server logs one JSON line {"msg":"listening","addr":"127.0.0.1:PORT",...}.
addr=""
while [[ -z $addr ]]; do
	line=$(grep -m 1 -E '"msg": ?"listening"' "$server_log" 2>/dev/null || true)
	if [[ $line =~ \"addr\":\ ?\"([^\"]*)\" ]]; then
		addr=${BASH_REMATCH[1]}
		break
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		wait "$server_pid" && rc=0 || rc=$?
		server_pid=""
		log "the server exited (status $rc) before it was listening"
		print_server_log
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		log "no \"listening\" log line within ${startup_timeout}s"
		print_server_log
		exit 1
	fi
	sleep 0.2
done

port=${addr##*:}
if [[ ! $port =~ ^[0-9]+$ ]]; then
	log "cannot read a port from the listening address \"$addr\""
	print_server_log
	exit 1
fi
url="http://127.0.0.1:$port"

log "waiting for $url/healthz"
until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/healthz" || true) == 200 ]]; do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		server_pid=""
		log "the server exited before /healthz answered 200"
		print_server_log
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		log "GET /healthz did not answer 200 within ${startup_timeout}s"
		print_server_log
		exit 1
	fi
	sleep 0.2
done

log "server ready at $url; running: $*"
export REVENUE_TEST_URL="$url"
status=0
# In the background, so that a signal to this script is handled at once (a
# foreground command would delay the trap until it ends); stdin stays the
# caller's.
"$@" <&0 &
cmd_pid=$!
wait "$cmd_pid" || status=$?
cmd_pid=""

if ((status != 0)); then
	log "command exited with status $status"
	print_server_log
fi
exit "$status"
