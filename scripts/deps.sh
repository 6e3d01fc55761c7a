#!/usr/bin/env bash
# scripts/deps.sh - installs what spindle needs to build and test, and only what is missing:
# Debian packages (scripts/apt-packages.txt) and npm reference tools (scripts/npm-packages.txt,
# installed into tests/node_modules). Safe to rerun; fast when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

want=$(grep -v '^#' scripts/apt-packages.txt | awk '{print $1}' | grep -v '^$')
missing=()
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node.js and npm run the npm reference tools; a machine may have them from elsewhere than apt.
if ! command -v npm >/dev/null; then
	echo "deps: installing nodejs npm"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

if [ -s scripts/npm-packages.txt ]; then
	npm_want=$(grep -v '^#' scripts/npm-packages.txt | awk '{print $1}' | grep -v '^$' || true)
	npm_missing=()
	for p in $npm_want; do
		name=${p%@*}; [ -n "$name" ] || name=$p
		[ -d "tests/node_modules/$name" ] || npm_missing+=("$p")
	done
	if [ ${#npm_missing[@]} -gt 0 ]; then
		if command -v npm >/dev/null; then
			echo "deps: npm installing ${npm_missing[*]}"
			(cd tests && npm install --no-audit --no-fund --silent --prefix . "${npm_missing[@]}") ||
				echo "deps: npm install failed; tests that need these references will skip"
		else
			echo "deps: npm not found; tests that need ${npm_missing[*]} will skip"
		fi
	fi
fi
