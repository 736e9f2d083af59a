#!/usr/bin/env bash
# Regenerates PREFIX.json and PREFIX.md from PREFIX.ndjson, the records bench/run.sh writes
# (default bench/results); a run that stopped early is summarized from the rounds it finished.
# The daemonless section (PREFIX-oci.ndjson, from bench/oci.sh), when present, follows the tables;
# bench/findings.md (the decision read from these figures), when present, ends PREFIX.md.
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$DIR/results}
jq -s -f "$DIR/summary.jq" "$OUT.ndjson" >"$OUT.json"
jq -r -f "$DIR/report.jq" "$OUT.json" >"$OUT.md"
if [ -s "$OUT-oci.ndjson" ]; then
  jq -s -r -f "$DIR/oci-report.jq" "$OUT-oci.ndjson" >"$OUT-oci.md"
  { echo; cat "$OUT-oci.md"; } >>"$OUT.md"
fi
if [ -f "$DIR/findings.md" ] && [ "$OUT" = "$DIR/results" ]; then
  { echo; cat "$DIR/findings.md"; } >>"$OUT.md"
fi
