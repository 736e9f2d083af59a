#!/usr/bin/env bash
# Generates every plannable fixture's Dockerfile into OUT/<fixture>/Dockerfile (fixtures are
# copied, never written to) and prints their paths: for hadolint and for seeding base images.
# The fixtures that exist to test errors are skipped; any other failure stops the script.
set -euo pipefail
out=${1:?usage: fixture-dockerfiles.sh OUT_DIR}
imggen=${IMGGEN:-target/debug/imggen}
error_fixtures=" ambiguous feature-gate lib-only malformed stale-lock "
rm -rf "$out"
for dir in tests/fixtures/*/; do
  name=$(basename "$dir")
  case "$error_fixtures" in *" $name "*) continue ;; esac
  mkdir -p "$out/$name"
  cp -R "$dir." "$out/$name/"
  "$imggen" generate "$out/$name" >"$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; exit 1; }
  echo "$out/$name/Dockerfile"
done
