#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2013  # jq programs are single-quoted; ids are words
# imggen benchmark: image builds of the axum fixture against the host's own `cargo build --release`
# (the floor), stop time, image size, build context, and analysis speed. `just bench` runs this.
#
#   bash bench/run.sh            # everything (about 15-25 minutes on 2 cores)
#
# Environment (all optional):
#   BENCH_VARIANTS   docker variants, default "imggen imggen-bk imggen-mounts naive chef"
#                    imggen        imggen's default Dockerfile, classic builder
#                    imggen-bk     the same Dockerfile, BuildKit (separates builder from template)
#                    imggen-mounts imggen with `cache_mounts = true`, BuildKit
#                    naive         FROM the same builder; COPY . . && cargo build --release
#                    chef          the canonical cargo-chef pattern, classic builder
#                    mounts-v0     (not by default) imggen's first cache_mounts Dockerfile, frozen in
#                                  bench/baselines/, to compare template changes in one run
#                    imggen-proposed (not by default) imggen's default Dockerfile with two changes
#                                  proposed for the classic builder (see propose_dockerfile)
#   BENCH_REPEAT     repetitions of the cheap steps (one-line rebuild, stop), default 3
#   BENCH_QUIET_MAX  seconds to wait for an idle machine before each timed step, default 5
#   BENCH_NEW_DEP    the dependency line the dependency step adds, default 'hex = "0.4"'
#   BENCH_SKIP       space-separated parts to skip: analyze musl devctx
#   BENCH_OUT        output prefix, default bench/results (writes .json and .md)
#   BENCH_KEEP=1     keep the work directory (logs) instead of deleting it
#   DOCKER           docker client, default /usr/bin/docker (Debian's 20.10; BuildKit works)
#   DOCKER_UP        engine/base-image set-up script, default ../shared/scripts/docker-up.sh
#
# What "cold" means, per side (see bench/README.md):
#   host    empty target dir, warm ~/.cargo registry; the download share is measured apart
#           (`cargo fetch` into an empty CARGO_HOME) and added to the floor;
#   docker  no cache of this project: the package has a new name every run, so no layer or
#           target cache mount can match; the cargo registry cache mount is emptied, so it
#           downloads every crate, like the floor plus download. Steps that do not depend on the
#           project (WORKDIR on the builder image, the runtime's user) may come from the cache,
#           as on any machine that built another image from the same bases. Not --no-cache: with
#           the classic builder it forks a second WORKDIR image, and later builds miss the cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${DOCKER:-/usr/bin/docker}
DOCKER_UP=${DOCKER_UP:-$ROOT/../shared/scripts/docker-up.sh}
VARIANTS=${BENCH_VARIANTS:-imggen imggen-bk imggen-mounts naive chef}
REPEAT=${BENCH_REPEAT:-3}
QUIET_MAX=${BENCH_QUIET_MAX:-5}
NEW_DEP=${BENCH_NEW_DEP:-hex = \"0.4\"}
SKIP=" ${BENCH_SKIP:-} "
OUT=${BENCH_OUT:-$ROOT/bench/results}
FIXTURE=$ROOT/tests/fixtures/axum-single
MUSL_FIXTURE=$ROOT/tests/fixtures/musl-static
RUN_ID=$(date +%Y%m%d-%H%M%S)-$$
# The fixture's package gets a name of its own for this run and variant (pkg_of), so that its
# layers and cache mount (imggen-target-<name>-...) can match neither an earlier run's, nor another
# variant's (cargo-chef recipes do not depend on the sources), nor those of tests that build the
# same fixture on a shared engine: every cache hit below is the variant's own.
PKG=axum-bench-$RUN_ID
pkg_of() { echo "$PKG-$1"; }
PFX=imggen-bench-$RUN_ID
START=$(date +%s.%N)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
skipped() { [[ $SKIP == *" $1 "* ]]; }

for tool in jq curl cargo tar awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$DOCKER" ] || die "$DOCKER not found (Debian's docker.io client; see docker-on-this-machine.md)"
[ -f "$DOCKER_UP" ] || die "$DOCKER_UP not found; set DOCKER_UP"

WORK=$(mktemp -d /tmp/imggen-bench.XXXXXX)
REC=$WORK/records.ndjson
: >"$REC"
CONTAINERS=()
TAGS=()
IMAGE_IDS=()

cleanup() {
  local rc=$?
  set +e
  for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1; done
  for t in "${TAGS[@]}"; do "$DOCKER" rmi "$t" >/dev/null 2>&1; done
  # Stage images of the classic builder, newest first so children go before parents.
  for ((i = ${#IMAGE_IDS[@]} - 1; i >= 0; i--)); do
    "$DOCKER" rmi "${IMAGE_IDS[$i]}" >/dev/null 2>&1
  done
  prune_buildkit all
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# jiffies: total and idle (idle + iowait) over all CPUs
cpu_stat() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6; exit }' /proc/stat; }
busy_between() { # "t0 i0" "t1 i1" -> busy fraction of the whole machine
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); dt = y[1] - x[1];
    printf "%.2f", (dt > 0 ? 1 - (y[2] - x[2]) / dt : 0) }'
}
# Waits (at most QUIET_MAX s) for a second in which the machine is under 15% busy; prints seconds waited.
wait_quiet() {
  local waited=0 a b
  while [ "$waited" -lt "$QUIET_MAX" ]; do
    a=$(cpu_stat); sleep 1; b=$(cpu_stat)
    waited=$((waited + 1))
    awk -v f="$(busy_between "$a" "$b")" 'BEGIN { exit !(f < 0.15) }' && break
  done
  echo "$waited"
}
# Sum of cargo's own "Finished ... in Xs" times in a log (cargo-chef cook and build both print one).
# The classic builder colours stderr: strip the escape sequences before reading a log.
plain_log() { sed -E 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null; }
cargo_seconds() {
  plain_log "$1" | grep -aoE 'Finished `[a-z]+` profile .* in ([0-9]+m )?[0-9.]+s' |
    sed -E 's/.* in //' |
    awk '{ s = 0; if ($0 ~ /m /) { split($0, p, "m "); s = p[1] * 60; $0 = p[2] } sub(/s$/, ""); t += s + $0 } END { printf "%.2f", t + 0 }'
}
count_lines() { plain_log "$2" | grep -acE "$1" || true; }
# "20.48kB" -> bytes (docker prints decimal units)
to_bytes() {
  awk -v s="$1" 'BEGIN { n = s + 0; u = s; sub(/^[0-9.]+/, "", u);
    m = (u == "kB") ? 1e3 : (u == "MB") ? 1e6 : (u == "GB") ? 1e9 : 1; printf "%d", n * m }'
}
record() { jq -nc "$@" >>"$REC"; }
# Marks the last records of VARIANT STEP REP (and its host pair) invalid: they measured a lost cache.
mark_invalid() {
  jq -c --arg v "$1" --arg s "$2" --argjson r "$3" \
    'if .kind == "time" and .step == $s and .rep == $r and (.variant == $v or .pair == $v) and (.invalid | not)
     then . + {invalid: true} else . end' "$REC" >"$REC.tmp" && mv "$REC.tmp" "$REC"
}

# measure VARIANT STEP REP LOG CMD...: one timed step, recorded with the machine's load around it.
# Host steps set PAIR to the variant measured right after them: the two form one ratio, so that
# the load other work puts on the machine (it comes and goes) weighs on both sides alike.
measure() {
  local variant=$1 step=$2 rep=$3 logf=$4; shift 4
  local waited c0 c1 t0 t1 secs
  waited=$(wait_quiet)
  c0=$(cpu_stat); t0=$(now)
  if ! "$@" >"$logf" 2>&1; then
    tail -40 "$logf" >&2
    die "$variant $step failed; log above ($logf)"
  fi
  t1=$(now); c1=$(cpu_stat)
  secs=$(sub "$t1" "$t0")
  # A step that compiled nothing measured a cache hit, not a build.
  grep -aq 'Compiling ' "$logf" || [ "$step" = download ] || [ "$step" = no-change ] ||
    die "$variant $step compiled nothing: a stale cache answered ($logf)"
  record --arg v "$variant" --arg s "$step" --argjson r "$rep" --argjson sec "$secs" --arg pair "${PAIR:-}" \
    --argjson cargo "$(cargo_seconds "$logf")" --argjson busy "$(busy_between "$c0" "$c1")" \
    --argjson load "$(cut -d' ' -f1 /proc/loadavg)" --argjson waited "$waited" \
    --argjson compiled "$(count_lines 'Compiling ' "$logf")" \
    --argjson downloaded "$(count_lines 'Downloaded ' "$logf")" \
    '{kind: "time", variant: $v, step: $s, rep: $r, pair: $pair, seconds: $sec, cargo_seconds: $cargo,
      machine_busy: $busy, load1: $load, waited_for_quiet: $waited, compiled: $compiled,
      downloaded: $downloaded}'
  log "$(printf '%-14s %-9s #%s %8.2fs (cargo %ss, machine %s busy)' "$variant" "$step" "$rep" "$secs" \
    "$(cargo_seconds "$logf")" "$(busy_between "$c0" "$c1")")"
}

# --- BuildKit cache housekeeping (targeted: never other people's cache) -----------------------
# Build cache records (BuildKit) as one JSON array.
buildkit_records() { curl -sf --unix-socket /var/run/docker.sock http://localhost/system/df | jq -c '.BuildCache // []'; }
# prune_buildkit cold|all: "cold" removes the cargo registry cache mounts (id imggen-cargo-registry
# is shared by every imggen project on the engine; ones in use stay; this run's target mounts are
# new anyway, as the package name is); "all" (at exit) removes every record that names this run's
# package, with the records built on top of them. One prune call with an id regex, so BuildKit
# orders children first.
prune_buildkit() {
  local ids
  for _ in 1 2 3; do
    ids=$(buildkit_records | jq -r --arg p "$PKG" --arg mode "$1" '. as $all
      | def grow(s): ((s + [$all[] | select((.Parent // "") != "") | select(.Parent as $q | s | index($q)) | .ID])
          | unique) as $n | if ($n | length) == (s | length) then s else grow($n) end;
        if $mode == "cold" then
          [$all[] | select(.Type == "exec.cachemount") | select((.InUse | not))
            | select(.Description | startswith("cached mount /usr/local/cargo/registry ")) | .ID]
        else grow([$all[] | select(.Description | contains($p)) | .ID]) end
      | join("|")')
    [ -n "$ids" ] || return 0
    # Fails while another prune runs on the engine: try again.
    "$DOCKER" builder prune -f --filter "id=$ids" >>"$WORK/prune.log" 2>&1 || sleep 2
  done
  log "warning: build cache records of $PKG left after 3 prunes: $ids"
}

# --- docker helpers ---------------------------------------------------------------------------
# Two changes to imggen's default Dockerfile, measured as a proposal for the classic builder:
# 1. the planner deletes the crates that `cargo chef prepare` downloads (cargo metadata needs them)
#    in the same RUN, so its layer does not commit ~50 MB on every source change;
# 2. the runtime stage copies the built tree last, after its metadata instructions, so a rebuild
#    reuses WORKDIR/USER/ENV/EXPOSE/STOPSIGNAL/LABEL/ENTRYPOINT instead of committing an image for each.
propose_dockerfile() {
  awk '/^RUN cargo chef prepare / { print $0 " \\"; print "    && rm -rf \"$CARGO_HOME/registry\""; next }
       /^COPY --from=builder \/rootfs\/ \/$/ { copy = $0; next }
       { print }
       END { if (copy == "") exit 1; print copy }' "$1" >"$1.new" && mv "$1.new" "$1"
}
builder_of() { case $1 in imggen-bk | imggen-mounts | mounts-v0) echo buildkit ;; *) echo classic ;; esac; }
uses_mounts() { case $1 in imggen-mounts | mounts-v0) return 0 ;; *) return 1 ;; esac; }
tag_of() { echo "$PFX-$1"; }
docker_build() { # docker_build VARIANT DIR [docker build flags]
  local variant=$1 dir=$2; shift 2
  if [ "$(builder_of "$variant")" = buildkit ]; then
    (cd "$dir" && DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain -t "$(tag_of "$variant")" "$@" .)
  else
    (cd "$dir" && DOCKER_BUILDKIT=0 "$DOCKER" build --network host --force-rm -t "$(tag_of "$variant")" "$@" .)
  fi
}
# Image IDs a classic build created, so the exit handler can remove them (pre-existing ones are kept).
# The last image of each build stage gets a tag too: untagged, it is "dangling", and a
# `docker image prune` by anyone else on the engine would delete this variant's layer cache.
collect_images() {
  local id k=0
  for id in $(awk '/^Step [0-9]+\/[0-9]+ : FROM / && last != "" { print last } /^ ---> [0-9a-f]{12}$/ { last = $2 }' "$1"); do
    k=$((k + 1))
    "$DOCKER" tag "$id" "$PFX-$2-stage$k" && TAGS+=("$PFX-$2-stage$k")
  done
  for id in $(grep -aoE '^ ---> [0-9a-f]{12}$' "$1" | awk '{ print $2 }'); do
    grep -qx "$id" "$WORK/images-before" || IMAGE_IDS+=("$id")
  done
  for id in $(grep -aoE 'writing image sha256:[0-9a-f]{64}' "$1" | sed 's/.*sha256://'); do
    IMAGE_IDS+=("$id")
  done
}
context_bytes() { # bytes the build sent, from its log
  local line
  line=$(grep -aoE 'Sending build context to Docker daemon +[0-9.]+[kMG]?B' "$1" | tail -1 | awk '{ print $NF }')
  if [ -z "$line" ]; then
    line=$(awk '/\[internal\] load build context/ { v = $1 } v != "" && $1 == v && /transferring context:/ { s = $4 } END { print s }' "$1")
  fi
  to_bytes "${line:-0B}"
}
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
# stop_test VARIANT IMAGE HEALTH: time to healthy and `docker stop` time, REPEAT times.
stop_test() {
  local variant=$1 image=$2 health=$3 rep port name t0 t1 t2 code ok
  for rep in $(seq 1 "$REPEAT"); do
    port=$(free_port)
    name=$PFX-run-$variant-$rep
    CONTAINERS+=("$name")
    t0=$(now)
    "$DOCKER" run -d --name "$name" --network host -e "PORT=$port" "$image" >/dev/null 2>>"$WORK/docker-run.log"
    ok=0
    for _ in $(seq 1 600); do
      if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port$health"; then ok=1; break; fi
      sleep 0.05
    done
    [ "$ok" = 1 ] || { "$DOCKER" logs "$name" >&2; die "$variant never answered $health on port $port"; }
    t1=$(now)
    "$DOCKER" stop -t 10 "$name" >/dev/null
    t2=$(now)
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$name")
    "$DOCKER" rm "$name" >/dev/null
    record --arg v "$variant" --argjson r "$rep" --argjson ready "$(sub "$t1" "$t0")" \
      --argjson stop "$(sub "$t2" "$t1")" --argjson code "$code" \
      '{kind: "stop", variant: $v, rep: $r, ready_seconds: $ready, stop_seconds: $stop, exit_code: $code}'
    log "$(printf '%-14s stop      #%s %8.3fs (exit %s)' "$variant" "$rep" "$(sub "$t2" "$t1")" "$code")"
  done
}
# size_test VARIANT IMAGE BINARY BASE: image bytes over its base, the binary's bytes, and the CA bundle.
size_test() {
  local variant=$1 image=$2 binpath=$3 base=$4 img base_size bin name certs=0 tls=false
  img=$("$DOCKER" image inspect -f '{{.Size}}' "$image")
  if [ "$base" = scratch ]; then base_size=0; else base_size=$("$DOCKER" image inspect -f '{{.Size}}' "$base"); fi
  name=$PFX-size-$variant
  CONTAINERS+=("$name")
  "$DOCKER" create --name "$name" "$image" >/dev/null 2>>"$WORK/docker-run.log"
  bin=$("$DOCKER" cp "$name:$binpath" - | tar -xO | wc -c)
  if "$DOCKER" cp "$name:/etc/ssl/certs/ca-certificates.crt" - 2>/dev/null | tar -xO >"$WORK/ca-$variant.crt" 2>/dev/null &&
    [ -s "$WORK/ca-$variant.crt" ]; then
    certs=$(grep -c 'BEGIN CERTIFICATE' "$WORK/ca-$variant.crt" || true)
    # The image's own bundle must verify a real HTTPS server from here (through this machine's
    # proxy, whose CA the stand-in builder trusts, as a corporate user's would).
    curl -sS --max-time 20 --cacert "$WORK/ca-$variant.crt" -o /dev/null https://index.crates.io/config.json 2>/dev/null && tls=true
  fi
  "$DOCKER" rm "$name" >/dev/null
  record --arg v "$variant" --arg base "$base" --argjson img "$img" --argjson bs "$base_size" \
    --argjson bin "$bin" --argjson certs "$certs" --argjson tls "$tls" \
    '{kind: "size", variant: $v, base: $base, image_bytes: $img, base_bytes: $bs, binary_bytes: $bin,
      over_base: ($img - $bs), overhead_over_binary: ($img - $bs - $bin), ca_certs: $certs, tls_verified: $tls}'
  log "$(printf '%-14s size      image-base %s B, binary %s B, CA certs %s, TLS %s' "$variant" "$((img - base_size))" "$bin" "$certs" "$tls")"
}

# --- set-up -----------------------------------------------------------------------------------
log "work directory $WORK; variants: $VARIANTS"
log "building imggen (release)"
(cd "$ROOT" && cargo build --release --quiet --bin imggen)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline | jq -r .target_directory)
IMGGEN=$TARGET_DIR/release/imggen

# rename_pkg DIR OLD NEW: the package's new name in Cargo.toml and Cargo.lock, which cargo then
# rewrites in its own order (workspace entries only, offline: no dependency changes).
relock() { (cd "$1" && { cargo update --workspace --offline --quiet 2>/dev/null || cargo update --workspace --quiet; }); }
rename_pkg() {
  sed -i "s/^name = \"$2\"/name = \"$3\"/" "$1/Cargo.toml" "$1/Cargo.lock"
  if ! grep -q "^name = \"$3\"" "$1/Cargo.lock" || ! relock "$1"; then die "cannot rename $2 to $3 in $1"; fi
}
# add_dep DIR: the dependency-change step's edit, Cargo.toml and Cargo.lock (not timed).
add_dep() {
  awk -v dep="$NEW_DEP" '{ print } /^\[dependencies\]/ { print dep }' "$1/Cargo.toml" >"$1/Cargo.toml.new"
  mv "$1/Cargo.toml.new" "$1/Cargo.toml"
  relock "$1" || die "cannot lock $NEW_DEP in $1"
}
# Every copy answers /health with its own text too.
one_line() { sed -i -E "s/async \{ \"ok[^\"]*\" \}/async { \"ok-$2\" }/" "$1/src/main.rs"; grep -q "\"ok-$2\"" "$1/src/main.rs"; }

BASE=$WORK/base
cp -r "$FIXTURE" "$BASE"
rename_pkg "$BASE" hello-axum "$PKG"
# The floor never downloads: fetch the project's crates and the new dependency's into ~/.cargo.
(cd "$BASE" && cargo fetch --locked --quiet)
DEP=$WORK/dep
cp -r "$BASE" "$DEP"
add_dep "$DEP"
(cd "$DEP" && cargo fetch --locked --quiet) || die "cannot fetch $NEW_DEP"
NEW_CRATES=$(($(grep -c '^\[\[package\]\]' "$DEP/Cargo.lock") - $(grep -c '^\[\[package\]\]' "$BASE/Cargo.lock")))

HOST_TRIPLE=$(rustc -vV | awk '/^host:/ { print $2 }')
HOST=$WORK/host
cp -r "$BASE" "$HOST"
rename_pkg "$HOST" "$PKG" "$(pkg_of host)"
one_line "$HOST" host

# imggen's .dockerignore, for the developer-checkout context figure.
mkdir -p "$WORK/ign" && cp -r "$BASE/." "$WORK/ign/" && "$IMGGEN" generate "$WORK/ign" >/dev/null 2>&1
cp "$WORK/ign/.dockerignore" "$WORK/imggen.dockerignore"
for v in $VARIANTS; do
  d=$WORK/v-$v
  cp -r "$BASE" "$d"
  rename_pkg "$d" "$PKG" "$(pkg_of "$v")"
  one_line "$d" "$v"
  case $v in
    imggen | imggen-bk) "$IMGGEN" generate "$d" >/dev/null 2>&1 ;;
    imggen-mounts)
      printf 'version = 1\ncache_mounts = true\n' >"$d/imggen.toml"
      "$IMGGEN" generate "$d" >/dev/null 2>&1 ;;
    imggen-proposed)
      "$IMGGEN" generate "$d" >/dev/null 2>&1
      propose_dockerfile "$d/Dockerfile" ;;
    naive | chef | mounts-v0) ;;
    *) die "unknown variant $v" ;;
  esac
