#!/usr/bin/env bash
# Installs the Debian 12 packages Cheetah needs to build, test and compare
# against Apache ZooKeeper. Idempotent and quiet: when every package is
# already installed it does not run apt-get at all; otherwise it runs
# `apt-get update` once and installs only the missing ones. Prints nothing
# unless something fails (then apt's log is shown).
set -euo pipefail

# Build: compilers (gcc is the default, clang builds the libFuzzer targets
# and its runtime libraries hold libFuzzer and the sanitizers), meson/ninja,
# and the libraries the code links. libdpdk-dev (DPDK 22.11) is the
# kernel-bypass transport (cheetah.dataplane=dpdk); without it meson builds
# a server that refuses that setting with a clear message.
build_packages=(
  gcc clang libclang-rt-14-dev meson ninja-build pkg-config
  liburing-dev libjemalloc-dev libcmocka-dev libbenchmark-dev g++
  libdpdk-dev
)
# Reference and clients: Apache ZooKeeper 3.8 (the reference server, the
# Java zkCli.sh; it runs on the JRE), the C client tools (cli_mt) and
# library, kazoo and pytest for the integration tests (run by Debian's
# /usr/bin/python3), matplotlib for the comparison's plots. coreutils gives
# `timeout`, procps `ps`/`kill`, iproute2 `ip` (the partition test makes
# its own network namespaces), iputils-ping `ping` (ICMP echo to the DPDK
# transport's own IP stack).
reference_packages=(
  zookeeper zookeeper-bin libzookeeper-mt-dev default-jre-headless
  python3 python3-kazoo python3-pytest python3-matplotlib coreutils procps iproute2
  iputils-ping
)
packages=("${build_packages[@]}" "${reference_packages[@]}")

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)
  if [[ "$status" != ii* ]]; then
    missing+=("$package")
  fi
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi

apt_command=(apt-get)
if (( EUID != 0 )); then
  if command -v sudo >/dev/null 2>&1; then
    apt_command=(sudo DEBIAN_FRONTEND=noninteractive apt-get)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root (no sudo)" >&2
    exit 1
  fi
fi

log_file=$(mktemp -t cheetah-install-deps.XXXXXX)
trap 'rm -f "$log_file"' EXIT
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg (unattended upgrades) rather than failing at once.
apt_options=(-y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
             -o Dpkg::Options::=--force-confold)
if ! "${apt_command[@]}" "${apt_options[@]}" update >"$log_file" 2>&1 ||
   ! "${apt_command[@]}" "${apt_options[@]}" install --no-install-recommends \
       "${missing[@]}" >>"$log_file" 2>&1; then
  tail -n 60 "$log_file" >&2
  echo "install-deps: failed to install: ${missing[*]}" >&2
  exit 1
fi
