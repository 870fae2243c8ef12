#!/usr/bin/env bash
# Checks, without Docker, that the Dockerfile's web stage copies every file
# `npm run build` reads: it copies what the stage's COPY lines name (after
# `npm ci`) into an empty directory, beside this checkout's node_modules, and
# builds there. A file the build needs but the Dockerfile forgets fails here
# instead of in an image build.
set -euo pipefail
root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The COPY lines of the stage that runs `npm run build` (FROM node... to the next FROM).
copies=$(awk '/^FROM /{stage=($2 ~ /^node/)} stage && /^COPY /' "$root/Dockerfile")
[[ -n $copies ]] || { echo "check-dockerfile-web: no COPY lines in the Dockerfile's node stage" >&2; exit 1; }
while read -r _ args; do
	read -r -a words <<<"$args"
	dst=${words[-1]}
	mkdir -p "$tmp/$dst"
	for src in "${words[@]:0:${#words[@]}-1}"; do
		if [[ -d $root/$src ]]; then
			cp -R "$root/$src/." "$tmp/$dst/" # COPY dir dst copies the directory's contents
		else
			cp "$root/$src" "$tmp/$dst/"
		fi
	done
done <<<"$copies"

ln -s "$root/web/node_modules" "$tmp/node_modules"
if ! (cd "$tmp" && npm run --silent build >"$tmp/build.log" 2>&1); then
	cat "$tmp/build.log" >&2
	echo "check-dockerfile-web: the web stage's files do not build: the Dockerfile misses a file the build reads" >&2
	exit 1
fi
for page in index.html docs.html; do
	[[ -s $tmp/dist/$page ]] || { echo "check-dockerfile-web: the image's build has no $page" >&2; exit 1; }
done
echo "check-dockerfile-web: the Dockerfile's web stage builds index.html and docs.html"
