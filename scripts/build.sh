#!/usr/bin/env bash
# Builds the default configuration (debugoptimized, jemalloc, assertions on)
# in ./build: `meson setup` the first time, then ninja (incremental).
# Quiet on success; on failure prints the tail of meson's or ninja's output.
#   CHEETAH_BUILD_DIR  build directory (default: build)
#   CHEETAH_JOBS       ninja's parallel jobs (default: ninja's own choice)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${CHEETAH_BUILD_DIR:-build}
log_file=$(mktemp -t cheetah-build.XXXXXX)
trap 'rm -f "$log_file"' EXIT

run_logged() {
  if ! "$@" >"$log_file" 2>&1; then
    tail -n 80 "$log_file" >&2
    echo "build.sh: failed: $*" >&2
    exit 1
  fi
}

if [[ ! -f "$build_dir/build.ninja" ]]; then
  setup_mode=()
  # A directory left half-configured by an interrupted setup is redone.
  [[ -f "$build_dir/meson-private/coredata.dat" ]] && setup_mode=(--reconfigure)
  run_logged meson setup "${setup_mode[@]}" "$build_dir" --buildtype=debugoptimized \
    -Db_sanitize=none
fi
ninja_jobs=()
[[ -n "${CHEETAH_JOBS:-}" ]] && ninja_jobs=(-j "$CHEETAH_JOBS")
run_logged ninja -C "$build_dir" "${ninja_jobs[@]}"
