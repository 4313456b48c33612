"""Real clients' suites over the DPDK transport (issue 6), clean and impaired.

kazoo's own test suite (the installed python3-kazoo's 479 tests, run by
kazoo_suite/runner.py as test_kazoo_suite.py does), zkCli.sh and
cheetah-bench reach Cheetah's own TCP/IP over DPDK's tap PMD (dpdk_net.py:
Cheetah in a network namespace, the clients in it too), with 2 shards so
that software steering is on the path. The results must be the ones the
same suite gets from Cheetah on the io_uring transport, run here in the same
session:

  * clean tap: every test that passes over io_uring passes over DPDK;
  * impaired tap: the same, with loss, delay with jitter, duplication and
    reordering on the link in both directions (IMPAIRMENT). This kernel has
    no netem (`tc qdisc add ... netem`: "Specified qdisc kind is unknown"),
    so impair_relay.py does netem's work in userspace between the kernel's
    side and the DPDK tap; the test asserts the impairment really happened
    (the relay's counters) and that Cheetah's TCP really recovered from it
    (retransmissions and out-of-order segments in mntr's zk_dpdk_* keys).

kazoo's tests are timing-based; as in test_kazoo_suite.py, at most
RETRY_TESTS_MAX tests that passed over io_uring and failed here are run once
more against the same server (and the same impairment), and a test that then
passes counts as passed (printed as flaky).

Needs root and a cheetah-server built with DPDK. Loopback ports 24650-24669
(the io_uring reference run).
"""

import json
import os
import subprocess
import tempfile

import pytest

import dpdk_net
import servers
from kazoo_suite import runner

AVAILABLE, WHY_NOT = dpdk_net.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)

URING_PORTS = range(24650, 24670)
SHARDS = 2
# Percentages and milliseconds, per direction (impair_relay.py's options).
IMPAIRMENT = {"loss": 1, "delay_ms": 2, "jitter_ms": 1, "duplicate": 1, "reorder": 5}
IMPAIRMENT_SEED = 6
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
ZKCLI_TIMEOUT_S = 90.0
BENCH_SECONDS = 2
BENCH_TIMEOUT_S = 60.0
BENCH_WORKLOADS = (["--op", "create"], ["--op", "get"], ["--op", "set"],
                   ["--op", "mixed", "--read-percent", "90"])


def bench_binary():
    path = os.environ.get("CHEETAH_BENCH") or os.path.join(
        servers.REPO_ROOT, "build", "tools", "cheetah-bench")
    if not os.path.exists(path):
        raise RuntimeError(f"cheetah-bench not found at {path}: build it or set CHEETAH_BENCH")
    return path


@pytest.fixture(scope="module")
def workdir():
    return tempfile.mkdtemp(prefix="kazoo-suite-dpdk-")


@pytest.fixture(scope="module")
def uring_run(workdir):
    run, _ = runner.run_suite("cheetah", runner.free_port(URING_PORTS), workdir)
    print(run.summary())
    return run


@pytest.fixture(scope="module")
def clean_server():
    with dpdk_net.dpdk_server(shards=SHARDS, extra_config=runner.SERVER_CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def impaired_server():
    with dpdk_net.impaired_dpdk_server(IMPAIRMENT, shards=SHARDS,
                                       extra_config=runner.SERVER_CONFIG,
                                       seed=IMPAIRMENT_SEED) as server:
        yield server


def run_suite_over(server, workdir, label, uring_run):
    run, flaky = runner.run_suite_against(server.address, workdir, label,
                                          retry_failures_of=uring_run,
                                          command_prefix=server.command_prefix)
    print(run.summary())
    if flaky:
        print("passed only on the second try:\n  " + "\n  ".join(flaky))
    return run


def assert_same_results(uring_run, run):
    assert not run.collect_errors, run.summary()
    assert not run.deadline_hit, run.summary()
    assert run.collected == uring_run.collected, (uring_run.summary(), run.summary())
    lost = runner.regressions(uring_run, run)
    assert not lost, (f"{len(lost)} tests pass over io_uring and not over DPDK "
                      f"({run.summary()}):\n" + runner.format_regressions(lost))
    assert set(run.with_status("skipped")) == set(uring_run.with_status("skipped"))


def test_kazoo_suite_over_dpdk_as_over_io_uring(uring_run, clean_server, workdir):
    assert len(uring_run.with_status("passed")) > 400, uring_run.summary()
    run = run_suite_over(clean_server, workdir, "cheetah-dpdk", uring_run)
    assert_same_results(uring_run, run)
    values = clean_server.mntr()
    # Hundreds of the suite's sessions, spread over both shards.
    for shard in range(SHARDS):
        assert values[f"zk_dpdk_shard{shard}_tcp_connections_opened"] > 50, values


def test_kazoo_suite_over_impaired_dpdk_as_over_io_uring(uring_run, impaired_server, workdir):
    before = impaired_server.mntr()
    run = run_suite_over(impaired_server, workdir, "cheetah-dpdk-impaired", uring_run)
    assert_same_results(uring_run, run)
    after = impaired_server.mntr()
    # Cheetah's TCP saw the impairment and recovered from it.
    for key in ("zk_dpdk_tcp_retransmissions", "zk_dpdk_tcp_segments_out_of_order"):
        assert after[key] > before[key], (key, before[key], after[key])


def test_zkcli_over_impaired_dpdk(impaired_server):
    value = "x" * 3000   # more than one segment each way
    # zkCli.sh exits with its last command's status: the failing stat is not last.
    commands = (f"create /impaired {value}\nget /impaired\n"
                "delete /impaired\nstat /impaired\nls /zookeeper\nquit\n")
    done = subprocess.run([*impaired_server.command_prefix, ZKCLI, "-server",
                           impaired_server.address], input=commands, capture_output=True,
                          text=True, timeout=ZKCLI_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert value in lines, done.stdout[-3000:]
    assert any("Node does not exist: /impaired" in line
               for line in (done.stdout + done.stderr).splitlines()), done.stdout[-3000:]


def run_bench(server, arguments):
    command = [*server.command_prefix, bench_binary(), "--server", server.address,
               "--seconds", str(BENCH_SECONDS), "--connections", "16", "--depth", "8",
               *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ops"] > 0 and report["errors"] == 0, report
    assert report["errors_by_kind"] == {}, report
    return report


@pytest.mark.parametrize("arguments", BENCH_WORKLOADS, ids=lambda a: " ".join(a))
def test_cheetah_bench_over_dpdk(clean_server, arguments):
    run_bench(clean_server, arguments)


@pytest.mark.parametrize("arguments", BENCH_WORKLOADS, ids=lambda a: " ".join(a))
def test_cheetah_bench_over_impaired_dpdk(impaired_server, arguments):
    run_bench(impaired_server, arguments)


def test_relay_really_impaired_both_directions(impaired_server):
    """Last in the module: stops the relay and reads its counters (after
    traffic of its own, so that it also holds when run alone)."""
    run_bench(impaired_server, ["--op", "set", "--value-bytes", "2000"])
    stats = impaired_server.stop_relay()
    for direction in ("to_server", "to_client"):
        counters = stats[direction]
        for key in ("dropped", "duplicated", "reordered", "delayed"):
            assert counters[key] > 0, (direction, key, stats)
