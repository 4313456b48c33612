#!/usr/bin/python3
"""The README's first figure: Cheetah against Apache ZooKeeper 3.8, same run,
same machine, same load generator (tools/cheetah-bench).

    /usr/bin/python3 bench/first_figure.py [--seconds 5]

Workloads: pipelined getData and setData (4 connections, depth 32, 100-byte
values) and one-connection getData latency (depth 1). Both servers run twice,
like with like: with forceSync=yes (the default: every acknowledged write
fdatasync'd first) and with forceSync=no (the log is written, not synced).

Writes bench/results/first-figure.md and prints it.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import servers  # noqa: E402

BENCH = os.path.join(REPO, "build", "tools", "cheetah-bench")
PORT_BASE = 22700
WORKLOADS = [
    ("getData, 4 connections x depth 32", ["--op", "get", "--connections", "4", "--depth", "32"]),
    ("setData, 4 connections x depth 32", ["--op", "set", "--connections", "4", "--depth", "32"]),
    ("getData, 1 connection x depth 1", ["--op", "get", "--connections", "1", "--depth", "1"]),
]


def run_bench(address, arguments, seconds):
    command = [BENCH, "--server", address, "--seconds", str(seconds), "--value-bytes", "100",
               *arguments]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(kind, port, extra_config, seconds):
    results = []
    with servers.running(kind, port, extra_config) as server:
        for name, arguments in WORKLOADS:
            results.append((name, run_bench(server.address, arguments, seconds)))
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    options = parser.parse_args()
    if not os.path.exists(BENCH):
        sys.exit(f"{BENCH} is missing: run scripts/build.sh first")
    settings = [("yes", None), ("no", {"forceSync": "no"})]
    runs = {}
    for offset, (setting, config) in enumerate(settings):
        runs[("Cheetah", setting)] = measure("cheetah", PORT_BASE + 2 * offset, config,
                                             options.seconds)
        runs[("ZooKeeper", setting)] = measure("zookeeper", PORT_BASE + 2 * offset + 1, config,
                                               options.seconds)
    lines = ["| workload | forceSync | Cheetah ops/s | p50 us | p99 us | ZooKeeper ops/s | p50 us "
             "| p99 us | Cheetah/ZooKeeper ops/s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for index, (name, _) in enumerate(WORKLOADS):
        for setting, _ in settings:
            cheetah = runs[("Cheetah", setting)][index][1]
            zookeeper = runs[("ZooKeeper", setting)][index][1]
            ratio = cheetah["ops_per_second"] / zookeeper["ops_per_second"]
            lines.append(f"| {name} | {setting} | {cheetah['ops_per_second']:.0f} | "
                         f"{cheetah['p50_us']:.0f} | {cheetah['p99_us']:.0f} | "
                         f"{zookeeper['ops_per_second']:.0f} | {zookeeper['p50_us']:.0f} | "
                         f"{zookeeper['p99_us']:.0f} | {ratio:.1f}x |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "first-figure.md"), "w") as out:
        out.write("<!-- made by: /usr/bin/python3 bench/first_figure.py -->\n" + text)
    print(text)


if __name__ == "__main__":
    main()
