#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq and awk programs are single-quoted
# imggen benchmark: image builds against the host's own `cargo build --release` of the same step,
# on a single crate and on a 12-crate workspace, plus a fresh engine with a registry cache.
# `just bench` runs this; bench/README.md says what each number means.
#
#   bash bench/run.sh        # 3 rounds of everything (over an hour on 2 busy cores)
#
# Environment (all optional):
#   BENCH_PROJECTS   default "single ws": tests/fixtures/axum-single, bench/fixtures/axum-ws
#   BENCH_VARIANTS   default "default classic chef floor" (all built with BuildKit)
#                    default  imggen's default Dockerfile (`imggen generate`): planner, cook and
#                             build on cache mounts, the cooked target/ kept in the cook layer for a
#                             registry cache, only changed sources touched (`hybrid` is its old name)
#                    classic  imggen with `cache_mounts = false`: layers only (the default before)
#                    chef     cargo-chef's README recipe, bench/baselines/cargo-chef-readme.Dockerfile
#                    floor    the least a BuildKit build of the binary does (one cargo build in
#                             cache mounts, the binary copied onto the runtime), bench/baselines/floor.Dockerfile:
#                             the engine's own cost per build, not a Dockerfile to ship
#   BENCH_REGISTRY_VARIANTS  variants of the fresh-engine registry-cache step, default "default classic"
#   BENCH_REPEAT     rounds, default 3 (each round: every project, variant and step)
#   BENCH_EDITS      one-line edits per round, default 3 (each a host/docker pair of its own)
#   BENCH_REGISTRY   registry for the cache step, default 127.0.0.1:5000 (no auth)
#   BENCH_NEW_DEP    the dependency line the dependency step adds, default 'hex = "0.4"'
#   BENCH_OUT        output prefix, default bench/results (.ndjson records, .json, .md)
#   BENCH_KEEP=1     keep the work directory (every build log)
#   DOCKER, DOCKER_UP
#
# Cold on both sides, downloads included: the host builds with an empty CARGO_HOME and an empty
# target/, the docker build with nothing of this project in the engine. Every step's package has
# a name of its own (run, round, project, variant), the engine's build cache of the run is pruned
# and its images removed before each cold build, and a guard fails the run unless the docker
# build downloaded and compiled at least as many crates as its host pair.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DOCKER=${DOCKER:-/usr/bin/docker}
DOCKER_UP=${DOCKER_UP:-$ROOT/../shared/scripts/docker-up.sh}
PROJECTS=${BENCH_PROJECTS:-single ws}
VARIANTS=${BENCH_VARIANTS:-default classic chef floor}
REG_VARIANTS=${BENCH_REGISTRY_VARIANTS:-default classic}
REPEAT=${BENCH_REPEAT:-3}
EDITS=${BENCH_EDITS:-3}
REGISTRY=${BENCH_REGISTRY:-127.0.0.1:5000}
NEW_DEP=${BENCH_NEW_DEP:-hex = \"0.4\"}
OUT=${BENCH_OUT:-$ROOT/bench/results}
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
PFX=imggen-bench-$RUN_ID
START=$(date +%s.%N)

for tool in jq curl cargo awk sha256sum; do command -v "$tool" >/dev/null || die "$tool is required"; done
[ -x "$DOCKER" ] || die "$DOCKER not found"

WORK=$(mktemp -d /tmp/imggen-bench.XXXXXX)
REC=$OUT.ndjson
: >"$REC"
CONTAINERS=()

cleanup() {
  local rc=$?
  set +e
  for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1; done
  clean_engine
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_stat() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6; exit }' /proc/stat; }
busy_between() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); dt = y[1] - x[1];
    printf "%.2f", (dt > 0 ? 1 - (y[2] - x[2]) / dt : 0) }'
}
# Sum of cargo's own "Finished ... in Xs" times in a log.
cargo_seconds() {
  plain_log "$1" | grep -aoE 'Finished `[a-z]+` profile .* in ([0-9]+m )?[0-9.]+s' | sed -E 's/.* in //' |
    awk '{ s = 0; if ($0 ~ /m /) { split($0, p, "m "); s = p[1] * 60; $0 = p[2] } sub(/s$/, ""); t += s + $0 } END { printf "%.2f", t + 0 }'
}
downloaded() { count_lines 'Downloaded [A-Za-z0-9_-]+ v[0-9]' "$1"; }
# invalid VARIANT PROJECT STEP REP WHY: the step's docker measurement (edit $EDIT when set) failed
# its guard; the summary drops it.
invalid() {
  record --arg v "$1" --arg p "$2" --arg s "$3" --argjson r "$4" --arg why "$5" --argjson edit "${EDIT:-null}" \
    '{kind: "invalid", variant: $v, project: $p, step: $s, rep: $r, edit: $edit, why: $why}'
}

