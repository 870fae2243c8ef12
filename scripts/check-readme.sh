#!/usr/bin/env bash
# Checks that README.md stays short and true: at most 25,000 bytes, every
# relative link in it and in docs/*.md names a file that exists, and its curl
# walkthrough, run verbatim but for the base URL against the server at
# REVENUE_TEST_URL (see scripts/with-server.sh), answers as the README says.
set -euo pipefail
root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

readonly max_bytes=25000
size=$(wc -c <"$root/README.md")
if ((size > max_bytes)); then
	echo "check-readme: README.md is $size bytes, over $max_bytes: move detail to docs/" >&2
	exit 1
fi

broken=0
for doc in "$root/README.md" "$root"/docs/*.md; do
	dir=$(dirname -- "$doc")
	while IFS= read -r target; do
		target=${target%%#*}
		[[ -z $target || $target == *://* || $target == mailto:* ]] && continue
		[[ -e $dir/$target ]] && continue
		echo "check-readme: ${doc#"$root"/} links to $target, which does not exist" >&2
		broken=1
	done < <(grep -oE '\]\([^) ]+\)' "$doc" | sed -E 's/^\]\((.*)\)$/\1/')
done
((broken == 0)) || exit 1

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
expect '"months":2'
expect '"source":"import"'
[[ $(grep -c '^204$' <<<"$out") -eq 3 ]] || { echo "check-readme: want three 204 answers (delete session, logout, logout/all)" >&2; fail=1; }
if ((fail)); then
	echo "$out" >&2
	exit 1
fi
echo "check-readme: README.md is $size bytes, its links resolve, its walkthrough works"
