#!/usr/bin/env bash
# Microbenchmarks (Google Benchmark, bench/micro/): configures build-micro
# with -Dmicro=true, builds cheetah-micro and runs it.
#
#   bench/micro.sh [benchmark args...]   every benchmark (or the ones the
#       args select, e.g. --benchmark_filter=tree/) with
#       --benchmark_min_time=0.2 and 3 repetitions (medians) unless the
#       args give them; writes
#       bench/results/micro.json (Google Benchmark's JSON) and
#       bench/results/micro.md (a table of time per op and items/s).
#   bench/micro.sh --smoke               every benchmark for a minimal time,
#       trees of CHEETAH_MICRO_NODES=10000 nodes (unless set), results in a
#       temporary directory; exits non-zero when the build fails, the run
#       fails, a benchmark reports an error or a family did not run.
#
# Environment: CHEETAH_MICRO_NODES (znodes per tree fixture, default
# 1000000), CHEETAH_MICRO_BUILD_DIR (default build-micro).
set -euo pipefail

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_dir"
build_dir=${CHEETAH_MICRO_BUILD_DIR:-build-micro}
python=/usr/bin/python3
# Bounds on one run: the full run takes a few minutes, the smoke run seconds.
full_timeout_s=1800
smoke_timeout_s=300
# Every family must show up in a smoke run.
families=(jute/ tree/ txnlog/ log_writer/ ring/)

smoke=false
args=()
for arg in "$@"; do
  if [[ "$arg" == --smoke ]]; then
    smoke=true
  else
    args+=("$arg")
  fi
done

build_log=$(mktemp -t cheetah-micro-build.XXXXXX)
work_dir=$(mktemp -d -t cheetah-micro-run.XXXXXX)
trap 'rm -rf "$build_log" "$work_dir"' EXIT

if [[ -f "$build_dir/build.ninja" ]]; then
  configure=(meson configure "$build_dir" -Dmicro=true)
else
  configure=(meson setup "$build_dir" -Dmicro=true -Dtests=false)
fi
if ! "${configure[@]}" >"$build_log" 2>&1 ||
   ! ninja -C "$build_dir" bench/micro/cheetah-micro >>"$build_log" 2>&1; then
  tail -n 60 "$build_log" >&2
  echo "micro.sh: build failed" >&2
  exit 1
fi
binary="$build_dir/bench/micro/cheetah-micro"

if $smoke; then
  export CHEETAH_MICRO_NODES=${CHEETAH_MICRO_NODES:-10000}
  results_dir="$work_dir"
  run_args=(--benchmark_min_time=0.01 "${args[@]}")
  timeout_s=$smoke_timeout_s
else
  results_dir="$repo_dir/bench/results"
  mkdir -p "$results_dir"
  run_args=("${args[@]}")
  if [[ " ${args[*]} " != *" --benchmark_min_time"* ]]; then
    run_args=(--benchmark_min_time=0.2 "${run_args[@]}")
  fi
  # Three runs, medians reported: the machine is shared, single runs are noisy.
  if [[ " ${args[*]} " != *" --benchmark_repetitions"* ]]; then
    run_args=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true "${run_args[@]}")
  fi
  timeout_s=$full_timeout_s
fi
json="$results_dir/micro.json"
markdown="$results_dir/micro.md"

status=0
timeout "$timeout_s" "$binary" "${run_args[@]}" \
  --benchmark_out="$json" --benchmark_out_format=json || status=$?
if (( status != 0 )); then
  echo "micro.sh: cheetah-micro failed (exit $status)" >&2
  exit 1
fi

check_families=()
if $smoke; then
  check_families=("${families[@]}")
fi
"$python" - "$json" "$markdown" "${CHEETAH_MICRO_NODES:-1000000}" \
    "$binary ${run_args[*]}" "${check_families[@]}" <<'PYTHON'
"""Turns Google Benchmark's JSON into bench/results/micro.md and checks it:
non-zero exit when a benchmark reported an error or a family is missing."""
import json
import sys

json_path, markdown_path, nodes, command = sys.argv[1:5]
families = sys.argv[5:]
with open(json_path) as handle:
    report = json.load(handle)