done
# The builder image imggen chose; the hand-written variants use the same one.
BUILDER_IMAGE=$(cd "$WORK" && "$IMGGEN" plan --format json "$BASE" | jq -r .plan.builder_image)
RUNTIME_BASE=debian:bookworm-slim
for v in $VARIANTS; do
  d=$WORK/v-$v
  p=$(pkg_of "$v")
  case $v in
    naive)
      cat >"$d/Dockerfile" <<EOF
# Naive contrast: the whole project, one cargo build, no .dockerignore.
FROM $BUILDER_IMAGE AS builder
WORKDIR /app
COPY . .
RUN cargo build --release --locked

FROM $RUNTIME_BASE
COPY --from=builder /app/target/release/$p /usr/local/bin/$p
ENTRYPOINT ["/usr/local/bin/$p"]
EOF
      ;;
    chef)
      # The canonical cargo-chef pattern (planner, cook, build), written from its well-known shape.
      cat >"$d/Dockerfile" <<EOF
FROM $BUILDER_IMAGE AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --bin $p

FROM $RUNTIME_BASE AS runtime
WORKDIR /app
COPY --from=builder /app/target/release/$p /usr/local/bin
ENTRYPOINT ["/usr/local/bin/$p"]
EOF
      printf 'target\n.git\n' >"$d/.dockerignore"
      ;;
    mounts-v0)
      sed "s/@PKG@/$p/g" "$ROOT/bench/baselines/cache-mounts-v0.Dockerfile" >"$d/Dockerfile"
      cp "$WORK/imggen.dockerignore" "$d/.dockerignore"
      ;;
  esac
