# shellcheck shell=bash
# Helpers bench/run.sh and bench/oci.sh share (sourced). BENCH_NAME is the log prefix; REC is the
# file of JSON records.

log() { printf '[%s %s] %s\n' "${BENCH_NAME:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
plain_log() { sed -E 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null; }
# count_lines PATTERN LOG: lines of the log (colours removed) matching the extended regex.
count_lines() { plain_log "$2" | grep -acE "$1" || true; }
# Crates cargo compiled, by its "Compiling NAME vX" lines.
compiled() { count_lines 'Compiling [A-Za-z0-9_-]+ v[0-9]' "$1"; }
record() { jq -nc "$@" >>"$REC"; }
