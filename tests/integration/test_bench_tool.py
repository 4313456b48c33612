"""tools/cheetah-bench, the load generator (issue 4): every workload against
Cheetah (and get/set/create/watch against Apache ZooKeeper 3.8), checked by
its JSON and by what it did to the server's tree; open loop keeps its rate and
shows a paused server in its tail (no coordinated omission); --server-pid
reports server CPU; 1000 connections work; failures end the run with a clear
message instead of a hang.

Binary: $CHEETAH_BENCH, else build/tools/cheetah-bench of the repository.
Ports 22900-22949.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

CHEETAH_PORT = 22900
ZOOKEEPER_PORT = 22901
MANY_CONNECTIONS_PORT = 22902
DYING_PORT = 22903
PAUSED_PORT = 22904
ERRORS_PORT = 22905
UNUSED_PORT = 22949
RUN_TIMEOUT_S = 30


def bench_binary():
    path = os.environ.get("CHEETAH_BENCH") or os.path.join(
        servers.REPO_ROOT, "build", "tools", "cheetah-bench")
    if not os.path.exists(path):
        raise RuntimeError(f"cheetah-bench not found at {path}: build it "
                           "(ninja -C build tools/cheetah-bench) or set CHEETAH_BENCH")
    return path


def run_bench(address, *args, seconds=1, check=True):
    command = [bench_binary(), "--server", address, "--seconds", str(seconds), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if check:
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        check_report(report)
        return report
    return result


def check_report(report):
    assert report["ops"] > 0, report
    assert report["errors"] == 0, report
    assert report["errors_by_kind"] == {}, report
    assert (report["p50_us"] <= report["p90_us"] <= report["p99_us"] <= report["p999_us"]
            <= report["max_us"]), report
    assert report["ops_per_second"] > 0, report
    for key in ("workload", "connections", "depth", "threads", "rate", "seconds", "late",
                "server_cpu_us_per_op", "completed", "value_bytes"):
        assert key in report, key


@pytest.fixture(scope="module")
def cheetah():
    with servers.cheetah(CHEETAH_PORT) as server:
        yield server


@pytest.fixture(scope="module")
def zookeeper():
    with servers.zookeeper(ZOOKEEPER_PORT) as server:
        yield server


def kazoo(server):
    client = KazooClient(hosts=server.address, timeout=10)
    client.start(timeout=10)
    return client


def test_help_prints_usage():
    result = subprocess.run([bench_binary(), "--help"], capture_output=True, text=True,
                            timeout=10)
    assert result.returncode == 0
    for word in ("--op", "create-seq", "--rate", "--watchers", "--server-pid", "--threads",
                 "--keys", "--warmup-seconds", "--read-percent"):
        assert word in result.stdout


def test_bad_option_is_refused():
    result = subprocess.run([bench_binary(), "--op", "frobnicate"], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode == 2 and "--op" in result.stderr


@pytest.mark.parametrize("workload", [
    ["--op", "get"],
    ["--op", "set", "--connections", "2", "--depth", "4"],
    ["--op", "exists", "--keys", "100", "--key-order", "round-robin"],
    ["--op", "children", "--keys", "20"],
    ["--op", "mixed", "--read-percent", "70", "--keys", "10", "--connections", "2"],
    ["--op", "get", "--threads", "3", "--connections", "6", "--depth", "2", "--keys", "50"],
])
def test_read_write_workloads_on_cheetah(cheetah, workload):
    report = run_bench(cheetah.address, *workload)
    assert report["workload"] == workload[1]
    assert report["rate"] is None and report["server_cpu_us_per_op"] is None


def test_old_command_line_same_workload(cheetah):
    """Today's flags give today's workload: the single /cheetah-bench node."""
    report = run_bench(cheetah.address, "--op", "set", "--connections", "1", "--depth", "1",
                       "--value-bytes", "7")
    assert report["op"] == "set" and report["keys"] == 1
    client = kazoo(cheetah)
    try:
        data, stat = client.get("/cheetah-bench")
        assert data == b"v" * 7
        assert stat.version >= report["ops"]
    finally:
        client.stop()


def test_keys_are_created_and_mixed_writes(cheetah):
    client = kazoo(cheetah)
    try:
        before = client.get("/cheetah-bench/k3")[1].version if client.exists(
            "/cheetah-bench/k3") else 0
        report = run_bench(cheetah.address, "--op", "mixed", "--read-percent", "50", "--keys",
                           "8", "--key-order", "round-robin", "--depth", "4")
        assert report["read_percent"] == 50
        for key in range(8):
            assert client.exists(f"/cheetah-bench/k{key}")
        after = client.get("/cheetah-bench/k3")[1].version
        # Round robin over 8 keys with half the requests setData: k3 got about
        # ops / 16 writes.
        assert after - before >= report["ops"] / 16 / 3
    finally:
        client.stop()


def children_count(client, path):
    return len(client.get_children(path)) if client.exists(path) else 0


def test_create_makes_nodes(cheetah):
    client = kazoo(cheetah)
    try:
        before = children_count(client, "/cheetah-bench-create")
        report = run_bench(cheetah.address, "--op", "create", "--connections", "2")
        made = children_count(client, "/cheetah-bench-create") - before
        # Every counted create made a node; a few more may complete after the window.
        assert report["ops"] <= made <= report["ops"] + 200, (report["ops"], made)
    finally:
        client.stop()


def test_create_seq_names_are_sequential(cheetah):
    client = kazoo(cheetah)
    try:
        before = children_count(client, "/cheetah-bench-seq")
        report = run_bench(cheetah.address, "--op", "create-seq", "--connections", "2",
                           "--depth", "2")
        names = client.get_children("/cheetah-bench-seq")
        numbers = sorted(int(re.fullmatch(r"n-(\d{10})", name).group(1)) for name in names)
        assert numbers == list(range(len(numbers)))
        assert report["ops"] <= len(numbers) - before <= report["ops"] + 200
    finally:
        client.stop()


def test_delete_removes_what_setup_made(cheetah):
    report = run_bench(cheetah.address, "--op", "delete", "--keys", "600", "--connections", "3",
                       seconds=5)
    assert report["ran_out"] is True
    assert report["ops"] == 600
    assert report["seconds"] < 5
    client = kazoo(cheetah)
    try:
        assert client.get_children("/cheetah-bench-delete") == []
    finally:
        client.stop()


def test_watch_reports_notifications(cheetah):
    report = run_bench(cheetah.address, "--op", "watch", "--connections", "2", "--watchers", "4")
    assert report["watchers"] == 4
    assert report["notifications"] > 0
    assert report["notifications_unmatched"] <= report["notifications"] // 10 + 4
    assert 0 < report["notify_max_us"]
    assert (report["notify_p50_us"] <= report["notify_p90_us"] <= report["notify_p99_us"]
            <= report["notify_p999_us"] <= report["notify_max_us"])
    # Each watcher sees at most one event per write.
    assert report["notifications"] <= 4 * (report["ops"] + 50)


def test_server_cpu_per_op(cheetah):
    report = run_bench(cheetah.address, "--op", "get", "--depth", "8", "--server-pid",
                       cheetah.pid)
    assert report["server_cpu_us_per_op"] > 0
    assert report["server_cpu_percent"] > 0


def test_warmup_is_not_measured(cheetah):
    started = time.monotonic()
    report = run_bench(cheetah.address, "--op", "get", "--warmup-seconds", "1")
    assert time.monotonic() - started >= 2.0
    assert 0.9 <= report["seconds"] <= 1.3
    assert report["warmup_seconds"] == 1


def test_open_loop_keeps_its_rate(cheetah):
    report = run_bench(cheetah.address, "--op", "get", "--rate", "300", "--connections", "3",
                       seconds=2)
    assert report["rate"] == 300
    assert 200 <= report["achieved_rate"] <= 400, report
    assert report["ops"] >= 400


def test_open_loop_counts_a_paused_server():
    """SIGSTOP the server for 0.5 s during an open-loop run: the requests due
    during the pause are measured from their intended send times, so the
    stall shows up in p99.9 and max and many requests are late."""
    with servers.cheetah(PAUSED_PORT) as server:
        pause_done = threading.Event()

        def pause():
            time.sleep(0.8)
            os.kill(server.pid, signal.SIGSTOP)
            try:
                time.sleep(0.5)
            finally:
                os.kill(server.pid, signal.SIGCONT)
                pause_done.set()

        pauser = threading.Thread(target=pause)
        pauser.start()
        try:
            report = run_bench(server.address, "--op", "get", "--rate", "400",
                               "--connections", "2", seconds=2)
        finally:
            pauser.join(timeout=5)
            os.kill(server.pid, signal.SIGCONT)
        assert pause_done.is_set()
        assert report["max_us"] >= 400000, report
        # About 200 of 800 requests were due during the pause; the longest
        # waited almost the whole 0.5 s.
        assert report["p999_us"] >= 300000, report
        assert report["p90_us"] >= 100000, report


def test_errors_are_counted_by_kind():
    """setData on a node whose ACL allows only reads: every reply is NOAUTH,
    counted (not fatal) and named in errors_by_kind."""
    with servers.cheetah(ERRORS_PORT) as server:
        client = kazoo(server)
        try:
            from kazoo.security import make_acl
            client.create("/cheetah-bench", b"x", acl=[make_acl("world", "anyone", read=True)])
        finally:
            client.stop()
        result = run_bench(server.address, "--op", "set", "--depth", "4", check=False)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["ops"] > 0
        assert report["errors"] == report["ops"]
        assert report["errors_by_kind"] == {"NOAUTH": report["ops"]}
        assert "errors" in result.stdout.splitlines()[0]


def test_progress_line_on_long_runs(cheetah):
    result = run_bench(cheetah.address, "--op", "get", "--rate", "200", seconds=10,
                       check=False)
    assert result.returncode == 0, result.stderr
    progress = re.findall(r"cheetah-bench: (\d+) s: (\d+) ops/s", result.stderr)
    assert 8 <= len(progress) <= 11, result.stderr
    assert all(150 <= int(rate) <= 250 for _, rate in progress), progress
    short = run_bench(cheetah.address, "--op", "get", check=False)
    assert "ops/s" not in short.stderr


def test_thousand_connections():
    with servers.cheetah(MANY_CONNECTIONS_PORT, {"maxClientCnxns": "0"}) as server:
        report = run_bench(server.address, "--op", "get", "--connections", "1000",
                           "--threads", "2")
        assert report["connections"] == 1000
        assert report["ops"] >= 1000


def test_unreachable_server_fails_clearly():
    started = time.monotonic()
    result = run_bench(f"127.0.0.1:{UNUSED_PORT}", "--op", "get", check=False)
    assert result.returncode != 0
    assert "cheetah-bench" in result.stderr and str(UNUSED_PORT) in result.stderr
    assert time.monotonic() - started < 15


def test_server_dying_mid_run_fails_clearly():
    with servers.cheetah(DYING_PORT) as server:
        killer = threading.Timer(0.7, lambda: os.kill(server.pid, signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        try:
            result = run_bench(server.address, "--op", "get", "--connections", "3", seconds=20,
                               check=False)
        finally:
            killer.join()
        assert result.returncode != 0
        assert re.search(r"connection \d+ \(127\.0\.0\.1:\d+\): the server closed the connection",
                         result.stderr), result.stderr
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("workload", [
    ["--op", "get", "--connections", "2", "--depth", "4"],
    ["--op", "set", "--connections", "2", "--depth", "4"],
    ["--op", "create"],
    ["--op", "watch", "--watchers", "2"],
])
def test_workloads_on_zookeeper(zookeeper, workload):
    report = run_bench(zookeeper.address, *workload)
    if workload[1] == "watch":
        assert report["notifications"] > 0


def test_create_on_zookeeper_makes_nodes(zookeeper):
    client = kazoo(zookeeper)
    try:
        before = children_count(client, "/cheetah-bench-create")
        report = run_bench(zookeeper.address, "--op", "create-seq")
        names = client.get_children("/cheetah-bench-seq")
        numbers = sorted(int(name[2:]) for name in names)
        assert numbers == list(range(len(numbers)))
        assert len(numbers) >= report["ops"]
        assert children_count(client, "/cheetah-bench-create") >= before
    finally:
        client.stop()


def test_refused_connection_fails_clearly(zookeeper):
    """ZooKeeper's default maxClientCnxns is 60: the 61st session is closed,
    and the bench names it and exits non-zero instead of hanging."""
    started = time.monotonic()
    result = run_bench(zookeeper.address, "--op", "get", "--connections", "80", check=False)
    assert result.returncode != 0
    assert re.search(r"connection \d+ \(127\.0\.0\.1:\d+\): handshake failed", result.stderr), \
        result.stderr
    assert time.monotonic() - started < 15
