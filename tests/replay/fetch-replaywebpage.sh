#!/usr/bin/env bash
# Fetch ReplayWeb.page's prebuilt ui.js and sw.js (npm package `replaywebpage`, pinned, integrity checked)
# into DEST, for the WACZ replay test. `npm pack` fetches the one tarball: `npm install` would resolve the
# package's build dependencies (electron, webpack...), which the test does not need and which do not all
# resolve on every registry mirror.
set -euo pipefail
version=2.5.3
integrity="sha512-nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ=="
dest=${1:?usage: fetch-replaywebpage.sh DEST}
if [ -f "$dest/ui.js" ] && [ -f "$dest/sw.js" ] && [ "$(cat "$dest/VERSION" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "replaywebpage@$version" >/dev/null)
tarball="$work/replaywebpage-$version.tgz"
got=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
if [ "$got" != "$integrity" ]; then
  echo "replaywebpage-$version.tgz: integrity $got, expected $integrity" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/ui.js package/sw.js package/LICENSE
mkdir -p "$dest"
mv "$work/package/ui.js" "$work/package/sw.js" "$work/package/LICENSE" "$dest/"
echo "$version" >"$dest/VERSION"