done
if ! skipped musl; then
  MUSL=$WORK/musl
  cp -r "$MUSL_FIXTURE" "$MUSL"
  MUSL_PKG=musl-bench-$RUN_ID
  rename_pkg "$MUSL" tiny-static "$MUSL_PKG"
  "$IMGGEN" generate "$MUSL" >/dev/null 2>&1
fi

log "seeding base images ($DOCKER_UP)"
seed_args=()
for f in "$WORK"/v-*/Dockerfile ${MUSL:+"$MUSL/Dockerfile"}; do seed_args+=(--seed-from "$f"); done
bash "$DOCKER_UP" --no-registry "${seed_args[@]}" >"$WORK/docker-up.log" 2>&1 ||
  { cat "$WORK/docker-up.log" >&2; die "docker-up failed"; }
"$DOCKER" images -aq --no-trunc | sed 's/^sha256://' | cut -c1-12 | sort -u >"$WORK/images-before"

record --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg rev "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg rustc "$(rustc -V)" --arg builder_rustc "$("$DOCKER" run --rm --network host "$BUILDER_IMAGE" rustc -V 2>/dev/null || echo unknown)" \
  --arg docker "$("$DOCKER" version --format '{{.Server.Version}}')" --argjson cpus "$(nproc)" \
  --arg mem "$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)" \
  --arg variants "$VARIANTS" --argjson repeat "$REPEAT" --arg dep "$NEW_DEP" --argjson new_crates "$NEW_CRATES" \
  --arg builder "$BUILDER_IMAGE" --arg pkg "$PKG" \
  '{kind: "meta", date: $date, git_rev: $rev, host_rustc: $rustc, builder_rustc: $builder_rustc,
    docker: $docker, cpus: $cpus, memory: $mem, variants: ($variants | split(" ")), repeat: $repeat,
    new_dependency: $dep, new_crates_in_lock: $new_crates, builder_image: $builder, package: $pkg}'

