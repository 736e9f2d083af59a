# bench/oci.sh records (one JSON object a line, slurped) -> the daemonless section of results.md.
def median: sort | if length == 0 then null else (if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end) end;
def f2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
def kb: if . == null then "-" elif . >= 1000000 then ((. / 100000 | round / 10 | tostring) + " MB") else ((. / 100 | round / 10 | tostring) + " kB") end;
def spread: if length == 0 then null else {median: median, min: min, max: max, n: length} end;
def title: if . == "musl" then "musl, `scratch` (`tests/fixtures/musl-static`)" else "glibc, `debian:bookworm-slim` (`tests/fixtures/axum-single`)" end;
def goal: 1.2;

. as $all
| ($all | map(select(.kind == "oci-meta")) | first) as $m
| ($all | map(select(.kind == "oci-engine")) | first | .docker?) as $docker
| [$all[] | select(.kind == "oci-time")] as $t
| def host($p; $r): [$t[] | select(.engine == "host" and .project == $p and .rep == $r)] | first;
  def ratios($e; $p): [$t[] | select(.engine == $e and .project == $p) | . as $x | host($p; $x.rep) as $h
      | select($h != null) | {ratio: (.seconds / $h.seconds), seconds, host: $h.seconds, compiled, host_compiled: $h.compiled}];
  def cell($e; $p): ratios($e; $p) as $x
    | if ($x | length) == 0 then "not measured" else
      ([$x[].ratio] | spread) as $r
      | "**\($r.median | f2)x**\(if $r.median <= goal then " ✓" else " ✗" end) (\($r.min | f2)–\($r.max | f2), n=\($r.n)); \([$x[].seconds] | median | f2) s / host \([$x[].host] | median | f2) s; compiled \([$x[].compiled] | median) (host \([$x[].host_compiled] | median))" end;
[
  "## Daemonless path: edit to pushed image (`bench/oci.sh`)",
  "",
  "Run \($m.date) (`\($m.run)`) at commit `\($m.git_rev)`, `bench/oci.sh` of commit `\($m.script_rev)`\(if ($m.uncommitted_files // 0) > 0 then " (with \($m.uncommitted_files) uncommitted files under bench/oci.sh, src/ or templates/)" else "" end); \($m.cpus) CPUs; host \($m.host_rustc)\(if $docker then "; Docker \($docker)" else "" end); pushed to \($m.registry). Rounds finished: \([$t[] | select(.engine != "host") | .rep] | unique | length) of \($m.repeat); load average while timing: median \([$t[].load1] | median | f2) (\([$t[].load1] | min | f2)–\([$t[].load1] | max | f2)).",
  "",
  "Each cell: the time from a one-line edit to the image pushed (`imggen build --engine E --push`, SBOM attached) over the host's incremental `cargo build` of the same edit with the plan's profile and target, **median** ✓/✗ against the goal of \(goal)x (min–max over the rounds); then the median seconds of each side and the crates compiled.",
  "",
  "| fixture | daemonless (`--engine oci`) | Docker Engine (`--engine docker`, BuildKit, persistent builder) |",
  "|---|---|---|",
  ($m.projects[] as $p | "| \($p | title) | \(cell("oci"; $p)) | \(cell("docker"; $p)) |"),
  "",
  "| fixture | engine | pushed (compressed layers + config) | of which the base | own layers, compressed | own layers, uncompressed | binary + CA bundle | own uncompressed / (binary + CA bundle) | layer media types |",
  "|---|---|---|---|---|---|---|---|---|",
  ($all[] | select(.kind == "oci-size") | "| \(.project) | \(.engine) | \(.image_bytes | kb) | \(.base_bytes | kb) | \(.own_bytes | kb) (\(.own_layers) of \(.layers) layers) | \(.own_uncompressed_bytes | kb) | \(.binary_bytes | kb) + \(.ca_bundle_bytes | kb) | \(.own_uncompressed_over_binary_and_ca | f2)x | \(.layer_media_types | map("`\(.)`") | join(", ")) |"),
  ""
] | .[]
