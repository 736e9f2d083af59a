#!/usr/bin/env bash
# Generates every plannable fixture's Dockerfile into OUT/<fixture>/Dockerfile (fixtures are
# copied, never written to) and prints their paths: for hadolint and for seeding base images.
# The fixtures that exist to test errors are skipped; any other failure stops the script. A
# fixture whose service is in a subdirectory (a monorepo's examples/) is generated there.
set -euo pipefail
out=${1:?usage: fixture-dockerfiles.sh OUT_DIR}
imggen=${IMGGEN:-target/debug/imggen}
error_fixtures=" ambiguous feature-gate lib-only malformed scan-clap-no-server scan-config-arg scan-grpc-servers scan-leptos scan-required-flag scan-shuttle stale-lock "
rm -rf "$out"
for dir in tests/fixtures/*/; do
  name=$(basename "$dir")
  case "$error_fixtures" in *" $name "*) continue ;; esac
  mkdir -p "$out/$name"
  cp -R "$dir." "$out/$name/"
  case "$name" in
    monorepo | scan-path-dev-deps) project="$out/$name/examples" ;;
    *) project="$out/$name" ;;
  esac
  "$imggen" generate "$project" >"$out/$name.log" 2>&1 || { cat "$out/$name.log" >&2; exit 1; }
  echo "$project/Dockerfile"
done
