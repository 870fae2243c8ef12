#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs. On this machine, in one run:
#
#   1. Go benchmarks (-benchmem, pinned to one CPU): raw RSA-2048 PKCS#1 v1.5
#      verification, the service's token verification with and without the
#      verified-token cache, golang-jwt's own parse for comparison, token
#      signing, argon2id password hashing at the default cost, and GET /me
#      through the router in-process.
#   2. HTTP load on loopback with wrk (bench/cmd/loadbench): the real server
#      for GET /me, GET /revenue and POST /login next to three baselines
#      (no auth, minimal golang-jwt, PostgreSQL session), peak memory at 256
#      connections, and GET /revenue latency under a login flood.
#   3. What revocation costs: GET /me on servers holding no and 100,000 live
#      revocations (cache on and off, in the same rounds), and the time from
#      POST /logout on one replica to the token refused by another replica
#      and by a verifier-only process.
#
# It prints one markdown report and saves it to $BENCH_REPORT (default
# $TMPDIR/revenue-api-bench.md). Flags after the script name go
# to `loadbench run` (e.g. -rounds 5 -duration 8s; see loadbench run -h).
# BENCH_QUICK=1 shortens everything for a smoke test; figures are then rough.
# Only the revocation rows: bench/run.sh -only revocations -phases http,memory,logout
# Needs: Go, PostgreSQL server binaries (as for make test), wrk (installed
# with apt-get when missing and we are root), taskset, at least 2 CPUs.
set -euo pipefail

root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
report=${BENCH_REPORT:-${TMPDIR:-/tmp}/revenue-api-bench.md}
load_cpu=${BENCH_LOAD_CPU:-0}
server_cpu=${BENCH_SERVER_CPU:-1}

log() { echo "bench: $*" >&2; }

if ! command -v wrk >/dev/null; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		log "installing wrk"
		DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null ||
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
	else
		log "wrk is missing: apt-get install wrk"
		exit 1
	fi
fi
command -v taskset >/dev/null || { log "taskset is missing (util-linux)"; exit 1; }
if (($(nproc) < 2)); then
	log "needs at least 2 CPUs: one for the load generator, one for the server"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/revenue-bench.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

benchtime=1s count=3
if [[ ${BENCH_QUICK:-} == 1 ]]; then
	benchtime=200ms count=1
	set -- -rounds 1 -duration 2s -warmup 1s "$@"
fi

cd "$root"
log "building"
go build -o "$tmp/revenue-api" ./cmd/revenue-api
go build -o "$tmp/loadbench" ./bench/cmd/loadbench

log "Go benchmarks (CPU $server_cpu)"
gobench() {
	taskset -c "$server_cpu" go test -run '^$' -benchmem -benchtime "$benchtime" -count "$count" "$@" | tee -a "$tmp/gobench.txt" >&2
}
gobench -bench 'RSAVerifyPKCS1v15|Verify$|VerifyCachedHit$|VerifyCachedMiss|GolangJWTParse|Sign' ./internal/token
gobench -bench 'PasswordHash' ./internal/passwordhash
gobench -bench 'Me' ./internal/httpapi

log "HTTP load (wrk on CPU $load_cpu, servers on CPU $server_cpu)"
"$tmp/loadbench" run -server "$tmp/revenue-api" -gobench "$tmp/gobench.txt" \
	-load-cpu "$load_cpu" -server-cpu "$server_cpu" "$@" >"$tmp/report.md"
cp "$tmp/report.md" "$report"
cat "$report"
log "report saved to $report"
