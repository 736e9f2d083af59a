#!/usr/bin/env bash
# Builds and probes the corpus entries (corpus/corpus.toml) that boot without external services
# and that a correct tool images (`expected = "image"`): for each one whose repository is
# mirrored as a git directory under $MIRROR (default /work/.mirror/OWNER+NAME/repo), it unpacks
# the pinned commit, runs `imggen init` and `imggen build --network host`, starts the container
# on the host network and waits for the entry's declared port to accept a connection on 127.0.0.1
# or ::1 (the planned port is recorded next to it). One entry at a time, smallest first, under
# `nice`. Each entry's result replaces its row in corpus/builds.tsv (with the imggen commit that
# produced it), and corpus/builds.md, score included, is rendered from all rows
# (corpus/builds.py), so a run of some entries keeps the others' results.
#
#   bash corpus/build.sh [NAME...]     (no names: every eligible entry)
#   TIMEOUT=2400 MIRROR=/path DOCKER_UP=/path/docker-up.sh bash corpus/build.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mirror=${MIRROR:-/work/.mirror}
timeout_s=${TIMEOUT:-2400}
docker=${DOCKER:-/usr/bin/docker}
docker_up=${DOCKER_UP:-$root/../shared/scripts/docker-up.sh}
out=$root/corpus/builds.md
data=$root/corpus/builds.tsv
logs=$root/target/corpus-build
mkdir -p "$logs"

cargo build --locked --quiet --manifest-path "$root/Cargo.toml"
# The commit whose code built the rows; `-dirty` when the tool's sources differ from it.
imggen_commit=$(git -C "$root" rev-parse --short HEAD)
if ! git -C "$root" diff --quiet HEAD -- src templates build.rs Cargo.toml Cargo.lock; then
  imggen_commit+="-dirty"
fi
# A copy, so a rebuild of the worktree during a long run does not change the tool mid-run.
imggen=$logs/imggen-$$
cp "$root/target/debug/imggen" "$imggen"
trap 'rm -f "$imggen"' EXIT

# name, repo, commit, path, bin, port to probe, port set by init (or -), the run-time settings
# an operator sets (`run_env`, space-joined KEY=VALUE, or -), args (space-joined), one entry per line.
entries=$(python3 - "$root/corpus/corpus.toml" "$@" <<'PY'
import sys, tomllib
data = tomllib.load(open(sys.argv[1], "rb"))
only = set(sys.argv[2:])
for e in data["entry"]:
    if not e["boots_alone"] or e["expected"] != "image":
        continue
    if only and e["name"] not in only:
        continue
    # The port to probe: `build_port` (set through `imggen init --port`) when the entry has one.
    port = e.get("build_port") or e["port"]
    setport = str(e["build_port"]) if "build_port" in e else "-"
    run_env = " ".join(e.get("run_env", [])) or "-"
    print("\t".join([e["name"], e["repo"], e["commit"], e["path"], e["bin"], str(port), setport, run_env, " ".join(e["args"])]))
PY
)

# Smallest first: bytes of the entry's directory at its commit.
sized=""
while IFS=$'\t' read -r name repo commit path bin port setport runenv args; do
  [[ -n "$name" ]] || continue
  gitdir=$mirror/${repo/\//+}/repo
  size=999999999999
  if [[ -d "$gitdir" ]] && git --git-dir="$gitdir" cat-file -e "$commit^{commit}" 2>/dev/null; then
    size=$(git --git-dir="$gitdir" ls-tree -r -l "$commit" -- "${path#./}" | awk '{s+=$4} END {print s+0}')
  fi
  sized+="$size"$'\t'"$name"$'\t'"$repo"$'\t'"$commit"$'\t'"$path"$'\t'"$bin"$'\t'"$port"$'\t'"$setport"$'\t'"$runenv"$'\t'"$args"$'\n'
done <<<"$entries"

# Records one entry's result (replacing its previous row) and re-renders corpus/builds.md, so a
# stopped run keeps the rows it finished.
# record NAME STATUS INIT BUILD PORT PROBE SIZE
record() {
  python3 "$root/corpus/builds.py" record "$data" "$out" "$@" "$imggen_commit" "$(date -u +%Y-%m-%d)"
}

# Checks COMMIT of GITDIR out into DEST, with a .git naming it. A mirror may lack its largest blobs (files of 4 MiB and
# more): those files are left out and named, so an entry whose build needs none of them builds.
extract() {
  local index
  index=$(mktemp -u)
  GIT_INDEX_FILE=$index git --git-dir="$1" read-tree "$2"
  local missing
  missing=$(git --git-dir="$1" ls-tree -r "$2" | awk '$2 == "blob" { print $3 }' |
    git --git-dir="$1" cat-file --batch-check | awk '$2 == "missing" { print $1 }')
  if [[ -n "$missing" ]]; then
    git --git-dir="$1" ls-tree -r "$2" | while IFS=$'\t' read -r meta file; do
      if grep -qxF "${meta##* }" <<<"$missing"; then
        echo "left out (not in the mirror): $file"
        GIT_INDEX_FILE=$index git --git-dir="$1" update-index --force-remove -- "$file"
      fi
    done
  fi
  GIT_INDEX_FILE=$index git --git-dir="$1" --work-tree="$3" checkout-index -a -f --prefix="$3/"
  rm -f "$index"
  # The .git of a clone, as a user's checkout has it: the pinned commit (its object only) as a
  # detached HEAD, for builds that ask git which commit they build.
  git init -q "$3"
  git --git-dir="$1" cat-file commit "$2" | git --git-dir="$3/.git" hash-object -t commit -w --stdin >/dev/null
  git --git-dir="$1" rev-parse "$2^{commit}" > "$3/.git/HEAD"
}

# True when something on the host accepts a TCP connection on port $1, over IPv4 or IPv6 loopback.
accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || (exec 3<>"/dev/tcp/::1/$1") 2>/dev/null
}

