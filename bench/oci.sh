#!/usr/bin/env bash
# shellcheck disable=SC2016  # jq programs are single-quoted
# imggen benchmark, daemonless path: edit-to-pushed-image time of `imggen build --engine oci
# --push` and of `imggen build --engine docker --push` on the same fixture, each against the
# host's incremental `cargo build` (same profile and target) of the same one-line edit; and the
# pushed image's size against the binary and the CA bundle it carries. `just bench` runs it after
# bench/run.sh; bench/README.md ("Daemonless path") says what each number means.
#
#   bash bench/oci.sh        # 3 rounds, both fixtures, both engines
#
# Environment (all optional):
#   BENCH_OCI_PROJECTS  default "musl glibc"
#                       musl   tests/fixtures/musl-static (x86_64-unknown-linux-musl on scratch)
#                       glibc  tests/fixtures/axum-single (debian:bookworm-slim, pulled by the oci
#                              engine through `[build] base_mirror` = the registry below)
#   BENCH_OCI_ENGINES   default "oci docker"
#   BENCH_REPEAT        rounds, default 3 (each round: one edit, then host, oci and docker)
#   BENCH_REGISTRY      registry pushed to, default 127.0.0.1:5000 (no auth)
#   BENCH_OCI_OUT       output prefix, default bench/results-oci (.ndjson records, .md table)
#   BENCH_KEEP=1        keep the work directory (every build log)
#   BENCH_WAIT_WHILE    a path: before the first use of the Docker engine, wait while it exists
#   DOCKER, DOCKER_UP
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench-oci
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DOCKER=${DOCKER:-/usr/bin/docker}
DOCKER_UP=${DOCKER_UP:-$ROOT/../shared/scripts/docker-up.sh}
PROJECTS=${BENCH_OCI_PROJECTS:-musl glibc}
ENGINES=${BENCH_OCI_ENGINES:-oci docker}
REPEAT=${BENCH_REPEAT:-3}
REGISTRY=${BENCH_REGISTRY:-127.0.0.1:5000}
OUT=${BENCH_OCI_OUT:-$ROOT/bench/results-oci}
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
PFX=imggen-bench-oci-$RUN_ID

for tool in jq curl cargo awk tar; do command -v "$tool" >/dev/null || die "$tool is required"; done
uses_docker() { [[ " $ENGINES " == *" docker "* ]]; }

ENGINE_READY=0
WORK=$(mktemp -d /tmp/imggen-bench-oci.XXXXXX)
REC=$OUT.ndjson
: >"$REC"
cleanup() {
  local rc=$?
  set +e
  if [ "$ENGINE_READY" = 1 ]; then
    "$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -E "(^|/)$PFX" | xargs -r -n1 "$DOCKER" rmi -f >/dev/null 2>&1
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


fixture_of() { case $1 in musl) echo "$ROOT/tests/fixtures/musl-static" ;; glibc) echo "$ROOT/tests/fixtures/axum-single" ;; esac; }
# one_line DIR PROJECT TEXT: a string literal the service returns changes (one line of src/main.rs).
one_line() {
  local f=$1/src/main.rs
  case $2 in
    musl) sed -i -E "0,/\"hello(-[^\"]*)?\"\)/s//\"hello-$3\")/" "$f"; grep -q "\"hello-$3\")" "$f" ;;
    glibc) sed -i -E "0,/\"ok(-[^\"]*)?\"/s//\"ok-$3\"/" "$f"; grep -q "\"ok-$3\"" "$f" ;;
  esac || die "one-line edit failed in $f"
}

# step ENGINE PROJECT REP PHASE LOG CMD...: runs CMD in the project's copy; PHASE "edit" is
# timed and recorded, "warm" (the build before the first edit) is only logged.
step() {
  local engine=$1 p=$2 rep=$3 phase=$4 logf=$5 t0 secs
  shift 5
  t0=$(now)
  if ! "$@" >"$logf" 2>&1; then tail -30 "$logf" >&2; die "$engine $p $phase #$rep failed (log $logf)"; fi
  secs=$(sub "$(now)" "$t0")
  if [ "$phase" = edit ]; then
    record --arg e "$engine" --arg p "$p" --argjson r "$rep" --argjson sec "$secs" \
      --argjson compiled "$(compiled "$logf")" --argjson load "$(cut -d' ' -f1 /proc/loadavg)" \
      '{kind: "oci-time", engine: $e, project: $p, rep: $r, seconds: $sec, compiled: $compiled, load1: $load}'
  fi
  log "$(printf '%-6s %-5s %-4s #%s %7.2fs (compiled %s)' "$engine" "$p" "$phase" "$rep" "$secs" "$(compiled "$logf")")"
}

