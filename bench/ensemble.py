#!/usr/bin/python3
"""3-server ensembles side by side: Apache ZooKeeper 3.8 and Cheetah, same
zoo.cfg values (forceSync=yes, tickTime=500, initLimit=10, syncLimit=5),
same load generator (tools/cheetah-bench), one run, one machine.

    /usr/bin/python3 bench/ensemble.py [--seconds 5] [--failovers 3]

Measures, for each kind:

  - fsync'd setData throughput and latency (p50/p99/p99.9) through the
    leader and through a follower (which forwards to the leader), at
    1 connection x depth 1, 16 connections x depth 8 and 64 connections x
    depth 1, closed loop, 100-byte values over 1,000 keys;
  - failover: the leader is SIGKILLed while 3 clients write through all
    three servers; the time from the kill to the first acknowledged write
    that was sent after it (median of --failovers runs).

All three servers of an ensemble share this machine's 2 cores and one disk,
so these are figures for the protocol and the implementation, not for a
real deployment. Writes bench/results/ensemble.md and ensemble.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import ensemble  # noqa: E402
import servers  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException  # noqa: E402

BUILD = os.environ.get("CHEETAH_BUILD_DIR", os.path.join(REPO, "build"))
BENCH = os.path.join(BUILD, "tools", "cheetah-bench")
RESULTS = os.path.join(HERE, "results")
PORT_BASE = {"zookeeper": 23700, "cheetah": 23760}
VALUE_BYTES = 100
KEYS = 1000
SHAPES = [("1x1", 1, 1), ("16x8", 16, 8), ("64x1", 64, 1)]
FAILOVER_WRITERS = 3
FAILOVER_TIMEOUT_S = 60.0
CONFIG = {"forceSync": "yes", "maxClientCnxns": "0"}


def bench(address, pid, arguments, seconds):
    command = [BENCH, "--server", address, "--seconds", str(seconds), "--warmup-seconds", "1",
               "--value-bytes", str(VALUE_BYTES), "--keys", str(KEYS), "--server-pid", str(pid),
               *arguments]
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 300)
    if done.returncode != 0:
        raise RuntimeError(f"cheetah-bench failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def writer(group, stop, acked, index, run):
    client = KazooClient(hosts=group.connect_string(), timeout=6.0,
                         connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
    client.start(timeout=30)
    try:
        number = 0
        while not stop.is_set():
            sent_at = time.monotonic()
            try:
                client.create(f"/failover/r{run}-w{index}-{number}", b"x")
            except KazooException:
                time.sleep(0.02)
                continue
            finally:
                number += 1
            acked.append((sent_at, time.monotonic()))
    finally:
        client.stop()
        client.close()


def failover_once(group, run):
    """Kills the leader under write load; returns ms from the kill to the
    first acknowledged write sent after it."""
    leader = group.wait_for_leader()
    stop = threading.Event()
    acked = []
    threads = [threading.Thread(target=writer, args=(group, stop, acked, index, run))
               for index in range(FAILOVER_WRITERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2.0)
        killed_at = time.monotonic()
        group.kill(leader)
        deadline = killed_at + FAILOVER_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(sent > killed_at for sent, _ in list(acked)):
                break
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    after = [done for sent, done in acked if sent > killed_at]
    if not after:
        raise RuntimeError("no write was acknowledged after the leader was killed")
    group.start(leader)
    group.wait_for_leader()
    return 1000.0 * (min(after) - killed_at)


def measure(kind, seconds, failovers):
    results = {"writes": [], "failover_ms": []}
    with ensemble.running(kind, 3, PORT_BASE[kind], extra_config=CONFIG) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        for role, server_id in (("leader", leader), ("follower", follower)):
            server = group.servers[server_id]
            for shape, connections, depth in SHAPES:
                result = bench(group.address(server_id), server.pid,
                               ["--op", "set", "--connections", str(connections), "--depth",
                                str(depth)], seconds)
                results["writes"].append({**result, "through": role, "shape": shape})
        setup = KazooClient(hosts=group.connect_string(), timeout=10.0)
        setup.start(timeout=30)
        setup.ensure_path("/failover")
        setup.stop()
        setup.close()
        for run in range(failovers):
            results["failover_ms"].append(failover_once(group, run))
    return results


def row(measured, through, shape):
    return next(r for r in measured["writes"] if r["through"] == through and r["shape"] == shape)


def render(results, seconds):
    zk, ch = results["zookeeper"], results["cheetah"]
    lines = [
        "# 3-server ensembles: Cheetah and Apache ZooKeeper 3.8",
        "",
        f"Command: `/usr/bin/python3 bench/ensemble.py --seconds {seconds} "
        f"--failovers {len(zk['failover_ms'])}` (same run, same 2-core machine; all six "
        "servers share its cores and disk). forceSync=yes, setData of 100 bytes over 1,000 "
        "keys, closed loop; `through` is the server the clients talk to (a follower "
        "forwards each write to the leader).",
        "",
        "| through | shape (conns x depth) | ZooKeeper ops/s | Cheetah ops/s | ratio | "
        "ZooKeeper p50 / p99 / p99.9 (us) | Cheetah p50 / p99 / p99.9 (us) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for through in ("leader", "follower"):
        for shape, _, _ in SHAPES:
            z, c = row(zk, through, shape), row(ch, through, shape)
            ratio = c["ops_per_second"] / z["ops_per_second"] if z["ops_per_second"] else 0
            lines.append(
                f"| {through} | {shape} | {z['ops_per_second']:,.0f} | "
                f"{c['ops_per_second']:,.0f} | {ratio:.1f}x | "
                f"{z['p50_us']:,} / {z['p99_us']:,} / {z['p999_us']:,} | "
                f"{c['p50_us']:,} / {c['p99_us']:,} / {c['p999_us']:,} |")
    zf, cf = zk["failover_ms"], ch["failover_ms"]
    lines += [
        "",
        "Failover: SIGKILL of the leader while 3 clients write through all three servers; "
        "time from the kill to the first acknowledged write sent after it.",
        "",
        "| | ZooKeeper | Cheetah |",
        "|---|---:|---:|",
        f"| median (ms) | {statistics.median(zf):,.0f} | {statistics.median(cf):,.0f} |",
        f"| runs (ms) | {', '.join(f'{v:,.0f}' for v in zf)} | "
        f"{', '.join(f'{v:,.0f}' for v in cf)} |",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--render-only", action="store_true",
                        help="redo ensemble.md from ensemble.json")
    args = parser.parse_args()
    json_path = os.path.join(RESULTS, "ensemble.json")
    if args.render_only:
        with open(json_path) as source:
            saved = json.load(source)
        results, seconds = saved["results"], saved["seconds"]
    else:
        servers.cheetah_binary()  # fail early when the server is not built
        results = {kind: measure(kind, args.seconds, args.failovers)
                   for kind in ("zookeeper", "cheetah")}
        seconds = args.seconds
        os.makedirs(RESULTS, exist_ok=True)
        with open(json_path, "w") as out:
            json.dump({"seconds": seconds, "results": results}, out, indent=1)
    text = render(results, seconds)
    with open(os.path.join(RESULTS, "ensemble.md"), "w") as out:
        out.write(text)
    print(text)


if __name__ == "__main__":
    main()