entries = report.get("benchmarks", [])
# With repetitions the table shows each benchmark's median and the spread
# (coefficient of variation) of its time; without, the one run.
medians = [b for b in entries if b.get("aggregate_name") == "median"]
spread = {b["run_name"]: b for b in entries if b.get("aggregate_name") == "cv"}
iterations = [b for b in entries if b.get("run_type") != "aggregate"]
benchmarks = medians if medians else iterations
errors = [f"{b['name']}: {b.get('error_message', '?')}" for b in entries
          if b.get("error_occurred")]

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def si(value, unit):
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def time_per_op(bench, key):
    ns = bench[key] * UNIT_NS[bench.get("time_unit", "ns")]
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


STANDARD = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "items_per_second", "bytes_per_second",
            "error_occurred", "error_message", "label", "aggregate_name", "aggregate_unit"}

missing = [family for family in families
           if not any(b.get("run_name", b["name"]).startswith(family) for b in benchmarks)]

context = report.get("context", {})
lines = [
    "# Microbenchmarks (Google Benchmark)",
    "",
    "Made by `bench/micro.sh` (harness: bench/micro/). Rates (items/s, bytes/s) are",
    "Google Benchmark's: per CPU second of the benchmark thread, except for the",
    "benchmarks named `/real_time` (the log writer and two-thread ring ones), whose",
    "work spans threads and whose rates are per wall-clock second.",
    f"Tree fixtures hold {int(nodes):,} znodes, built once by prepare+apply (see",
    "`tree_build_s`).",
    "",
    f"- date: {context.get('date', '?')}",
    f"- host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs at "
    f"{context.get('mhz_per_cpu', '?')} MHz, load average "
    f"{', '.join(f'{x:.2f}' for x in context.get('load_avg', []))}",
    f"- library build: {context.get('library_build_type', '?')}; command: `{command}`",
    "",
    "Each benchmark ran "
    f"{benchmarks[0].get('repetitions', 1) if benchmarks else 0} time(s); with more than one,"
    " the figures are medians and `cv` is the coefficient of variation of the wall time.",
    "",
    "| benchmark | wall time per op | CPU time per op | items/s | bytes/s | cv | other counters |",
    "|---|---:|---:|---:|---:|---:|---|",
]
for bench in benchmarks:
    items = bench.get("items_per_second")
    data = bench.get("bytes_per_second")
    others = []
    for key, value in bench.items():
        if key in STANDARD or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        others.append(f"{key}={value:.4g}")
    error = f" **ERROR: {bench.get('error_message', '')}**" if bench.get("error_occurred") else ""
    name = bench.get("run_name", bench["name"])
    cv = spread.get(name)
    cv_text = ""
    if cv and cv.get("aggregate_unit") == "percentage":
        cv_text = f"{cv['real_time'] * 100:.1f}%"
    lines.append(
        f"| {name}{error} | {time_per_op(bench, 'real_time')} | {time_per_op(bench, 'cpu_time')} | "
        f"{si(items, '/s') if items else ''} | {si(data, 'B/s') if data else ''} | "
        f"{cv_text} | {', '.join(others)} |")
lines += [
    "",
    "Notes: `jute/*` encode into a reused writer and decode from one frame with an",
    "arena. `tree/lookup` is store_lookup of a random existing path (a quiescent point",
    "every 256 reads); `tree/setData` and `tree/create` include encoding the request",
    "body, store_prepare, store_apply and a reclaim every 64 writes. `txnlog/*` is the",
    "in-memory entry encoding (Adler32 + framing) of a setData transaction with that",
    "many data bytes. `log_writer/stream` appends as fast as it can (at most 65536",
    "records in flight, the sequencer's SEQUENCER_PENDING_MAX) and counts until the",
    "last is durable; `log_writer/group_commit` appends `batch` records and waits",
    "until they are durable. Both use real files in /tmp (one write + one fdatasync",
    "per batch with forceSync=1); `records_per_batch` is what the writer's group",
    "commit gathered. `ring/stream` counts items, `ring/ping_pong` round trips.",
    "",
    "\"library build\" above is Google Benchmark's own (Debian's package); Cheetah's",
    "code is built as the project builds it (debugoptimized, -O2, assertions on).",
]
with open(markdown_path, "w") as handle:
    handle.write("\n".join(lines) + "\n")

for error in errors:
    print(f"micro.sh: benchmark error: {error}", file=sys.stderr)
for family in missing:
    print(f"micro.sh: no benchmark of family {family} ran", file=sys.stderr)
if not benchmarks:
    print("micro.sh: no benchmark ran", file=sys.stderr)
sys.exit(1 if errors or missing or not benchmarks else 0)
PYTHON
if ! $smoke; then
  echo "micro.sh: wrote $markdown and $json"
fi