# The first compiler or cargo error inside the build output (a tool's own `Error:` summary only
# when none), else imggen's last error line (the
# log also holds a refused `imggen init` before its retry with --bin).
first_error() {
  local line
  line=$({ grep -m1 -E '^#[0-9]+ ([0-9.]+ |\| ) *error(\[E[0-9]+\])?:' "$1" || grep -m1 -E '^#[0-9]+ ([0-9.]+ |\| )Error:' "$1" || true; } | sed -E 's/^#[0-9]+ ([0-9.]+ |\| ) *//')
  [[ -n "$line" ]] || line=$({ grep '^error' "$1" || true; } | tail -n 1)
  printf '%s' "$line" | cut -c1-200
}

while IFS=$'\t' read -r size name repo commit path bin port setport runenv args; do
  [[ -n "$name" ]] || continue
  # The settings an operator gives the container at deploy time (no service behind them).
  run_flags=()
  if [[ "$runenv" != "-" ]]; then
    for kv in $runenv; do run_flags+=(-e "$kv"); done
  fi
  # The port a user on this machine would set, written to imggen.toml by init.
  init_flags=()
  if [[ "$setport" != "-" ]]; then
    init_flags=(--port "$setport")
  fi
  gitdir=$mirror/${repo/\//+}/repo
  if [[ "$size" == 999999999999 ]]; then
    record "$name" not-mirrored "not mirrored" "" "" "" 0
    continue
  fi
  work=$(mktemp -d)
  extract "$gitdir" "$commit" "$work" >"$logs/$name.log"
  project=$work/$path
  log=$logs/$name.log
  tag=imggen-corpus/$name:$$
  init="ok${init_flags[*]:+ (${init_flags[*]})}"
  # --force: a repository's own Dockerfile or .dockerignore is kept as <file>.orig.
  if ! "$imggen" init --force "$project" "${init_flags[@]}" >>"$log" 2>&1; then
    if [[ -n "$bin" ]] && "$imggen" init --force "$project" --bin "$bin" "${init_flags[@]}" >>"$log" 2>&1; then
      init="ok with --bin $bin${init_flags[*]:+ ${init_flags[*]}}"
    else
      init="refused: $({ grep -m1 '^error' "$log" || true; } | cut -c1-200)"
      record "$name" init-refused "$init" "" "" "" "$size"
      rm -rf "$work"
      continue
    fi
  fi
  # A machine that cannot pull (this project's CI machines) gets the images the Dockerfile names
  # from the shared set-up script, as the tests do; elsewhere the engine pulls them.
  # (the Dockerfile sits at the project root imggen chose, which may be above the entry's path).
  if [[ -f "$docker_up" ]]; then
    while IFS= read -r dockerfile; do
      bash "$docker_up" --seed-from "$dockerfile" >>"$log" 2>&1 || true
    done < <(grep -rl --include=Dockerfile 'imggen' "$work" 2>/dev/null || true)
  fi
  plan_port=$("$imggen" plan "$project" --format json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["plan"]["port"])' || echo 0)
  start=$(date +%s)
  if timeout "$timeout_s" nice -n 10 "$imggen" build "$project" --network host --progress plain --tag "$tag" >>"$log" 2>&1; then
    build="ok ($(($(date +%s) - start)) s)"
    container=imggen-corpus-$name-$$
    if accepts "$port"; then
      record "$name" built "$init" "$build" "$port / $plan_port${args:+ (args: $args)}" "port $port already taken on the host: not probed" "$size"
      "$docker" rmi "$tag" >/dev/null 2>&1 || true
      rm -rf "$work"
      continue
    fi
    "$docker" run -d --network host --name "$container" "${run_flags[@]}" "$tag" >/dev/null 2>&1 || true
    probe="no connection on $port in 60 s"
    status=built
    for _ in $(seq 60); do
      if accepts "$port"; then
        probe="port $port accepts"
        status=served
        break
      fi
      sleep 1
    done
    [[ "$runenv" == "-" ]] || probe+=" (run with $runenv)"
    "$docker" logs "$container" >>"$log" 2>&1 || true
    if [[ "$status" == built ]]; then
      said=$("$docker" logs --tail 1 "$container" 2>&1 | cut -c1-160 || true)
      probe+="${said:+; last output: $said}"
    fi
    "$docker" rm -f "$container" >/dev/null 2>&1 || true
    "$docker" rmi "$tag" >/dev/null 2>&1 || true
  else
    build="failed ($(($(date +%s) - start)) s): $(first_error "$log")"
    probe=""
    status=build-failed
  fi
  record "$name" "$status" "$init" "$build" "$port / $plan_port${args:+ (args: $args)}" "$probe" "$size"
  rm -rf "$work"
done < <(sort -n <<<"$sized")

cat "$out"
