#!/usr/bin/env bash
# `imggen plan` on a real workspace, side by side with `cargo metadata --no-deps --offline`
# (goal: plan under 300 ms on more than 100k lines of Rust). `just bench-plan` runs this.
#   bash bench/plan.sh DIR    # DIR: a cargo workspace checkout, e.g. meilisearch at its corpus commit
# Uses hyperfine (Debian) when installed, else the median of 10 runs of each.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:?usage: bench/plan.sh DIR}
cargo build --release --locked --quiet --manifest-path "$ROOT/Cargo.toml"
IMGGEN="$ROOT/target/release/imggen"
echo "lines of Rust: $(find "$DIR" -name '*.rs' -not -path '*/target/*' -type f -print0 | xargs -0 cat | wc -l)"
if command -v hyperfine >/dev/null; then
    hyperfine --warmup 2 -N "$IMGGEN plan $DIR" "cargo metadata --no-deps --offline --format-version 1 --manifest-path $DIR/Cargo.toml"
    exit 0
fi
median() {
    for _ in $(seq 10); do
        /usr/bin/time -f %e "$@" >/dev/null 2>>"$tmp" || true
    done
    grep -E '^[0-9.]+$' "$tmp" | sort -n | sed -n 5p
    : >"$tmp"
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "imggen plan: $(median "$IMGGEN" plan "$DIR") s (median of 10)"
echo "cargo metadata --no-deps --offline: $(median cargo metadata --no-deps --offline --format-version 1 --manifest-path "$DIR/Cargo.toml") s (median of 10)"