# measure VARIANT PROJECT STEP REP LOG CMD...: times CMD (output to LOG) and records it (with
# $EDIT, the one-line edit's number in its round, when set). The writes of the steps before are
# flushed first, untimed: a step does not pay for the write-back of its predecessor's gigabytes.
measure() {
  local variant=$1 project=$2 step=$3 rep=$4 logf=$5 t0 t1 c0 c1 secs
  shift 5
  sync
  c0=$(cpu_stat); t0=$(now)
  if ! "$@" >"$logf" 2>&1; then tail -40 "$logf" >&2; die "$variant $project $step #$rep failed (log $logf)"; fi
  t1=$(now); c1=$(cpu_stat)
  secs=$(sub "$t1" "$t0")
  record --arg v "$variant" --arg p "$project" --arg s "$step" --argjson r "$rep" --arg pair "${PAIR:-}" --argjson edit "${EDIT:-null}" \
    --argjson sec "$secs" --argjson cargo "$(cargo_seconds "$logf")" --argjson busy "$(busy_between "$c0" "$c1")" \
    --argjson load "$(cut -d' ' -f1 /proc/loadavg)" --argjson compiled "$(compiled "$logf")" \
    --argjson downloaded "$(downloaded "$logf")" \
    '{kind: "time", variant: $v, project: $p, step: $s, rep: $r, edit: $edit, pair: $pair, seconds: $sec, cargo_seconds: $cargo,
      machine_busy: $busy, load1: $load, compiled: $compiled, downloaded: $downloaded}'
  log "$(printf '%-8s %-6s %-9s #%s %8.2fs (compiled %s, downloaded %s, machine %s busy)' "$variant" "$project" "$step" \
    "$rep" "$secs" "$(compiled "$logf")" "$(downloaded "$logf")" "$(busy_between "$c0" "$c1")")"
}

# --- engine housekeeping ------------------------------------------------------------------------
# Removes this run's containers' images (tags starting with $PFX, and the cache references) and
# the BuildKit cache records that name this run's packages, with the records built on them.
# Images and cache of other work on the shared engine are left alone (fresh_engine is the
# exception the registry step needs).
run_images() { "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -E "(^|/)$PFX" || true; }
clean_engine() {
  local img ids
  for img in $(run_images); do "$DOCKER" rmi -f "$img" >/dev/null 2>&1 || true; done
  for _ in 1 2 3; do
    ids=$(curl -sf --unix-socket /var/run/docker.sock http://localhost/system/df | jq -r --arg p "$RUN_ID" '
      (.BuildCache // []) as $all
      | def grow(s): ((s + [$all[] | select((.Parent // "") != "") | select(.Parent as $q | s | index($q)) | .ID])
          | unique) as $n | if ($n | length) == (s | length) then s else grow($n) end;
      grow([$all[] | select(.Description | contains($p)) | .ID]) | join("|")') || return 0
    [ -n "$ids" ] || return 0
    "$DOCKER" builder prune -f --filter "id=$ids" >>"$WORK/prune.log" 2>&1 || sleep 2
  done
}
# The fresh engine of a CI runner: no image of this run and no build cache at all. Base images
# stay (nothing can be pulled on this machine; a runner pulls them too).
fresh_engine() {
  clean_engine
  "$DOCKER" builder prune -af >>"$WORK/prune.log" 2>&1 || { sleep 3; "$DOCKER" builder prune -af >>"$WORK/prune.log" 2>&1; }
}

# --- projects -------------------------------------------------------------------------------------
fixture_of() { case $1 in single) echo "$ROOT/tests/fixtures/axum-single" ;; ws) echo "$ROOT/bench/fixtures/axum-ws" ;; esac; }
bin_of() { case $1 in single) echo hello-axum ;; ws) echo ws-app ;; esac; }
# The manifest of the binary's package, the file of the one-line edit, the manifest the dependency goes to.
bin_manifest() { case $1 in single) echo Cargo.toml ;; ws) echo crates/app/Cargo.toml ;; esac; }
edit_file() { case $1 in single) echo src/main.rs ;; ws) echo crates/notify/src/lib.rs ;; esac; }
dep_manifest() { case $1 in single) echo Cargo.toml ;; ws) echo crates/notify/Cargo.toml ;; esac; }
locals_of() { case $1 in single) echo 1 ;; ws) echo 12 ;; esac; }

