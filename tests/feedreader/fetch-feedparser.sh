#!/usr/bin/env bash
# Install node-feedparser (npm package `feedparser`, the parser of Node feed readers) into DEST for the
# feeds test: `npm ci` from this directory's package-lock.json, which pins every package's version and its
# sha512 integrity (npm refuses a tarball that does not match). Install scripts are not run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: fetch-feedparser.sh DEST}
lock_digest=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ -f "$dest/node_modules/feedparser/package.json" ] && [ "$(cat "$dest/LOCK" 2>/dev/null)" = "$lock_digest" ]; then
  exit 0
fi
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
(cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --silent)
echo "$lock_digest" >"$dest/LOCK"
