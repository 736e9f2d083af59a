# bench/run.sh records (one JSON object a line, slurped) -> results.json: the summary, then the raw records.
def median: sort | if length == 0 then null else (if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end) end;
def r2: if . == null then null else (. * 100 | round) / 100 end;
def spread: if length == 0 then null else {median: (median | r2), min: (min | r2), max: (max | r2), n: length} end;

. as $all
| ($all | map(select(.kind == "meta")) | first) as $meta
| [$all[] | select(.kind == "invalid")] as $bad
| [$all[] | select(.kind == "time") | . as $x
   | select([$bad[] | select(.variant == $x.variant and .project == $x.project and .step == $x.step and .rep == $x.rep
       and .edit == $x.edit)] | length == 0)] as $t
| def docker($v; $p; $s): [$t[] | select(.variant == $v and .project == $p and .step == $s)];
  def host($v; $p; $s; $r; $e): [$t[] | select(.variant == "host" and .pair == $v and .project == $p and .step == $s
      and .rep == $r and .edit == $e)] | first;
  def pairs($v; $p; $s): [docker($v; $p; $s)[] | . as $d | host($v; $p; $s; $d.rep; $d.edit) as $h | select($h != null)
      | {rep, edit, docker: .seconds, host: $h.seconds, ratio: (.seconds / $h.seconds | r2), compiled, downloaded,
         host_compiled: $h.compiled, host_downloaded: $h.downloaded, docker_non_cargo: (.seconds - .cargo_seconds | r2)}];
  def step($v; $p; $s): pairs($v; $p; $s) as $x
    | if ($x | length) == 0 then null else
      {ratio: ([$x[].ratio] | spread), docker_seconds: ([$x[].docker] | spread), host_seconds: ([$x[].host] | spread),
       docker_non_cargo_seconds: ([$x[].docker_non_cargo] | spread), pairs: $x} end;
  def registry($v; $p): [docker($v; $p; "registry")[] | . as $d
      | host($v; $p; "registry"; $d.rep; null) as $h
      | ([docker($v; $p; "cache-pull")[] | select(.rep == $d.rep)] | first) as $pull
      | ([$all[] | select(.kind == "registry" and .variant == $v and .project == $p and .rep == $d.rep)] | first) as $rec
      | select($h != null and $pull != null)
      | {rep, docker: .seconds, host: $h.seconds, pull: $pull.seconds, budget_base: ($h.seconds + $pull.seconds | r2),
         ratio: (.seconds / ($h.seconds + $pull.seconds) | r2), cook_cached: $rec.cook_cached, compiled: $rec.compiled}]
    | if length == 0 then null else
      {ratio_to_host_plus_pull: ([.[].ratio] | spread), docker_seconds: ([.[].docker] | spread),
       host_seconds: ([.[].host] | spread), pull_seconds: ([.[].pull] | spread),
       cook_cached_every_time: (all(.[]; .cook_cached == true)), runs: .} end;
{
  goals: {cold: 1.10, one_line: 1.10, dep: 1.5, registry: 1.2, stop_seconds: 0.5, image_overhead_bytes: 1000000},
  meta: ($meta | del(.kind)),
  total_seconds: ($all | map(select(.kind == "total")) | first | .seconds?),
  invalid: [$bad[] | del(.kind)],
  rounds_finished: ([$t[] | select(.variant != "host" and .step == "dep") | .rep] | unique | length),
  machine_busy: ([$t[].machine_busy] | spread),
  load1: ([$t[].load1] | spread),
  projects: [($meta.projects // [])[] as $p | {
    name: $p,
    variants: [($meta.variants // [])[] as $v
      | [$all[] | select(.kind == "stop" and .variant == $v and .project == $p)] as $stops
      | {
        name: $v,
        cold: step($v; $p; "cold"),
        one_line: step($v; $p; "one-line"),
        dep: step($v; $p; "dep"),
        registry: registry($v; $p),
        stop_seconds: (if ($stops | length) > 0 then ([$stops[].stop_seconds] | spread) + {exit_codes: ([$stops[].exit_code] | unique)} else null end),
        size: ([$all[] | select(.kind == "size" and .variant == $v and .project == $p)] | first | if . then del(.kind, .variant, .project) else null end)
      }]
  }],
  records: $all
}
