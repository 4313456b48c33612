#!/usr/bin/env bash
# The whole test command (CI runs it through .ci/run):
#   1. install missing Debian packages;
#   2. build ./build (default), ./build-asan (address+undefined sanitizers),
#      ./build-tsan (thread sanitizer);
#   3. unit tests: every suite but 'sim' under ASan/UBSan, the 'threads' suite
#      under TSan, the 'sim' suite (2,000 seeds of the ensemble simulation) on
#      ./build;
#   4. the libFuzzer targets (clang, ./build-fuzz), each run for a bounded time
#      over a temporary copy of its in-repo corpus tests/fuzz/corpus/<name>;
#   5. the integration tests (pytest, Debian's /usr/bin/python3).
# Every stage runs under `timeout` and within one overall budget. Counts of
# every stage are summed; the LAST line printed is `N passed, N failed`
# (`, N skipped` when any). Exits non-zero when anything failed. A stage whose
# tool is missing, or that cannot build, counts as one failure. Full logs go
# to build-logs/ (covered by .gitignore's /build*/).
#
# Environment:
#   CHEETAH_BUILD_PREFIX   build directory prefix (default: build -> build,
#                          build-asan, build-tsan, build-fuzz)
#   CHEETAH_TEST_BUDGET_S  overall time budget in seconds (default 5100: CI
#                          allows 5400 for the whole run)
#   CHEETAH_FUZZ_S         seconds per fuzz target (default 60)
#   CHEETAH_JOBS           ninja's parallel jobs (default: ninja's own)
#   CHEETAH_SKIP_INSTALL=1 do not run install-deps (developer machines)
#   CHEETAH_INTEGRATION_TESTS  pytest paths (default: tests/integration)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
repo_root=$(pwd)

build_prefix=${CHEETAH_BUILD_PREFIX:-build}
build_default=$build_prefix
build_asan=$build_prefix-asan
build_tsan=$build_prefix-tsan
build_fuzz=$build_prefix-fuzz
log_dir=$repo_root/build-logs
mkdir -p "$log_dir"

budget_s=${CHEETAH_TEST_BUDGET_S:-5100}
fuzz_s=${CHEETAH_FUZZ_S:-60}
deadline_s=$(( SECONDS + budget_s ))
ninja_jobs=()
[[ -n "${CHEETAH_JOBS:-}" ]] && ninja_jobs=(-j "$CHEETAH_JOBS")

passed=0
failed=0
skipped=0
failed_stages=()

note() { printf '== %s\n' "$*"; }

# Interrupted: stop the running stage's whole process group (servers that
# tests started included), then give up.
stage_pid=
on_interrupt() {
  if [[ -n "$stage_pid" ]]; then
    kill -INT -- "-$stage_pid" 2>/dev/null
    wait "$stage_pid" 2>/dev/null
  fi
  echo "interrupted"
  exit 130
}
trap on_interrupt INT TERM

stage_failed() {  # stage_failed NAME REASON: one failure for a whole stage
  failed=$(( failed + 1 ))
  failed_stages+=("$1")
  printf '!! FAILED %s: %s\n' "$1" "$2"
}

# Seconds a stage may take: its own limit, cut to what is left of the budget.
stage_timeout() {
  local limit_s=$1 left_s=$(( deadline_s - SECONDS - 30 ))
  (( left_s < 10 )) && left_s=10
  (( limit_s < left_s )) && echo "$limit_s" || echo "$left_s"
}

# bounded LIMIT_S LOG COMMAND...: runs COMMAND under timeout, output to LOG.
# SIGINT first so that Python/pytest and meson run their cleanups (servers
# started by tests are stopped); SIGKILL 30 s later. timeout signals the
# whole process group, so children do not outlive the stage.
bounded() {
  local limit_s log_file=$2
  limit_s=$(stage_timeout "$1")
  shift 2
  # In the background so that an interrupt of this script reaches the stage
  # (timeout leads its own process group, which the terminal does not signal).
  timeout --signal=INT --kill-after=30 "$limit_s" "$@" >"$log_file" 2>&1 </dev/null &
  stage_pid=$!
  wait "$stage_pid"
  local status=$?
  stage_pid=
  (( status == 124 || status == 137 )) && echo "(timed out after ${limit_s}s)" >>"$log_file"
  return "$status"
}