host_cargo() { (cd "$HOST" && env -u RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_INCREMENTAL \
  CARGO_TARGET_DIR="$HOST/target" cargo build --release --locked); }

# --- analysis speed (first: it is quick and wants a quiet machine) -----------------------------
if ! skipped analyze; then
  log "analysis speed: cargo bench --bench analyze"
  (cd "$ROOT" && BENCH_ANALYZE_JSON=$WORK/analyze.json cargo bench --quiet --bench analyze) >"$WORK/analyze.log" 2>&1 ||
    { cat "$WORK/analyze.log" >&2; die "analyze bench failed"; }
  sed -n '/^synthetic/,/goal/p' "$WORK/analyze.log" >&2
  jq -c '{kind: "analyze"} + .' "$WORK/analyze.json" >>"$REC"
fi

# --- cold -------------------------------------------------------------------------------------
log "cold builds (each variant right after a host build of its own)"
EMPTY_HOME=$WORK/cargo-home-empty
mkdir -p "$EMPTY_HOME"
PAIR="" measure host download 1 "$WORK/host-download.log" \
  env CARGO_HOME="$EMPTY_HOME" sh -c "cd '$HOST' && cargo fetch --locked --target '$HOST_TRIPLE' -v"
rm -rf "$EMPTY_HOME"
for v in $VARIANTS; do
  rm -rf "$HOST/target"
  PAIR=$v measure host cold 1 "$WORK/host-cold-$v.log" host_cargo
  if uses_mounts "$v"; then prune_buildkit cold; fi
  measure "$v" cold 1 "$WORK/$v-cold.log" docker_build "$v" "$WORK/v-$v"
  collect_images "$WORK/$v-cold.log" "$v"
  TAGS+=("$(tag_of "$v")")
  record --arg v "$v" --argjson b "$(context_bytes "$WORK/$v-cold.log")" '{kind: "context", variant: $v, where: "fixture", bytes: $b}'
  # Nothing changed: the builder's fixed cost of a fully cached build.
  measure "$v" no-change 1 "$WORK/$v-no-change.log" docker_build "$v" "$WORK/v-$v"