relock() { (cd "$1" && { cargo update --workspace --offline --quiet 2>/dev/null || cargo update --workspace --quiet; }); }
# rename_bin DIR PROJECT NEW: the binary's package gets a name of its own (no cache can match another's).
rename_bin() {
  local old
  old=$(bin_of "$2")
  sed -i "s/^name = \"$old\"/name = \"$3\"/" "$1/$(bin_manifest "$2")" "$1/Cargo.lock"
  if ! grep -q "^name = \"$3\"" "$1/Cargo.lock" || ! relock "$1"; then die "cannot rename $old to $3 in $1"; fi
}
add_dep() {
  local m
  m=$1/$(dep_manifest "$2")
  awk -v dep="$NEW_DEP" '{ print } /^\[dependencies\]/ { print dep }' "$m" >"$m.new" && mv "$m.new" "$m"
  relock "$1" || die "cannot lock $NEW_DEP in $1"
}
# one_line DIR PROJECT TEXT: the health route's text changes (a string literal in one file).
one_line() {
  local f
  f=$1/$(edit_file "$2")
  sed -i -E "0,/\"ok(-[^\"]*)?\"/s//\"ok-$3\"/" "$f"
  grep -q "\"ok-$3\"" "$f" || die "one-line edit failed in $f"
}

# --- variants -------------------------------------------------------------------------------------
BUILDER_IMAGE=""
baseline_of() { case $1 in chef) echo cargo-chef-readme.Dockerfile ;; floor) echo floor.Dockerfile ;; esac; }
# make_variant DIR PROJECT VARIANT PKG: the variant's Dockerfile and .dockerignore in DIR.
make_variant() {
  local d=$1 p=$2 v=$3 pkg=$4
  case $v in
    default | hybrid) "$IMGGEN" generate "$d" >/dev/null ;;
    classic) printf 'version = 1\ncache_mounts = false\n' >"$d/imggen.toml"; "$IMGGEN" generate "$d" >/dev/null ;;
    chef | floor)
      sed -e "s/@PKG@/$pkg/g" -e "s|@BUILDER@|$BUILDER_IMAGE|g" "$ROOT/bench/baselines/$(baseline_of "$v")" >"$d/Dockerfile"
      printf 'target\n.git\n' >"$d/.dockerignore" ;;
    *) die "unknown variant $v" ;;
  esac
  # Cargo's home cache mount gets this package's id: no other variant or run shares it.
  sed -i "s/id=imggen-cargo-home,/id=imggen-cargo-home-$pkg,/g" "$d/Dockerfile"
}
docker_build() { # DIR TAG [flags]
  local dir=$1 tag=$2; shift 2
  (cd "$dir" && DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain -t "$tag" "$@" .)
}
host_build() { # DIR CARGO_HOME
  (cd "$1" && env -u RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_INCREMENTAL CARGO_HOME="$2" \
    RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_TARGET_DIR="$1/target" nice -n 0 cargo build --release --locked)
}
# The BuildKit step that runs `cargo chef cook` was CACHED (its "#N" id, then "#N CACHED").
cook_cached() {
  plain_log "$1" | awk '/^#[0-9]+ \[.*RUN .*cargo chef cook/ { id = $1 } id != "" && $1 == id && $2 == "CACHED" { found = 1 } END { exit !found }'
}