show_tail() {  # show_tail LOG LINES
  echo "-- last $2 lines of $1:"
  tail -n "$2" "$1"
}

require_tools() {  # require_tools STAGE TOOL...: missing tool = failed stage
  local stage=$1 tool
  shift
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      stage_failed "$stage" "tool '$tool' not found"
      return 1
    fi
  done
}

# --- 1. dependencies --------------------------------------------------------
if [[ "${CHEETAH_SKIP_INSTALL:-}" != 1 ]]; then
  note "install-deps"
  if ! bounded 1800 "$log_dir/install-deps.log" bash scripts/install-deps.sh; then
    show_tail "$log_dir/install-deps.log" 40
    stage_failed install-deps "see build-logs/install-deps.log"
  fi
fi

# --- 2. builds --------------------------------------------------------------
# build_config NAME DIR [ENV=VALUE...] -- [meson options...]
# Builds the ninja targets in build_targets (all when empty).
build_targets=()
build_config() {
  local name=$1 dir=$2 log_file=$log_dir/build-$1.log
  shift 2
  local env_vars=()
  while (( $# )) && [[ "$1" != -- ]]; do env_vars+=("$1"); shift; done
  shift
  require_tools "build-$name" meson ninja || return 1
  : >"$log_file"
  note "build $name ($dir)"
  if [[ ! -f "$dir/build.ninja" ]]; then
    local setup_mode=()
    [[ -f "$dir/meson-private/coredata.dat" ]] && setup_mode=(--reconfigure)
    if ! bounded 600 "$log_file.setup" env "${env_vars[@]}" meson setup "${setup_mode[@]}" \
         "$dir" "$@"; then
      cat "$log_file.setup" >>"$log_file"
      show_tail "$log_file" 30
      stage_failed "build-$name" "meson setup failed, see build-logs/build-$name.log"
      return 1
    fi
    cat "$log_file.setup" >>"$log_file"
  fi
  rm -f "$log_file.setup"
  if ! bounded 1500 "$log_file.ninja" ninja -C "$dir" "${ninja_jobs[@]}" "${build_targets[@]}"; then
    cat "$log_file.ninja" >>"$log_file"
    rm -f "$log_file.ninja"
    show_tail "$log_file" 40
    stage_failed "build-$name" "ninja failed, see build-logs/build-$name.log"
    return 1
  fi
  cat "$log_file.ninja" >>"$log_file"
  rm -f "$log_file.ninja"
}

build_config default "$build_default" -- --buildtype=debugoptimized -Db_sanitize=none
default_ok=$?
build_config asan "$build_asan" -- --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false
asan_ok=$?
build_config tsan "$build_tsan" -- --buildtype=debugoptimized -Db_sanitize=thread
tsan_ok=$?

# --- 3. unit tests ----------------------------------------------------------
# meson's summary: "Ok: N", "Expected Fail: N", "Fail: N", "Unexpected Pass: N",
# "Skipped: N", "Timeout: N".
summary_count() {  # summary_count LOG LABEL
  local value
  value=$(sed -n "s/^$2:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1)
  echo "${value:-0}"
}

meson_tests() {  # meson_tests NAME DIR [meson test options...]
  local name=$1 dir=$2 log_file=$log_dir/unit-$1.log
  shift 2
  note "unit tests: $name ($dir)"
  bounded 1800 "$log_file" meson test -C "$dir" --print-errorlogs "$@"
  local status=$?
  # One line per test, then the summary.
  grep -E '^ *[0-9]+/[0-9]+ ' "$log_file" | grep -Ev ' OK |EXPECTEDFAIL' | awk '!seen[$0]++' | head -n 20
  local ok expected_fail fail unexpected_pass skip timed_out
  ok=$(summary_count "$log_file" Ok)
  expected_fail=$(summary_count "$log_file" "Expected Fail")
  fail=$(summary_count "$log_file" Fail)
  unexpected_pass=$(summary_count "$log_file" "Unexpected Pass")
  skip=$(summary_count "$log_file" Skipped)
  timed_out=$(summary_count "$log_file" Timeout)
  passed=$(( passed + ok + expected_fail ))
  failed=$(( failed + fail + unexpected_pass + timed_out ))
  skipped=$(( skipped + skip ))
  echo "   ok $ok, failed $(( fail + unexpected_pass + timed_out )), skipped $skip"
  if grep -qE '^No (suitable )?tests defined' "$log_file"; then
    echo "   (no unit tests defined yet)"
    return 0
  fi
  if (( status != 0 && fail + unexpected_pass + timed_out == 0 )); then
    show_tail "$log_file" 30
    stage_failed "unit-$name" "meson test exited $status, see build-logs/unit-$name.log"
  elif (( status != 0 )); then
    failed_stages+=("unit-$name")
    echo "   details: build-logs/unit-$name.log (and $dir/meson-logs/testlog.txt)"
  fi
}

# Sanitizer reports are errors: stop at the first one with a stack trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

if (( asan_ok == 0 )); then
  meson_tests asan "$build_asan" --no-suite sim
fi
if (( tsan_ok == 0 )); then
  meson_tests tsan "$build_tsan" --suite threads
fi
# The ensemble simulation's long run (thousands of seeds) on the plain
# build; its first 200 seeds ran above under the sanitizers.
if (( default_ok == 0 )); then
  meson_tests sim "$build_default" --suite sim
fi

# --- 4. fuzzing -------------------------------------------------------------
fuzz_target_names() {  # executables named fuzz_* built under tests/fuzz
  local path
  for path in "$build_fuzz"/tests/fuzz/fuzz_*; do
    [[ -f "$path" && -x "$path" ]] && basename "$path"
  done
}

run_fuzz_target() {  # run_fuzz_target NAME
  local name=$1 corpus_name=${1#fuzz_} log_file=$log_dir/fuzz-$1.log work_dir
  work_dir=$(mktemp -d -t "cheetah-$name.XXXXXX")
  # Fuzz a copy: the repo corpus changes only when someone adds to it on
  # purpose. Crash artifacts land in tests/fuzz/ (gitignored) to reproduce.
  if [[ -d tests/fuzz/corpus/$corpus_name ]]; then
    cp -r "tests/fuzz/corpus/$corpus_name/." "$work_dir/"
  fi
  note "fuzz $name for ${fuzz_s}s (corpus tests/fuzz/corpus/$corpus_name, $(find "$work_dir" -type f | wc -l) inputs)"
  bounded $(( fuzz_s + 120 )) "$log_file" "$build_fuzz/tests/fuzz/$name" \
    -max_total_time="$fuzz_s" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$repo_root/tests/fuzz/" "$work_dir"
  local status=$?
  rm -rf "$work_dir"
  if (( status == 0 )); then
    passed=$(( passed + 1 ))
    grep -E '^(Done|stat::number_of_executed_units)' "$log_file" | sed 's/^/   /'
  else
    show_tail "$log_file" 40
    stage_failed "fuzz-$name" "exited $status, see build-logs/fuzz-$name.log"
  fi
}

if [[ ! -f tests/fuzz/meson.build ]]; then
  echo "== fuzz: no fuzz targets in the tree yet (tests/fuzz/meson.build)"
elif require_tools fuzz clang; then
  # The fuzz build needs no unit tests (-Dtests=false) once the top-level
  # meson.build enters tests/ for -Dfuzz=true alone; until then it keeps them.
  fuzz_tests_option=-Dtests=false
  grep -q "get_option('fuzz')" meson.build || fuzz_tests_option=-Dtests=true
  # Only the fuzz targets: the rest of the tree is built (and tested) by gcc
  # above; the fuzz stage is about fuzzing.
  build_targets=()
  for source in tests/fuzz/fuzz_*.c; do
    [[ -f "$source" ]] && build_targets+=("tests/fuzz/$(basename "$source" .c)")
  done
  if build_config fuzz "$build_fuzz" CC=clang -- --buildtype=debugoptimized \
       -Dfuzz=true "$fuzz_tests_option" -Db_lundef=false; then
    # The seed corpus as a regression test (suite 'fuzz', when defined).
    meson_tests fuzz-seeds "$build_fuzz" --suite fuzz --no-rebuild
    mapfile -t fuzz_targets < <(fuzz_target_names)
    if (( ${#fuzz_targets[@]} == 0 )); then
      stage_failed fuzz "tests/fuzz/meson.build exists but no fuzz_* executable was built in $build_fuzz/tests/fuzz"
    fi
    for target in "${fuzz_targets[@]}"; do
      run_fuzz_target "$target"
    done
  fi
fi

# --- 4b. microbenchmarks: a bounded smoke run (they build and run; the
# figures come from `bench/micro.sh` without --smoke) --------------------------
note "microbenchmarks smoke (bench/micro.sh --smoke)"
log_file=$log_dir/micro-smoke.log
if bounded 900 "$log_file" bash bench/micro.sh --smoke; then
  passed=$(( passed + 1 ))
  echo "   ok"
else
  failed=$(( failed + 1 ))
  failed_stages+=(micro-smoke)
  show_tail "$log_file" 30
fi

# --- 5. integration tests ---------------------------------------------------
note "integration tests (pytest)"
if [[ ! -x /usr/bin/python3 ]] || ! /usr/bin/python3 -c 'import pytest' >/dev/null 2>&1; then
  stage_failed integration "/usr/bin/python3 with pytest (python3-pytest) not found"
elif (( default_ok != 0 )); then
  stage_failed integration "the default build failed, so there is no server to test"
else
  export CHEETAH_SERVER=$repo_root/$build_default/dataplane/cheetah-server
  log_file=$log_dir/integration.log
  # -p no:cacheprovider: no .pytest_cache in the tree. -rfE: a short reason
  # line per failure and error at the end.
  read -r -a integration_paths <<<"${CHEETAH_INTEGRATION_TESTS:-tests/integration}"
  bounded 2400 "$log_file" /usr/bin/python3 -m pytest "${integration_paths[@]}" -q -rfEs \
    -p no:cacheprovider
  status=$?
  # pytest's own lines: the failure reasons and its summary.
  grep -E '^(FAILED|ERROR|SKIPPED) ' "$log_file" | head -n 40
  summary=$(grep -E '^=*[^=]*(passed|failed|error|skipped|no tests ran|deselected)[^=]* in [0-9.]+s' "$log_file" \
            | tail -n 1)
  [[ -z "$summary" ]] && summary=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log_file" | tail -n 1)
  echo "   pytest: ${summary:-no summary line}"
  pytest_count() {  # pytest_count WORD: N before WORD in the summary
    local value
    value=$(grep -oE "[0-9]+ $1" <<<"$summary" | head -n 1 | cut -d' ' -f1)
    echo "${value:-0}"
  }
  p_passed=$(pytest_count passed); p_failed=$(pytest_count failed)
  p_errors=$(pytest_count 'errors?'); p_skipped=$(pytest_count skipped)
  p_xfailed=$(pytest_count xfailed); p_xpassed=$(pytest_count xpassed)
  passed=$(( passed + p_passed + p_xfailed + p_xpassed ))
  failed=$(( failed + p_failed + p_errors ))
  skipped=$(( skipped + p_skipped ))
  # 0 all passed; 1 some failed; 5 none collected (not a failure while the
  # suite is young); anything else is pytest itself failing.
  if (( status == 1 )); then
    failed_stages+=(integration)
    (( p_failed + p_errors == 0 )) && stage_failed integration "pytest exited 1 with no failure counted"
    echo "   details: build-logs/integration.log"
  elif (( status != 0 && status != 5 )); then
    show_tail "$log_file" 40
    stage_failed integration "pytest exited $status, see build-logs/integration.log"
  fi
fi

# --- summary ----------------------------------------------------------------
if (( ${#failed_stages[@]} )); then
  echo "failed stages: ${failed_stages[*]}"
fi
summary_line="$passed passed, $failed failed"
(( skipped > 0 )) && summary_line+=", $skipped skipped"
echo "$summary_line"
(( failed == 0 && ${#failed_stages[@]} == 0 ))