done

# --- one-line change --------------------------------------------------------------------------
log "one-line change in src/main.rs ($REPEAT rounds)"
edits=0
for rep in $(seq 1 "$REPEAT"); do
  for v in $VARIANTS; do
    # The naive Dockerfile rebuilds everything on any change: once is enough.
    if [ "$v" = naive ] && [ "$rep" -gt 1 ]; then continue; fi
    for try in 1 2; do
      edits=$((edits + 1))
      one_line "$HOST" "host-$edits"
      PAIR=$v measure host one-line "$rep" "$WORK/host-one-line-$rep-$v.log" host_cargo
      one_line "$WORK/v-$v" "$v-$rep-$try"
      measure "$v" one-line "$rep" "$WORK/$v-one-line-$rep.log" docker_build "$v" "$WORK/v-$v"
      collect_images "$WORK/$v-one-line-$rep.log" "$v"
      # Only the app crate should compile. More means this variant's dependency cache was lost
      # (pruned by other work on a shared engine): drop the pair and measure again, once.
      [ "$v" = naive ] || [ "$(count_lines 'Compiling ' "$WORK/$v-one-line-$rep.log")" -le 1 ] && break
      log "warning: $v one-line #$rep recompiled dependencies (cache lost?); measuring again"
      mark_invalid "$v" one-line "$rep"
    done
  done
