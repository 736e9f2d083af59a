# bench/run.sh records (one JSON object a line, slurped) -> results.json: the summary, then the raw records.
def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
def r2: if . == null then null else (. * 100 | round) / 100 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b | r2) end;

. as $all
| [.[] | select(.kind == "time")] as $t
| def times($v; $s): [$t[] | select(.variant == $v and .step == $s)];
  def secs($v; $s): [times($v; $s)[] | .seconds];
  def one($v; $s): (secs($v; $s) | first);
  def stats($v; $s): secs($v; $s) | {min: (min | r3), median: (median | r3), all: .};
  def overhead($v; $s): [times($v; $s)[] | .seconds - .cargo_seconds] | min | r2;
  ($all | map(select(.kind == "meta")) | first) as $meta
| (one("host"; "download")) as $download
| (one("host"; "cold")) as $host_cold
| (if $host_cold == null then null else $host_cold + ($download // 0) end) as $cold_floor
| (stats("host"; "one-line")) as $host_one
| (one("host"; "dep")) as $host_dep
| {
    goals: {cold: 1.10, one_line: 1.10, dep: 1.5, stop_seconds: 0.5, image_overhead_bytes: 1000000, analyze_ms: 100},
    meta: ($meta | del(.kind)),
    total_seconds: ($all | map(select(.kind == "total")) | first | .seconds),
    analyze: ($all | map(select(.kind == "analyze")) | first | if . then del(.kind) else null end),
    host: {
      download_seconds: $download,
      cold_seconds: $host_cold,
      cold_floor_seconds: ($cold_floor | r3),
      one_line_seconds: $host_one,
      dep_seconds: $host_dep,
      overhead_seconds: {cold: overhead("host"; "cold"), one_line: overhead("host"; "one-line"), dep: overhead("host"; "dep")}
    },
    variants: [
      ($meta.variants // [])[] as $v
      | (stats($v; "one-line")) as $one
      | [$all[] | select(.kind == "stop" and .variant == $v)] as $stops
      | {
          name: $v,
          builder: (if $v == "imggen-bk" or $v == "imggen-mounts" then "buildkit" else "classic" end),
          cold_seconds: one($v; "cold"),
          one_line_seconds: $one,
          dep_seconds: one($v; "dep"),
          ratios: {
            cold: ratio(one($v; "cold"); $cold_floor),
            cold_vs_warm_registry_floor: ratio(one($v; "cold"); $host_cold),
            one_line: ratio($one.min; $host_one.min),
            one_line_median: ratio($one.median; $host_one.median),
            dep: ratio(one($v; "dep"); $host_dep)
          },
          # wall time minus cargo's own "Finished in" times: docker, planner, layers, export
          overhead_seconds: {cold: overhead($v; "cold"), one_line: overhead($v; "one-line"), dep: overhead($v; "dep")},
          cold_downloaded_crates: (times($v; "cold") | first | .downloaded),
          dep_compiled_crates: (times($v; "dep") | first | .compiled),
          context_bytes: ([$all[] | select(.kind == "context" and .variant == $v)] | first | .bytes),
          stop_seconds: {min: ([$stops[].stop_seconds] | min | r3), median: ([$stops[].stop_seconds] | median | r3),
                         max: ([$stops[].stop_seconds] | max | r3), exit_codes: ([$stops[].exit_code] | unique)},
          ready_seconds_median: ([$stops[].ready_seconds] | median | r3),
          size: ([$all[] | select(.kind == "size" and .variant == $v)] | first | if . then del(.kind, .variant) else null end)
        }
    ],
    musl: (
      [$all[] | select(.kind == "stop" and .variant == "musl")] as $stops
      | if ($stops | length) == 0 then null else {
          cold_seconds: one("musl"; "cold"),
          stop_seconds: {median: ([$stops[].stop_seconds] | median | r3), exit_codes: ([$stops[].exit_code] | unique)},
          size: ([$all[] | select(.kind == "size" and .variant == "musl")] | first | del(.kind, .variant))
        } end
    ),
    context_dev_checkout: [$all[] | select(.kind == "context" and .where == "dev") | del(.kind, .where)],
    machine_load: [$t[] | {variant, step, rep, seconds, machine_busy, load1, waited_for_quiet}],
    records: $all
  }