# host_build DIR: the plan's cargo arguments (profile, target, --locked), as the oci engine runs
# cargo, without its path remapping.
host_build() {
  local args
  read -r -a args <<<"$(jq -r '.plan.cargo.common_args' "$1/plan.json")"
  (cd "$1" && cargo build "${args[@]}" --bin "$(jq -r .plan.bin plan.json)")
}
# imggen_build DIR ENGINE TAG: the image built and pushed (with its SBOM); the oci engine pulls a
# glibc base through the registry, as from a Docker Hub mirror, into a cache of this run.
# (Build steps on the engine use the host's network, as this project's machines require.)
imggen_build() {
  local net=()
  [ "$2" != docker ] || net=(--network host)
  (cd "$1" && IMGGEN_BASE_MIRROR=$REGISTRY XDG_CACHE_HOME=$WORK/cache "$IMGGEN" build --engine "$2" --push --tag "$3" "${net[@]}" .)
}

# size ENGINE PROJECT TAG BASE BIN: what the registry holds for the pushed image (compressed
# layers and config; the base's layers, known by their diff ids, apart), and the image's own
# layers uncompressed beside the binary and the CA bundle they carry.
size() {
  local engine=$1 p=$2 tag=$3 base=$4 bin_name=$5 repo ref manifest config base_ids='[]' own layer f bin=0 ca=0 plain=0
  local accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
  repo=${tag#"$REGISTRY"/}; ref=${repo##*:}; repo=${repo%:*}
  manifest=$(curl -sf -H "Accept: $accept" "http://$REGISTRY/v2/$repo/manifests/$ref") || die "cannot read the manifest of $tag"
  config=$(curl -sf "http://$REGISTRY/v2/$repo/blobs/$(jq -r .config.digest <<<"$manifest")") || die "cannot read the config of $tag"
  if [ "$base" != scratch ]; then
    local bm
    if bm=$(curl -sf -H "Accept: $accept" "http://$REGISTRY/v2/library/${base%%:*}/manifests/${base##*:}"); then
      base_ids=$(curl -sf "http://$REGISTRY/v2/library/${base%%:*}/blobs/$(jq -r .config.digest <<<"$bm")" | jq -c .rootfs.diff_ids)
    else
      log "warning: no $base in $REGISTRY: its layers are counted as the image's own"
    fi
  fi
  # Indexes (in the manifest's layer list) of the layers that are not the base's.
  own=$(jq -c --argjson b "$base_ids" '[.rootfs.diff_ids | to_entries[] | select(.value as $d | $b | index($d) | not) | .key]' <<<"$config")
  for i in $(jq -r '.[]' <<<"$own"); do
    layer=$(jq -r --argjson i "$i" '.layers[$i].digest' <<<"$manifest")
    f=$WORK/layer.tar
    curl -sf "http://$REGISTRY/v2/$repo/blobs/$layer" -o "$f.raw" || die "cannot fetch layer $layer of $tag"
    if gzip -t "$f.raw" 2>/dev/null; then gzip -dc "$f.raw" >"$f"; else mv "$f.raw" "$f"; fi
    plain=$((plain + $(wc -c <"$f")))
    bin=$((bin + $(tar -tvf "$f" | awk -v b="usr/local/bin/$bin_name" '{ n = $6; sub(/^\.\//, "", n) } n == b { s += $3 } END { print s + 0 }')))
    ca=$((ca + $(tar -tvf "$f" | awk '{ n = $6; sub(/^\.\//, "", n) } n == "etc/ssl/certs/ca-certificates.crt" { s += $3 } END { print s + 0 }')))
    rm -f "$f" "$f.raw"
  done
  record --arg e "$engine" --arg p "$p" --argjson m "$manifest" --argjson own "$own" \
    --argjson bin "$bin" --argjson ca "$ca" --argjson plain "$plain" \
    '{kind: "oci-size", engine: $e, project: $p,
      image_bytes: ([$m.layers[].size] | add + $m.config.size),
      own_bytes: ([$own[] as $i | $m.layers[$i].size] | add + $m.config.size),
      layers: ($m.layers | length), own_layers: ($own | length),
      own_uncompressed_bytes: $plain, layer_media_types: ([$m.layers[].mediaType] | unique),
      binary_bytes: $bin, ca_bundle_bytes: $ca}
     | .base_bytes = (.image_bytes - .own_bytes)
     | .own_uncompressed_over_binary_and_ca = (.own_uncompressed_bytes / (.binary_bytes + .ca_bundle_bytes) * 1000 | round / 1000)'
}

# The section of this run ($OUT.md); for the default prefix, bench/results.md again with it.
report() {
  jq -s -r -f "$ROOT/bench/oci-report.jq" "$REC" >"$OUT.md" || { log "warning: report failed"; return; }
  if [ "$OUT" = "$ROOT/bench/results-oci" ]; then bash "$ROOT/bench/report.sh" || log "warning: report failed"; fi
}

