#!/usr/bin/python3
"""The transports side by side: Cheetah over DPDK with an in-memory port,
over io_uring sockets, over DPDK with a tap, and Apache ZooKeeper 3.8, one
run, one machine.

    /usr/bin/python3 bench/transport.py [--seconds 3] [--repeat 3] [--build build]

  (a) tools/cheetah-dpdk-loop: the whole stack in one process (the real
      server on a net_ring port, a client netstack on the crossed port), so
      no kernel and no NIC: what Cheetah itself costs per request;
  (b) Cheetah with the io_uring transport on 127.0.0.1, driven by
      tools/cheetah-bench over loopback TCP;
  (c) Cheetah with the DPDK transport over net_tap in a network namespace
      (tests/integration/dpdk_net.py), cheetah-bench in that namespace
      talking kernel TCP to the tap;
  (d) Apache ZooKeeper 3.8 on 127.0.0.1 (tests/integration/servers.py),
      cheetah-bench.
Each for getData and setData (forceSync=yes, as bench/compare.py), at
1 connection x depth 1 and 16 connections x depth 8, 100-byte values over
1,000 keys, closed loop, 1 s warmup then --seconds measured, --repeat runs
per cell (the table shows the run with the median throughput: this machine
is shared, and polling threads suffer most from a neighbour). Cheetah runs
one shard in every case (cheetah.shards=1).

Writes bench/results/transport.md and transport.json. About 4 minutes with
the defaults. Needs root for (c) (a tap and a namespace); without it (c) is
left out and the table says so.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import servers  # noqa: E402
import dpdk_net  # noqa: E402

RESULTS = os.path.join(HERE, "results")
# This helper's loopback ports and namespace names (bench/transport.py owns
# 24600-24649, namespaces chb*, 10.79.0.0/16).
URING_PORT = 24610
ZOOKEEPER_PORT = 24620
dpdk_net.NAME_PREFIX = "chb"
dpdk_net.SUBNET_PREFIX = "10.79"
VALUE_BYTES = 100
KEYS = 1000
WARMUP_SECONDS = 1
SERVER_CONFIG = {"maxClientCnxns": "0", "forceSync": "yes"}
CHEETAH_CONFIG = {**SERVER_CONFIG, "cheetah.shards": "1"}
OPS = [("get", "getData"), ("set", "setData")]
SHAPES = [("1x1", 1, 1), ("16x8", 16, 8)]
RUN_TIMEOUT_S = 300
TRANSPORTS = [
    ("dpdk-memory", "Cheetah, DPDK in-memory port (net_ring, one process)"),
    ("uring", "Cheetah, io_uring, loopback TCP"),
    ("dpdk-tap", "Cheetah, DPDK over net_tap (kernel TCP client in a namespace)"),
    ("zookeeper", "Apache ZooKeeper 3.8, loopback TCP"),
]


def run_json(command, timeout_s=RUN_TIMEOUT_S):
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    print("  " + done.stdout.strip().splitlines()[-2], flush=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_command(build, address, pid, op, connections, depth, seconds):
    return [os.path.join(build, "tools", "cheetah-bench"), "--server", address,
            "--op", op, "--connections", str(connections), "--depth", str(depth),
            "--seconds", str(seconds), "--warmup-seconds", str(WARMUP_SECONDS),
            "--value-bytes", str(VALUE_BYTES), "--keys", str(KEYS),
            "--server-pid", str(pid)]


def row(transport, op, shape, result, **extra):
    # The 1-minute load average as the run ends: this machine is shared, and
    # polling threads lose most when more threads want its 2 cores.
    return {"transport": transport, "op": op, "shape": shape,
            "load_average_1m": os.getloadavg()[0],
            "ops_per_second": result["ops_per_second"],
            "p50_us": result.get("p50_us"), "p99_us": result.get("p99_us"),
            "server_cpu_us_per_op": result.get("server_cpu_us_per_op"),
            "raw": result, **extra}


def median_row(rows):
    """The repeat with the median throughput (all throughputs kept beside it)."""
    ordered = sorted(rows, key=lambda r: r["ops_per_second"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["repeat_ops_per_second"] = [r["ops_per_second"] for r in rows]
    return chosen


def measure_memory(build, seconds, repeat, transport="dpdk-memory", extra=(),
                   shapes=SHAPES):
    rows = []
    for op, _ in OPS:
        for shape, connections, depth in shapes:
            rows.append(median_row([memory_cell(build, seconds, op, shape, connections, depth,
                                                transport, extra)
                                    for _ in range(repeat)]))
    return rows


def memory_cell(build, seconds, op, shape, connections, depth, transport, extra):
    result = run_json([os.path.join(build, "tools", "cheetah-dpdk-loop"), "--op", op,
                       "--connections", str(connections), "--depth", str(depth),
                       "--seconds", str(seconds), "--warmup-seconds", str(WARMUP_SECONDS),
                       "--value-bytes", str(VALUE_BYTES), "--keys", str(KEYS),
                       "--shards", "1", "--force-sync", "yes", *extra])
    return row(transport, op, shape, result,
               transport_busy_cycles_per_op=result["transport_busy_cycles_per_op"],
               shard_cpu_us_per_op=result["shard_cpu_us_per_op"],
               client_cycles_per_op=result["client_cycles_per_op"],
               client_busy_cycles_per_op=result["client_busy_cycles_per_op"])


def measure_socket_server(kind, transport, build, port, config, seconds, repeat):
    rows = []
    server = servers.start(kind, port, config)
    try:
        for op, _ in OPS:
            for shape, connections, depth in SHAPES:
                rows.append(median_row([
                    row(transport, op, shape,
                        run_json(bench_command(build, server.address, server.pid, op,
                                               connections, depth, seconds)))
                    for _ in range(repeat)]))
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
    return rows


MNTR_INTERVAL_S = 0.25


def busy_cycles(server):
    try:
        return server.mntr().get("zk_dpdk_busy_cycles")
    except OSError:
        return None


def run_json_sampling(command, sample, timeout_s=RUN_TIMEOUT_S):
    """Runs `command` like run_json while calling sample() every
    MNTR_INTERVAL_S; returns (result, [(monotonic time, value)], exit time)."""
    print("+ " + " ".join(command), flush=True)
    samples = []
    deadline = time.monotonic() + timeout_s
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        while process.poll() is None and time.monotonic() < deadline:
            value = sample()
            if value is not None:
                samples.append((time.monotonic(), value))
            time.sleep(MNTR_INTERVAL_S)
        exited = time.monotonic()
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate(timeout=timeout_s)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}):\n"
                           f"{stdout[-2000:]}\n{stderr[-3000:]}")
    print("  " + stdout.strip().splitlines()[-2], flush=True)
    return json.loads(stdout.strip().splitlines()[-1]), samples, exited


def busy_rate(samples, window_start, window_end):
    """Busy cycles per second between the first sample at or after
    window_start and the last at or before window_end (None if fewer than 2)."""
    inside = [(at, value) for at, value in samples if window_start <= at <= window_end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def measure_tap(build, seconds, repeat):
    rows = []
    with dpdk_net.dpdk_server(shards=1, extra_config=SERVER_CONFIG) as server:
        for op, _ in OPS:
            for shape, connections, depth in SHAPES:
                rows.append(median_row([tap_cell(server, build, seconds, op, shape,
                                                 connections, depth)
                                        for _ in range(repeat)]))
    return rows


def tap_cell(server, build, seconds, op, shape, connections, depth):
    result, samples, exited = run_json_sampling(
        [*server.command_prefix,
         *bench_command(build, server.address, server.server.pid, op, connections, depth,
                        seconds)],
        lambda: busy_cycles(server))
    # cheetah-bench's window is its last `seconds` before it exits: the
    # busy-cycle rate in there over its ops/s.
    rate = busy_rate(samples, exited - seconds, exited)
    per_op = (rate / result["ops_per_second"]
              if rate is not None and result["ops_per_second"] else None)
    return row("dpdk-tap", op, shape, result, transport_busy_cycles_per_op=per_op)


def cycles(us_per_op, tsc_hz):
    return None if us_per_op is None else us_per_op * tsc_hz / 1e6


def spread(r):
    """The lowest and highest throughput of a cell's runs, in thousands."""
    runs = r.get("repeat_ops_per_second") or [r["ops_per_second"]]
    return f"{min(runs) / 1e3:,.0f}k-{max(runs) / 1e3:,.0f}k"


