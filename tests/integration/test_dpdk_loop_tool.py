"""tools/cheetah-dpdk-loop, the in-memory benchmark of the DPDK transport
(issue 6): the real server on one port of a crossed net_ring pair and a
client netstack on the other, in one process. Each workload runs briefly and
must complete requests with no error (every reply is checked by xid and
error code by the tool), with one and two shards (the client steers frames
to the shard netstack_steer names, as a NIC with RSS would), and a bad EAL
line must end it with EAL's message. Figures are bench/transport.py's
business, not this test's.

Needs root (EAL) and a build with DPDK's ring PMD.
Binary: $CHEETAH_DPDK_LOOP, else build/tools/cheetah-dpdk-loop.
"""

import json
import os
import subprocess

import pytest

import dpdk_net
import servers

AVAILABLE, WHY_NOT = dpdk_net.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)

RUN_TIMEOUT_S = 90


def tool():
    path = os.environ.get("CHEETAH_DPDK_LOOP") or os.path.join(
        servers.REPO_ROOT, "build", "tools", "cheetah-dpdk-loop")
    if not os.path.exists(path):
        raise RuntimeError(f"cheetah-dpdk-loop not found at {path}: build it (needs "
                           "libdpdk-dev) or set CHEETAH_DPDK_LOOP")
    return path


def run(*arguments):
    command = [tool(), "--seconds", "1", *map(str, arguments)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    return command, done


@pytest.mark.parametrize("op", ["get", "exists", "set"])
@pytest.mark.parametrize("shards", [1, 2])
def test_workload_completes_without_errors(op, shards):
    command, done = run("--op", op, "--connections", 4, "--depth", 4, "--shards", shards)
    assert done.returncode == 0, (command, done.stdout, done.stderr[-3000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["tool"] == "cheetah-dpdk-loop" and report["op"] == op, report
    assert report["ops"] > 0 and report["errors"] == 0, report
    assert report["shards"] == shards and report["shard_threads_seen"] == shards, report
    assert report["transport_busy_cycles_per_op"] > 0, report
    assert report["p50_us"] <= report["p99_us"] <= report["max_us"], report


def test_bad_eal_arguments_end_it_with_eal_message():
    command, done = run("--eal-args", "--no-such-eal-option")
    assert done.returncode != 0, (command, done.stdout)
    assert "EAL" in done.stderr or "eal" in done.stderr, done.stderr[-3000:]