# Before the first use of the Docker engine: wait while BENCH_WAIT_WHILE (a path) exists (a
# machine's sign that the engine is busy), then start it and seed the base images the generated
# Dockerfiles name (nothing can be pulled on this project's machines).
engine_ready() {
  [ "$ENGINE_READY" = 0 ] || return 0
  [ -x "$DOCKER" ] || die "$DOCKER not found"
  if [ -n "${BENCH_WAIT_WHILE:-}" ] && [ -e "$BENCH_WAIT_WHILE" ]; then
    log "waiting until $BENCH_WAIT_WHILE is gone"
    while [ -e "$BENCH_WAIT_WHILE" ]; do sleep 10; done
  fi
  local seed=() p
  for p in $PROJECTS; do seed+=(--seed-from "$WORK/$p-docker/Dockerfile"); done
  bash "$DOCKER_UP" "${seed[@]}" >"$WORK/docker-up.log" 2>&1 || { tail "$WORK/docker-up.log" >&2; die "docker-up failed"; }
  ENGINE_READY=1
  record --arg docker "$("$DOCKER" version --format '{{.Server.Version}}')" '{kind: "oci-engine", docker: $docker}'
}

# --- set-up ---------------------------------------------------------------------------------------
log "work directory $WORK; projects: $PROJECTS; engines: $ENGINES; rounds: $REPEAT"
(cd "$ROOT" && cargo build --release --locked --quiet --bin imggen)
IMGGEN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline | jq -r .target_directory)/release/imggen
curl -sf "http://$REGISTRY/v2/" >/dev/null || die "registry $REGISTRY does not answer"
for p in $PROJECTS; do
  for side in host $ENGINES; do
    d=$WORK/$p-$side
    mkdir -p "$d"; cp -r "$(fixture_of "$p")/." "$d/"; rm -rf "$d/target"
    "$IMGGEN" generate "$d" >"$WORK/generate.log" 2>&1 || { cat "$WORK/generate.log" >&2; die "imggen generate failed in $d"; }
    (cd "$WORK" && "$IMGGEN" plan --format json "$d" >"$d/plan.json")
  done
done
# The oci engine's glibc base comes through the registry as a mirror of Docker Hub.
if [[ " $PROJECTS " == *" glibc "* ]] && [[ " $ENGINES " == *" oci "* ]] &&
  ! curl -sf -o /dev/null "http://$REGISTRY/v2/library/debian/manifests/bookworm-slim" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'; then
  uses_docker || die "the registry has no library/debian:bookworm-slim; copy it there (skopeo copy docker-daemon:debian:bookworm-slim docker://$REGISTRY/library/debian:bookworm-slim --dest-tls-verify=false)"
  engine_ready
  skopeo copy --quiet docker-daemon:debian:bookworm-slim "docker://$REGISTRY/library/debian:bookworm-slim" --dest-tls-verify=false ||
    die "cannot put debian:bookworm-slim in $REGISTRY"
fi
record --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg rev "$(git -C "$ROOT" rev-parse --short HEAD)" \
  --arg script_rev "$(git -C "$ROOT" log -1 --format=%h -- bench/oci.sh 2>/dev/null || echo unknown)" \
  --argjson dirty "$(git -C "$ROOT" status --porcelain -- bench/oci.sh src templates | wc -l)" \
  --arg rustc "$(rustc -V)" --argjson cpus "$(nproc)" --arg projects "$PROJECTS" --arg engines "$ENGINES" \
  --argjson repeat "$REPEAT" --arg run "$RUN_ID" --arg registry "$REGISTRY" \
  '{kind: "oci-meta", date: $date, git_rev: $rev, script_rev: $script_rev, uncommitted_files: $dirty, host_rustc: $rustc,
    cpus: $cpus, projects: ($projects | split(" ")), engines: ($engines | split(" ")), repeat: $repeat, run: $run,
    registry: $registry}'

# --- warm: every side builds (and pushes) once, so each round measures an incremental build ------
# (the engine last: BENCH_WAIT_WHILE holds only what needs it)
for side in host $ENGINES; do
  [ "$side" != docker ] || engine_ready
  for p in $PROJECTS; do
    if [ "$side" = host ]; then
      step host "$p" 0 warm "$WORK/$p-host-warm.log" host_build "$WORK/$p-host"
    else
      step "$side" "$p" 0 warm "$WORK/$p-$side-warm.log" imggen_build "$WORK/$p-$side" "$side" "$REGISTRY/$PFX/$p-$side:warm"
    fi
  done
done

# --- the rounds: the same one-line edit on every side, then each side's build -----------------
for rep in $(seq 1 "$REPEAT"); do
  for p in $PROJECTS; do
    for side in host $ENGINES; do one_line "$WORK/$p-$side" "$p" "r$rep"; done
    step host "$p" "$rep" edit "$WORK/$p-host-r$rep.log" host_build "$WORK/$p-host"
    for e in $ENGINES; do
      tag=$REGISTRY/$PFX/$p-$e:r$rep
      step "$e" "$p" "$rep" edit "$WORK/$p-$e-r$rep.log" imggen_build "$WORK/$p-$e" "$e" "$tag"
      grep -q "$tag@sha256:" "$WORK/$p-$e-r$rep.log" || die "$e $p #$rep: no pushed digest in the log ($WORK/$p-$e-r$rep.log)"
      if [ "$rep" = 1 ]; then size "$e" "$p" "$tag" "$(jq -r .plan.base.image "$WORK/$p-$e/plan.json")" "$(jq -r .plan.bin "$WORK/$p-$e/plan.json")"; fi
    done
  done
  log "round $rep done"
  report
done
log "wrote $REC and $OUT.md"
