#!/usr/bin/env bash
# Runs every fuzz target, for the given time each (default 60s):
#   scripts/fuzz.sh 5m
# or, with "ci", for a fixed number of executions each (about 5 s apiece on
# the development VM). CI uses counts because Go 1.26's fuzzer can fail a
# target when a -fuzztime duration ends while a worker is busy ("context
# deadline exceeded" with no failing input: go.dev/issue/75804, fixed in Go
# 1.27); a count has no deadline to race.
# The seed corpora under */testdata/fuzz also run as ordinary tests.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-60s}
# name, package, executions under "ci"
targets=(
	"FuzzVerify ./internal/token 40000"
	"FuzzVerifySigned ./internal/token 1000"
	"FuzzCheckMembers ./internal/token 30000"
	"FuzzDecodeClaims ./internal/token 30000"
	"FuzzLogin ./internal/httpapi 700"
	"FuzzRefresh ./internal/httpapi 5000"
	"FuzzAccessLogLine ./internal/httpapi 500"
	"FuzzDecodeHashRequest ./internal/passwordhash 20000"
)
for t in "${targets[@]}"; do
	read -r name pkg count <<<"$t"
	budget=$time
	[[ $time == ci ]] && budget=${count}x
	echo "fuzz: $name ($pkg) for $budget"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$budget" "$pkg"
done
