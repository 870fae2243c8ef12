#!/usr/bin/env bash
# Runs every fuzz target for the given time each (default 60s):
#   scripts/fuzz.sh 5m
# The seed corpora under */testdata/fuzz also run as ordinary tests.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-60s}
targets=(
	"FuzzVerify ./internal/token"
	"FuzzVerifySigned ./internal/token"
	"FuzzCheckMembers ./internal/token"
	"FuzzDecodeClaims ./internal/token"
	"FuzzLogin ./internal/httpapi"
	"FuzzRefresh ./internal/httpapi"
	"FuzzAccessLogLine ./internal/httpapi"
	"FuzzDecodeHashRequest ./internal/auth"
)
for t in "${targets[@]}"; do
	read -r name pkg <<<"$t"
	echo "fuzz: $name ($pkg) for $time"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "$pkg"
done
