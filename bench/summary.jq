# bench/run.sh records (one JSON object a line, slurped) -> results.json: the summary, then the raw records.
def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
def r2: if . == null then null else (. * 100 | round) / 100 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else ($a / $b | r2) end;

. as $all
| [.[] | select(.kind == "time") | select(.invalid | not)] as $t
| def times($v; $s): [$t[] | select(.variant == $v and .step == $s)];
  def secs($v; $s): [times($v; $s)[] | .seconds];
  def one($v; $s): (secs($v; $s) | first);
  def stats($v; $s): secs($v; $s) | {min: (min | r3), median: (median | r3), all: .};
  def overhead($v; $s): [times($v; $s)[] | .seconds - .cargo_seconds] | min | r2;
  # the host measurement taken right before variant $v's, for step $s and round $r
  def host_for($v; $s; $r): [$t[] | select(.variant == "host" and .step == $s and .pair == $v and .rep == $r) | .seconds] | first;
  def pairs($v; $s): [times($v; $s)[] | {rep, docker: .seconds, host: host_for($v; $s; .rep)}
                      | . + {ratio: (if .host then (.docker / .host | r2) else null end)}];
  ($all | map(select(.kind == "meta")) | first) as $meta
| (one("host"; "download")) as $download
| {
    goals: {cold: 1.10, one_line: 1.10, dep: 1.5, stop_seconds: 0.5, image_overhead_bytes: 1000000, analyze_ms: 100},
    meta: ($meta | del(.kind)),
    total_seconds: ($all | map(select(.kind == "total")) | first | .seconds),
    # measurements dropped because a variant's layer cache was lost mid-run (and measured again)
    invalid_measurements: [$all[] | select(.invalid) | {variant, step, rep, pair, seconds}],
    analyze: ($all | map(select(.kind == "analyze")) | first | if . then del(.kind) else null end),
    host: {
      download_seconds: $download,
      cold_seconds: stats("host"; "cold"),
      one_line_seconds: stats("host"; "one-line"),
      dep_seconds: stats("host"; "dep"),
      overhead_seconds: {cold: overhead("host"; "cold"), one_line: overhead("host"; "one-line"), dep: overhead("host"; "dep")}
    },
    variants: [
      ($meta.variants // [])[] as $v
      | (pairs($v; "cold") | first) as $cold
      | (pairs($v; "one-line")) as $one
      | (pairs($v; "dep") | first) as $dep
      | [$all[] | select(.kind == "stop" and .variant == $v)] as $stops
      | {
          name: $v,
          builder: (if $v == "imggen-bk" or $v == "imggen-mounts" or $v == "mounts-v0" then "buildkit" else "classic" end),
          cold: ($cold + {host_with_download: ((($cold.host // 0) + ($download // 0)) | r3),
                          ratio: ratio($cold.docker; ($cold.host // 0) + ($download // 0)),
                          ratio_vs_warm_registry: $cold.ratio}),
          one_line: {pairs: $one, docker_min: ([$one[].docker] | min | r3), host_min: ([$one[].host] | min | r3),
                     ratio: ([$one[].ratio] | median), ratio_of_mins: ratio([$one[].docker] | min; [$one[].host] | min)},
          dep: $dep,
          # wall time minus cargo's own "Finished in" times: docker, planner, layers, export
          non_cargo_seconds: {cold: overhead($v; "cold"), one_line: overhead($v; "one-line"), dep: overhead($v; "dep")},
          no_change_seconds: one($v; "no-change"),
          cold_downloaded_crates: (times($v; "cold") | first | .downloaded),
          cold_compiled_crates: (times($v; "cold") | first | .compiled),
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
    machine_load: [$t[] | {variant, step, rep, pair, seconds, machine_busy, load1, waited_for_quiet}],
    records: $all
  }
