#!/usr/bin/env bash
# Generates every plannable fixture's Dockerfile into OUT/<fixture>/Dockerfile (fixtures are
# copied, never written to) and prints their paths: for hadolint and for seeding base images.
set -euo pipefail
out=${1:?usage: fixture-dockerfiles.sh OUT_DIR}
imggen=${IMGGEN:-target/debug/imggen}
rm -rf "$out"
for dir in tests/fixtures/*/; do
  name=$(basename "$dir")
  mkdir -p "$out/$name"
  cp -R "$dir." "$out/$name/"
  if "$imggen" generate "$out/$name" >/dev/null 2>&1; then
    echo "$out/$name/Dockerfile"
  fi
done