def busy_share(r, tsc_hz):
    """The share of a core the shard loop spent on turns that did work."""
    busy = r.get("transport_busy_cycles_per_op")
    if busy is None:
        return "n/a"
    return f"{busy * r['ops_per_second'] / tsc_hz * 100:.0f}%"


def number(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def render(command, results, seconds, repeat, tsc_hz, skipped):
    by_key = {(r["transport"], r["op"], r["shape"]): r for r in results}
    lines = [
        "# Transports: DPDK in memory, io_uring, DPDK over a tap, and ZooKeeper",
        "",
        f"<!-- made by: {command} -->",
        "",
        f"Command: `{command}` ({datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC).",
        "",
        "One run on one 2-core machine (shared and noisy), closed loop, "
        f"{VALUE_BYTES}-byte values over {KEYS} keys, {WARMUP_SECONDS} s warmup then "
        f"{seconds} s measured per run, {repeat} run(s) per cell (the table shows the run "
        "with the median throughput; transport.json keeps every run's ops/s), forceSync=yes for every server (setData waits "
        "for fdatasync, as in bench/compare.py), Cheetah with one shard "
        "(cheetah.shards=1). Load: tools/cheetah-bench (kernel TCP) for io_uring, tap and "
        "ZooKeeper; the in-memory row is tools/cheetah-dpdk-loop, whose client is a "
        "second netstack polling the crossed ring port in the same process.",
        "",
        "How CPU is counted. *Server CPU us/op*: the server's CPU time in the measured "
        "window per operation: for io_uring, tap and ZooKeeper the server process's "
        "user+system time (/proc/PID/stat, cheetah-bench --server-pid); for the in-memory "
        "port every thread of the process except the client's and the idle main thread "
        "(/proc/self/task/TID/schedstat). *cycles/op* is that time at the TSC rate "
        f"({tsc_hz / 1e9:.3f} GHz, rte_get_tsc_hz(); hardware counters are not available "
        "here). The DPDK transport polls: a shard spins through short idle gaps (it sleeps "
        "only after 64 empty polls, 10 us at first), so its CPU time counts the spin "
        "between requests too, and at 1x1 it is near a whole core whatever the rate. "
        "*Transport busy cycles/op* (DPDK only, mntr's zk_dpdk_busy_cycles) counts only "
        "the shard loop's turns that moved frames or ran a wake: receive, TCP/IP, the "
        "shard's request handling called from it (decode, read, reply encode) and "
        "transmit; for the tap it is the rate of zk_dpdk_busy_cycles (mntr read every "
        f"{MNTR_INTERVAL_S} s over the tap during cheetah-bench's measured window) over "
        "the ops/s. *ops per server "
        "core-second* = operations / server CPU seconds (requests per second per core). "
        "Ratios are against ZooKeeper in the same run: throughput Cheetah/ZooKeeper, and "
        "CPU per operation ZooKeeper/Cheetah (higher is better for Cheetah in both). The "
        "in-memory row has no kernel on either side, so its ratios say what Cheetah's own "
        "code costs per request, not what a client across a network sees; its client is "
        "one thread, which bounds the 16x8 rows (see the shard's busy share below).",
        "",
        "| op | shape | transport | ops/s | runs' ops/s | p50 us | p99 us | server CPU us/op "
        "| cycles/op | ops per server core-s | transport busy cycles/op | ops/s vs ZooKeeper "
        "| CPU/op ZooKeeper/this |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for op, op_name in OPS:
        for shape, _, _ in SHAPES:
            zookeeper = by_key.get(("zookeeper", op, shape))
            for transport, _ in TRANSPORTS:
                r = by_key.get((transport, op, shape))
                if r is None:
                    continue
                cpu = r["server_cpu_us_per_op"]
                ratio_ops = (r["ops_per_second"] / zookeeper["ops_per_second"]
                             if zookeeper and zookeeper["ops_per_second"] else None)
                ratio_cpu = (zookeeper["server_cpu_us_per_op"] / cpu
                             if zookeeper and zookeeper["server_cpu_us_per_op"] and cpu
                             else None)
                per_core = 1e6 / cpu if cpu else None
                lines.append(
                    f"| {op_name} | {shape} | {transport} | {number(r['ops_per_second'])} "
                    f"| {spread(r)} | {number(r['p50_us'])} | {number(r['p99_us'])} | {number(cpu, 2)} "
                    f"| {number(cycles(cpu, tsc_hz))} | {number(per_core)} "
                    f"| {number(r.get('transport_busy_cycles_per_op'))} "
                    f"| {number(ratio_ops, 2)}x | {number(ratio_cpu, 2)}x |")
    lines += [
        "",
        "Transports: " + "; ".join(f"**{key}** = {text}" for key, text in TRANSPORTS) + ".",
        "",
        "The in-memory port, per operation (the client is a netstack polling its port in "
        "a busy loop on the other core; its CPU time includes that spin, its busy cycles "
        "do not):",
        "",
        "| op | shape | transport | shard CPU us/op | shard cycles/op "
        "| transport busy cycles/op | shard busy share of a core | client cycles/op "
        "| client busy cycles/op |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    memory_rows = [by_key.get((transport, op, shape))
                   for op, _ in OPS for shape, _, _ in SHAPES
                   for transport in ("dpdk-memory",)]
    op_names = dict(OPS)
    for r in memory_rows:
        if r is None:
            continue
        lines.append(
            f"| {op_names[r['op']]} | {r['shape']} | {r['transport']} "
            f"| {number(r['shard_cpu_us_per_op'], 2)} "
            f"| {number(cycles(r['shard_cpu_us_per_op'], tsc_hz))} "
            f"| {number(r['transport_busy_cycles_per_op'])} "
            f"| {busy_share(r, tsc_hz)} "
            f"| {number(r['client_cycles_per_op'])} "
            f"| {number(r['client_busy_cycles_per_op'])} |")
    loads = [r["load_average_1m"] for r in results]
    lines += ["", f"Load average (1 min) at the end of the shown runs: {min(loads):.1f} to "
              f"{max(loads):.1f} on {os.cpu_count()} cores. It counts the benchmark's own "
              "threads (the in-memory rows spin two: client and shard) and whatever else "
              "runs on this shared machine; when more threads want the cores than there "
              "are, polling threads wait out scheduler slices and their rows drop most "
              "(a run of the in-memory getData 1x1 falls from about 450,000 to tens of "
              "thousands of ops/s)."]
    if skipped:
        lines += ["", "Not measured in this run: " + "; ".join(skipped) + "."]
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per cell; the table shows the median by throughput")
    parser.add_argument("--build", default=os.environ.get("CHEETAH_BUILD_DIR",
                                                          os.path.join(REPO, "build")))
    parser.add_argument("--results", default=RESULTS,
                        help="where transport.md and transport.json go")
    arguments = parser.parse_args()
    build = os.path.abspath(arguments.build)
    os.environ.setdefault("CHEETAH_SERVER", os.path.join(build, "dataplane", "cheetah-server"))
    command = "/usr/bin/python3 bench/transport.py --seconds %d --repeat %d" % (
        arguments.seconds, arguments.repeat)
    if arguments.build != os.path.join(REPO, "build"):
        command += " --build " + os.path.relpath(build, REPO)
    started = time.monotonic()
    results, skipped = [], []
    repeat = max(1, arguments.repeat)
    results += measure_memory(build, arguments.seconds, repeat)
    tsc_hz = results[0]["raw"]["tsc_hz"]
    results += measure_socket_server("cheetah", "uring", build, URING_PORT, CHEETAH_CONFIG,
                                     arguments.seconds, repeat)
    usable, why = dpdk_net.available()
    if usable:
        results += measure_tap(build, arguments.seconds, repeat)
    else:
        skipped.append(f"dpdk-tap ({why})")
    results += measure_socket_server("zookeeper", "zookeeper", build, ZOOKEEPER_PORT,
                                     SERVER_CONFIG, arguments.seconds, repeat)
    os.makedirs(arguments.results, exist_ok=True)
    document = {"command": command, "seconds": arguments.seconds, "repeat": repeat,
                "warmup_seconds": WARMUP_SECONDS, "value_bytes": VALUE_BYTES, "keys": KEYS,
                "tsc_hz": tsc_hz, "cores": os.cpu_count(), "skipped": skipped,
                "elapsed_s": round(time.monotonic() - started, 1), "results": results}
    with open(os.path.join(arguments.results, "transport.json"), "w") as out:
        json.dump(document, out, indent=1)
        out.write("\n")
    text = render(command, results, arguments.seconds, repeat, tsc_hz, skipped)
    with open(os.path.join(arguments.results, "transport.md"), "w") as out:
        out.write(text)
    print(text)
    print(f"({document['elapsed_s']} s)")


if __name__ == "__main__":
    main()