done

# --- dependency change ------------------------------------------------------------------------
log "dependency change: $NEW_DEP"
# Every host measurement starts from the same state (one-line edits built, dependency absent).
cp -a "$HOST" "$WORK/host-before-dep"
for v in $VARIANTS; do
  rm -rf "$HOST" && cp -a "$WORK/host-before-dep" "$HOST"
  add_dep "$HOST"
  PAIR=$v measure host dep 1 "$WORK/host-dep-$v.log" host_cargo
  add_dep "$WORK/v-$v"
  measure "$v" dep 1 "$WORK/$v-dep.log" docker_build "$v" "$WORK/v-$v"
  collect_images "$WORK/$v-dep.log" "$v"
done
rm -rf "$WORK/host-before-dep"

# --- build context of a developer's checkout (target/ present) --------------------------------
if ! skipped devctx; then
  printf 'FROM scratch\n' >"$WORK/scratch.Dockerfile"
  for ign in imggen none; do
    rm -f "$HOST/.dockerignore"
    [ "$ign" = none ] || cp "$WORK/imggen.dockerignore" "$HOST/.dockerignore"
    # "FROM scratch" alone makes no image: the client sends the context, the daemon stops.
    (cd "$HOST" && DOCKER_BUILDKIT=0 "$DOCKER" build --network host -f "$WORK/scratch.Dockerfile" . >"$WORK/devctx-$ign.log" 2>&1) || true
    record --arg i "$ign" --argjson b "$(context_bytes "$WORK/devctx-$ign.log")" \
      --argjson t "$(du -sb "$HOST/target" | cut -f1)" \
      '{kind: "context", variant: ("dev checkout, .dockerignore: " + $i), where: "dev", bytes: $b, target_bytes: $t}'
  done
  rm -f "$HOST/.dockerignore"
fi

# --- stop time and size -----------------------------------------------------------------------
log "stop time and image size"
for v in $VARIANTS; do
  stop_test "$v" "$(tag_of "$v")" /health
  size_test "$v" "$(tag_of "$v")" "/usr/local/bin/$(pkg_of "$v")" "$RUNTIME_BASE"
done
if ! skipped musl; then
  log "musl/scratch variant (tests/fixtures/musl-static)"
  measure musl cold 1 "$WORK/musl-cold.log" docker_build musl "$MUSL"
  collect_images "$WORK/musl-cold.log" musl
  TAGS+=("$(tag_of musl)")
  stop_test musl "$(tag_of musl)" /healthz
  size_test musl "$(tag_of musl)" "/usr/local/bin/$MUSL_PKG" scratch
fi

# --- report -----------------------------------------------------------------------------------
record --argjson s "$(sub "$(now)" "$START")" '{kind: "total", seconds: $s}'
jq -s -f "$ROOT/bench/summary.jq" "$REC" >"$OUT.json"
jq -r -f "$ROOT/bench/report.jq" "$OUT.json" >"$OUT.md"
cat "$OUT.md"
log "wrote $OUT.json and $OUT.md in $(sub "$(now)" "$START") s"