free_port() {
  local p
  while :; do p=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done
}
stop_test() { # VARIANT PROJECT IMAGE
  local v=$1 p=$2 image=$3 rep port name t0 t1 t2 code ok
  for rep in 1 2 3; do
    port=$(free_port); name=$PFX-run-$p-$v-$rep; CONTAINERS+=("$name")
    t0=$(now)
    "$DOCKER" run -d --name "$name" --network host -e "PORT=$port" "$image" >/dev/null
    ok=0
    for _ in $(seq 1 600); do curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" && { ok=1; break; }; sleep 0.05; done
    [ "$ok" = 1 ] || { "$DOCKER" logs "$name" >&2; die "$v $p never answered /health on port $port"; }
    t1=$(now); "$DOCKER" stop -t 10 "$name" >/dev/null; t2=$(now)
    code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$name"); "$DOCKER" rm "$name" >/dev/null
    record --arg v "$v" --arg p "$p" --argjson r "$rep" --argjson ready "$(sub "$t1" "$t0")" --argjson stop "$(sub "$t2" "$t1")" \
      --argjson code "$code" '{kind: "stop", variant: $v, project: $p, rep: $r, ready_seconds: $ready, stop_seconds: $stop, exit_code: $code}'
  done
}
size_test() { # VARIANT PROJECT IMAGE BINARY
  local v=$1 p=$2 image=$3 bin=$4 img base name b
  img=$("$DOCKER" image inspect -f '{{.Size}}' "$image")
  base=$("$DOCKER" image inspect -f '{{.Size}}' debian:bookworm-slim)
  name=$PFX-size-$p-$v; CONTAINERS+=("$name")
  "$DOCKER" create --name "$name" "$image" >/dev/null
  b=$("$DOCKER" cp "$name:/usr/local/bin/$bin" - | tar -xO | wc -c)
  "$DOCKER" rm "$name" >/dev/null
  record --arg v "$v" --arg p "$p" --argjson img "$img" --argjson bs "$base" --argjson bin "$b" \
    '{kind: "size", variant: $v, project: $p, image_bytes: $img, base_bytes: $bs, binary_bytes: $bin, overhead_over_binary: ($img - $bs - $bin)}'
}

# --- set-up ---------------------------------------------------------------------------------------
log "work directory $WORK; projects: $PROJECTS; variants: $VARIANTS; registry step: $REG_VARIANTS; rounds: $REPEAT"
(cd "$ROOT" && cargo build --release --quiet --bin imggen)
IMGGEN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline | jq -r .target_directory)/release/imggen
for p in $PROJECTS; do
  mkdir -p "$WORK/base-$p"
  cp -r "$(fixture_of "$p")/." "$WORK/base-$p/"
  rm -rf "$WORK/base-$p/target"
done
BUILDER_IMAGE=$(cd "$WORK" && "$IMGGEN" plan --format json "$WORK/base-single" 2>/dev/null | jq -r .plan.builder_image) ||
  BUILDER_IMAGE=$(cd "$WORK" && "$IMGGEN" plan --format json "$WORK/base-$p" | jq -r .plan.builder_image)
# Seed the base images every variant uses (idempotent; nothing can be pulled on this machine).
mkdir -p "$WORK/seed"
for p in $PROJECTS; do for v in $VARIANTS; do
  d=$WORK/seed/$p-$v; cp -r "$WORK/base-$p" "$d"; make_variant "$d" "$p" "$v" "$(bin_of "$p")"
