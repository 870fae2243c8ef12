#!/usr/bin/env bash
# Runs the README's curl walkthrough, verbatim but for the base URL, against
# the server at REVENUE_TEST_URL (see scripts/with-server.sh), and checks that
# each step answered as the README says.
set -euo pipefail
root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
: "${REVENUE_TEST_URL:?run me under scripts/with-server.sh}"

script=$(awk '/^## /{on=0} /^## Walkthrough with curl/{on=1} on' "$root/README.md" |
	awk '/^```sh$/{inblock=1; next} /^```$/{inblock=0} inblock')
[[ -n $script ]] || { echo "check-readme: no walkthrough found in README.md" >&2; exit 1; }
script=${script//http:\/\/localhost:8080/$REVENUE_TEST_URL}

out=$(bash -euo pipefail -c "$script" 2>&1) || { echo "$out" >&2; echo "check-readme: the walkthrough failed" >&2; exit 1; }

fail=0
expect() {
	if ! grep -qF -- "$1" <<<"$out"; then
		echo "check-readme: missing from the walkthrough's output: $1" >&2
		fail=1
	fi
}
expect '"token_type":"Bearer"'
expect '"name":"Acme Corp"'
expect '"email":"alice@example.com"'
expect 'HTTP/1.1 401 Unauthorized'
expect 'Www-Authenticate: Bearer realm="revenue-api"'
expect 'HTTP/1.1 403 Forbidden'
expect 'error="insufficient_scope"'
expect '"code":"invalid_refresh_token"'
expect '"current":true'
expect '"current":false'
expect '"kty":"RSA"'
[[ $(grep -c '^204$' <<<"$out") -eq 3 ]] || { echo "check-readme: want three 204 answers (delete session, logout, logout/all)" >&2; fail=1; }
if ((fail)); then
	echo "$out" >&2
	exit 1
fi
echo "check-readme: the README walkthrough works"