done; done
seed_args=(); for f in "$WORK"/seed/*/Dockerfile; do seed_args+=(--seed-from "$f"); done
bash "$DOCKER_UP" "${seed_args[@]}" >"$WORK/docker-up.log" 2>&1 || { tail "$WORK/docker-up.log" >&2; die "docker-up failed"; }
curl -sf "http://$REGISTRY/v2/" >/dev/null || die "registry $REGISTRY does not answer"

SCRIPT_REV=$(git -C "$ROOT" log -1 --format=%h -- bench/run.sh 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- bench/run.sh bench/fixtures bench/baselines templates src 2>/dev/null | wc -l)
record --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg rev "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --arg script_rev "$SCRIPT_REV" --argjson dirty "$DIRTY" --arg rustc "$(rustc -V)" \
  --arg docker "$("$DOCKER" version --format '{{.Server.Version}}')" --argjson cpus "$(nproc)" \
  --arg projects "$PROJECTS" --arg variants "$VARIANTS" --arg regv "$REG_VARIANTS" --argjson repeat "$REPEAT" \
  --arg dep "$NEW_DEP" --arg builder "$BUILDER_IMAGE" --arg run "$RUN_ID" \
  '{kind: "meta", date: $date, git_rev: $rev, script_rev: $script_rev, uncommitted_files: $dirty, host_rustc: $rustc,
    docker: $docker, cpus: $cpus, projects: ($projects | split(" ")), variants: ($variants | split(" ")),
    registry_variants: ($regv | split(" ")), repeat: $repeat, new_dependency: $dep, builder_image: $builder, run: $run}'

# registry_step ID PROJECT VARIANT REP DIR HOSTDIR CARGO_HOME TAG LOGDIR: a fresh engine with a
# registry cache after a one-line edit (run in a subshell: a failure skips the step, not the run).
registry_step() {
  local id=$1 p=$2 v=$3 rep=$4 D=$5 H=$6 CH=$7 tag=$8 L=$9 ref prev cached prev_bytes=0 t
  local prev_args=() refs=()
  ref=$REGISTRY/$PFX/$id:buildcache
  prev=$ref-target
  # What `imggen build --cache-to REF` pushes: the builder stage with its inline cache, and with
  # the default Dockerfile the previous build's target/ (stage target-cache) as REF-target,
  # which `--cache-from REF` then passes as IMGGEN_PREVIOUS.
  docker_build "$D" "$ref" --target builder --build-arg BUILDKIT_INLINE_CACHE=1 >"$L/cache-build.log" 2>&1 ||
    { tail -20 "$L/cache-build.log" >&2; die "$id cache image build failed"; }
  "$DOCKER" push "$ref" >"$L/cache-push.log" 2>&1 || { tail "$L/cache-push.log" >&2; die "$id cache push failed"; }
  refs=("$ref")
  if grep -q ' AS target-cache$' "$D/Dockerfile"; then
    docker_build "$D" "$prev" --target target-cache >"$L/previous-build.log" 2>&1 ||
      { tail -20 "$L/previous-build.log" >&2; die "$id previous-build image build failed"; }
    "$DOCKER" push "$prev" >>"$L/cache-push.log" 2>&1 || { tail "$L/cache-push.log" >&2; die "$id previous-build push failed"; }
    prev_bytes=$("$DOCKER" image inspect -f '{{.Size}}' "$prev")
    prev_args=(--build-arg "IMGGEN_PREVIOUS=$prev"); refs+=("$prev")
  fi
  one_line "$H" "$p" "host-reg-$rep"; one_line "$D" "$p" "$v-reg-$rep"
  fresh_engine
  measure "$v" "$p" cache-pull "$rep" "$L/cache-pull.log" pull_all "${refs[@]}"
  fresh_engine
  PAIR=$v measure host "$p" registry "$rep" "$L/host-registry.log" host_build "$H" "$CH"
  measure "$v" "$p" registry "$rep" "$L/registry.log" docker_build "$D" "$tag" --cache-from "$ref" "${prev_args[@]}"
  cached=false; cook_cached "$L/registry.log" && cached=true
  record --arg v "$v" --arg p "$p" --argjson r "$rep" --argjson c "$cached" --argjson n "$(compiled "$L/registry.log")" \
    --argjson pb "$prev_bytes" \
    '{kind: "registry", variant: $v, project: $p, rep: $r, cook_cached: $c, compiled: $n, previous_bytes: $pb}'
  [ "$cached" = true ] || log "warning: $id: the dependency step was not taken from the registry cache"
  for t in buildcache buildcache-target; do
    curl -sf -X DELETE "http://$REGISTRY/v2/$PFX/$id/manifests/$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REGISTRY/v2/$PFX/$id/manifests/$t" | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }' | tr -d '\r')" >/dev/null 2>&1 || true
  done
}
# pull_all REF...: what a fresh runner pulls of the registry cache.
pull_all() { local r; for r in "$@"; do "$DOCKER" pull "$r" || return 1; done; }

# --- the rounds -----------------------------------------------------------------------------------
for rep in $(seq 1 "$REPEAT"); do
  for p in $PROJECTS; do
    for v in $VARIANTS; do
      id=$p-$v-r$rep
      pkg=bench-$RUN_ID-$id
      tag=$PFX-$id
      D=$WORK/$id; H=$WORK/host-$id; CH=$WORK/cargo-home-$id
      cp -r "$WORK/base-$p" "$D"; rename_bin "$D" "$p" "$pkg"; make_variant "$D" "$p" "$v" "$pkg"
      cp -r "$WORK/base-$p" "$H"; mkdir -p "$CH"
      L=$WORK/logs-$id; mkdir -p "$L"

      # cold: nothing of this run in the engine, an empty CARGO_HOME and target/ on the host
      clean_engine
      PAIR=$v measure host "$p" cold "$rep" "$L/host-cold.log" host_build "$H" "$CH"
      measure "$v" "$p" cold "$rep" "$L/cold.log" docker_build "$D" "$tag"
      hd=$(downloaded "$L/host-cold.log"); hc=$(compiled "$L/host-cold.log")
      dd=$(downloaded "$L/cold.log"); dc=$(compiled "$L/cold.log")
      # default downloads in its planner (`cargo chef prepare`, silent) into a registry cache mount
      # that is new (its id names this package): its cook has nothing left to download.
      case $v in default | hybrid) dd=$hd ;; esac
      if [ "$hd" -eq 0 ] || [ "$dd" -lt "$hd" ] || [ "$dc" -lt "$hc" ]; then
        die "$id cold is not cold: docker downloaded $dd and compiled $dc crates, the host $hd and $hc"
      fi

      # one-line edits in one file (ws: a leaf library that only the api crate uses), each a pair
      for k in $(seq 1 "$EDITS"); do
        one_line "$H" "$p" "host-$rep-$k"; one_line "$D" "$p" "$v-$rep-$k"
        EDIT=$k PAIR=$v measure host "$p" one-line "$rep" "$L/host-one-line-$k.log" host_build "$H" "$CH"
        EDIT=$k measure "$v" "$p" one-line "$rep" "$L/one-line-$k.log" docker_build "$D" "$tag"
        dc=$(compiled "$L/one-line-$k.log")
        if [ "$dc" -lt 1 ] || [ "$dc" -gt "$(locals_of "$p")" ]; then
          log "warning: $id one-line #$k compiled $dc crates (between 1 and $(locals_of "$p") expected: a stale or lost cache); not counted"
          EDIT=$k invalid "$v" "$p" one-line "$rep" "compiled $dc crates"
        fi
      done

      # a dependency added (Cargo.toml and Cargo.lock, the same two files on both sides)
      add_dep "$H" "$p"; add_dep "$D" "$p"
      PAIR=$v measure host "$p" dep "$rep" "$L/host-dep.log" host_build "$H" "$CH"
      measure "$v" "$p" dep "$rep" "$L/dep.log" docker_build "$D" "$tag"
      grep -aq 'Compiling hex v' "$L/dep.log" || { log "warning: $id dep step did not compile hex; not counted"; invalid "$v" "$p" dep "$rep" "hex not compiled"; }

      if [ "$rep" = 1 ]; then
        stop_test "$v" "$p" "$tag"
        size_test "$v" "$p" "$tag" "$pkg"
      fi

      # fresh engine with a registry cache, after a one-line edit
      if [[ " $REG_VARIANTS " == *" $v "* ]]; then
        (registry_step "$id" "$p" "$v" "$rep" "$D" "$H" "$CH" "$tag" "$L") || log "warning: $id: the registry step failed (see $L)"
      fi
      clean_engine
      [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$H" "$CH" "$D"
    done
  done
  log "round $rep done"
  bash "$ROOT/bench/report.sh" "$OUT" || log "warning: report failed"
done

record --argjson s "$(sub "$(now)" "$START")" '{kind: "total", seconds: $s}'
bash "$ROOT/bench/report.sh" "$OUT"
log "wrote $OUT.ndjson, $OUT.json and $OUT.md in $(sub "$(now)" "$START") s"
