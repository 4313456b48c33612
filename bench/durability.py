#!/usr/bin/python3
"""Durable writes and recovery: Cheetah against Apache ZooKeeper 3.8, same
run, same machine, same load generator (tools/cheetah-bench).

    CHEETAH_SERVER=build-durability/dataplane/cheetah-server \\
        /usr/bin/python3 bench/durability.py [--seconds 5] [--znodes 1000000]

1. fsync'd setData (100-byte values) throughput and p50/p99 latency at 1, 4,
   16 and 64 connections, each with one request in flight (so concurrency =
   connections and group commit is what lets throughput grow), both servers
   with forceSync=yes (their default). A fresh server per point.
2. Group commit: Cheetah logs at shutdown "transaction log: N transactions
   in M fsyncs (mean X, max Y per fsync)"; parsed per point.
3. Restart after SIGKILL with --znodes znodes of 100 bytes: the time from
   process start to the first successful getData of the last znode created.
   The znodes are made by a pipelined raw-protocol creator (this file), then
   the server is left to finish its background snapshot, then SIGKILLed.
   The page cache is warm (the files were just written).

Writes bench/results/durability.md and prints it, with every command line.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_BASE = 22880
CONNECTION_COUNTS = (1, 4, 16, 64)
DEPTH = 1
VALUE_BYTES = 100
ZOOKEEPER_HEAP_FLAGS = ["-Xmx3g", "-Xms3g"]
POPULATE_CONNECTIONS = 8
POPULATE_PIPELINE = 500
POPULATE_FANOUT = 1000          # /r/<parent>/<child>, POPULATE_FANOUT children each
POPULATE_TIMEOUT_S = 900.0
SETTLE_S = 10.0                 # background snapshot finishes before the kill
SERVE_WAIT_S = 600.0
SERVE_POLL_S = 0.01
RESTART_TRIALS = 3
# Each probe (connect, handshake, getData) gives up after this long and is
# retried: a starting ZooKeeper may accept a connection and never answer its
# handshake (seen here: a 5 s probe timeout showed up as 5 s starts), so a
# long timeout would measure the probe, not the server.
PROBE_TIMEOUT_S = 0.25
GROUP_COMMIT_LINE = re.compile(
    r"transaction log: (\d+) transactions in (\d+) (\w+) \(mean ([\d.]+), max (\d+)")


def bench_binary():
    server = servers.cheetah_binary()
    return os.path.join(os.path.dirname(os.path.dirname(server)), "tools", "cheetah-bench")


def server_command_line(server):
    with open(os.path.join(server.workdir, "zoo.cfg")) as config:
        settings = " ".join(line.strip() for line in config if line.strip())
    return " ".join(server.command) + f"   # zoo.cfg: {settings}"


# ---- 1 and 2: fsync'd setData ------------------------------------------------------


def run_bench(address, connections, seconds):
    command = [bench_binary(), "--server", address, "--op", "set", "--connections",
               str(connections), "--depth", str(DEPTH), "--seconds", str(seconds),
               "--value-bytes", str(VALUE_BYTES)]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1]), " ".join(command)


def measure_writes(kind, port, seconds, commands):
    results = {}
    for connections in CONNECTION_COUNTS:
        server = servers.start(kind, port, {"forceSync": "yes", "maxClientCnxns": "0"},
                               extra_jvm_flags=ZOOKEEPER_HEAP_FLAGS if kind == "zookeeper" else ())
        try:
            commands.append(f"{kind}: {server_command_line(server)}")
            result, command = run_bench(server.address, connections, seconds)
            commands.append(command)
            server.stop()
            match = GROUP_COMMIT_LINE.search(server.log_text())
            result["group_commit"] = match.groups() if match else None
            results[connections] = result
            print(f"{kind} {connections} connections: {result['ops_per_second']:.0f} ops/s, "
                  f"p50 {result['p50_us']:.0f} us, p99 {result['p99_us']:.0f} us, "
                  f"group commit {result['group_commit']}", flush=True)
        finally:
            server.kill()
            shutil.rmtree(server.workdir, ignore_errors=True)
    return results


# ---- 3: restart after SIGKILL with many znodes --------------------------------------


def znode_path(index):
    return f"/r/{index // POPULATE_FANOUT}/{index % POPULATE_FANOUT}"


class Creator(threading.Thread):
    """One connection creating its share of the znodes, POPULATE_PIPELINE at a time."""

    def __init__(self, address, indexes):
        super().__init__(daemon=True)
        self.address = address
        self.indexes = indexes
        self.error = None

    def run(self):
        try:
            client = jc.JuteClient(self.address, io_timeout_s=120.0)
            client.connect(timeout_ms=30000)
            value = b"v" * VALUE_BYTES
            for start in range(0, len(self.indexes), POPULATE_PIPELINE):
                chunk = self.indexes[start:start + POPULATE_PIPELINE]
                frames = []
                xids = []
                for index in chunk:
                    xid = client.next_xid
                    client.next_xid += 1
                    xids.append(xid)
                    payload = (jc.struct.pack(">ii", xid, jc.OP_CREATE)
                               + jc.encode_create(znode_path(index), value))
                    frames.append(jc.struct.pack(">i", len(payload)) + payload)
                client.send_raw(b"".join(frames))
                for xid in xids:
                    frame = client.read_frame()
                    if frame.xid != xid or frame.err != jc.OK:
                        raise RuntimeError(f"create reply xid {frame.xid} err {frame.err}")
            client.close_session()
            client.close()
        except Exception as error:  # noqa: BLE001 - reported by the caller
            self.error = repr(error)


def populate(address, count):
    client = jc.JuteClient(address, io_timeout_s=60.0)
    client.connect()
    assert client.call(jc.OP_CREATE, jc.encode_create("/r", b"")).err == jc.OK
    parents = (count + POPULATE_FANOUT - 1) // POPULATE_FANOUT
    for parent in range(parents):
        assert client.call(jc.OP_CREATE, jc.encode_create(f"/r/{parent}", b"")).err == jc.OK
    client.close_session()
    client.close()
    started = time.monotonic()
    creators = [Creator(address, list(range(share, count, POPULATE_CONNECTIONS)))
                for share in range(POPULATE_CONNECTIONS)]
    for creator in creators:
        creator.start()
    for creator in creators:
        creator.join(max(POPULATE_TIMEOUT_S - (time.monotonic() - started), 1.0))
        assert not creator.is_alive(), "populate timed out"
        assert creator.error is None, creator.error
    return time.monotonic() - started


def data_dir_bytes(workdir):
    total = 0
    for path in glob.glob(os.path.join(workdir, "data", "version-2", "*")):
        total += os.path.getsize(path)
    return total


def time_to_serve(server, path):
    """SIGKILL, restart, and seconds from the new process's start to the
    first successful getData of `path`."""
    server.kill()
    with open(os.path.join(server.workdir, "server-restarted.log"), "w") as log:
        started = time.monotonic()
        process = subprocess.Popen(server.command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=server.workdir,
                                   env=dict(os.environ, **(server.env or {})))
    restarted = servers.Server(server.kind, server.port, process, server.workdir,
                               os.path.join(server.workdir, "server-restarted.log"),
                               server.command, server.env)
    deadline = started + SERVE_WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited at restart:\n"
                               + restarted.log_text()[-3000:])
        try:
            client = jc.JuteClient(server.address, io_timeout_s=PROBE_TIMEOUT_S)
            try:
                client.connect()
                reply = client.call(jc.OP_GET_DATA, jc.encode_path_watch(path))
                if reply.err == jc.OK:
                    return time.monotonic() - started, restarted
            finally:
                client.close()
        except (OSError, jc.ConnectionClosed, jc.ProtocolError):
            pass
        time.sleep(SERVE_POLL_S)
    raise RuntimeError(f"{server.kind} did not serve {path} within {SERVE_WAIT_S} s")


def recovery_summary(kind, log):
    if kind == "cheetah":
        lines = [line.split(" - ", 2)[-1] for line in log.splitlines()
                 if "recovered to zxid" in line or "recovery took" in line
                 or "loaded snapshot" in line]
    else:
        lines = [line.split(" - ", 1)[-1] for line in log.splitlines()
                 if "Snapshot loaded in" in line or "Reading snapshot" in line]
    return "; ".join(lines)


def measure_empty_restart(kind, port):
    """Time to serve after SIGKILL with only /r/0/0: the process's own start."""
    server = servers.start(kind, port, {"forceSync": "yes"},
                           extra_jvm_flags=ZOOKEEPER_HEAP_FLAGS if kind == "zookeeper" else ())
    try:
        client = jc.JuteClient(server.address)
        client.connect()
        for path in ("/r", "/r/0", "/r/0/0"):
            assert client.call(jc.OP_CREATE, jc.encode_create(path, b"")).err == jc.OK
        client.close()
        seconds, server = time_to_serve(server, "/r/0/0")
        return seconds
    finally:
        server.kill()
        shutil.rmtree(server.workdir, ignore_errors=True)


def measure_restart(kind, port, count, commands):
    server = servers.start(kind, port, {"forceSync": "yes", "maxClientCnxns": "0"},
                           extra_jvm_flags=ZOOKEEPER_HEAP_FLAGS if kind == "zookeeper" else ())
    try:
        commands.append(f"{kind}: {server_command_line(server)}")
        populate_s = populate(server.address, count)
        print(f"{kind}: {count} znodes created in {populate_s:.1f} s", flush=True)
        time.sleep(SETTLE_S)
        names = [os.path.basename(p)
                 for p in glob.glob(os.path.join(server.workdir, "data", "version-2", "*"))]
        files = (f"{sum(n.startswith('snapshot.') for n in names)} snapshots, "
                 f"{sum(n.startswith('log.') for n in names)} logs")
        size = data_dir_bytes(server.workdir)
        # The same killed data directory, restarted RESTART_TRIALS times from
        # a pristine copy each time (a restart takes its own snapshot).
        server.kill()
        data = os.path.join(server.workdir, "data")
        pristine = os.path.join(server.workdir, "data.pristine")
        os.rename(data, pristine)
        trials = []
        summary = ""
        for _ in range(RESTART_TRIALS):
            shutil.copytree(pristine, data)
            seconds, server = time_to_serve(server, znode_path(count - 1))
            trials.append(seconds)
            summary = recovery_summary(kind, server.log_text())
            server.kill()
            shutil.rmtree(data)
            print(f"{kind}: serving {seconds:.2f} s after the restart ({summary})", flush=True)
        return {"seconds": sorted(trials)[len(trials) // 2], "trials": trials,
                "populate_s": populate_s, "files": files, "bytes": size, "summary": summary}
    finally:
        server.kill()
        shutil.rmtree(server.workdir, ignore_errors=True)


# ---- the report ---------------------------------------------------------------------


def report(writes, restart, commands, options):
    cheetah, zookeeper = writes["cheetah"], writes["zookeeper"]
    lines = ["# Durability: Cheetah vs Apache ZooKeeper 3.8", "",
             "<!-- made by: CHEETAH_SERVER=... /usr/bin/python3 bench/durability.py "
             f"--seconds {options.seconds} --znodes {options.znodes} -->", "",
             f"Same machine, same run, {os.cpu_count()} cores shared with other work; data "
             "directories in /tmp (" + filesystem_of("/tmp") + "). Both servers forceSync=yes "
             "(every acknowledged write fdatasync'd first).", "",
             f"## fsync'd setData, {VALUE_BYTES}-byte values, depth {DEPTH} per connection, "
             f"{options.seconds} s per point", "",
             "| connections | Cheetah ops/s | p50 us | p99 us | ZooKeeper ops/s | p50 us | "
             "p99 us | Cheetah/ZooKeeper ops/s | Cheetah txns per fsync (mean, max) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for connections in CONNECTION_COUNTS:
        ours, theirs = cheetah[connections], zookeeper[connections]
        group = ours["group_commit"]
        group_text = (f"{group[0]} txns in {group[1]} {group[2]}: mean {group[3]}, max {group[4]}"
                      if group else "no shutdown line found")
        lines.append(f"| {connections} | {ours['ops_per_second']:.0f} | {ours['p50_us']:.0f} | "
                     f"{ours['p99_us']:.0f} | {theirs['ops_per_second']:.0f} | "
                     f"{theirs['p50_us']:.0f} | {theirs['p99_us']:.0f} | "
                     f"{ours['ops_per_second'] / theirs['ops_per_second']:.1f}x | {group_text} |")
    if restart:
        lines += ["", f"## Restart after SIGKILL with {options.znodes} znodes of "
                  f"{VALUE_BYTES} bytes", "",
                  "Time from process start to the first successful getData of the last "
                  f"znode created (warm page cache); median of {RESTART_TRIALS} restarts of "
                  "the same killed data directory (each from a pristine copy), all trials in "
                  "brackets.", "",
                  "| server | seconds to serve | data dir bytes | files | populate s | "
                  "recovery log |", "| --- | ---: | ---: | --- | ---: | --- |"]
        for kind in ("cheetah", "zookeeper"):
            result = restart[kind]
            trials = ", ".join(f"{trial:.2f}" for trial in result["trials"])
            lines.append(f"| {kind} | {result['seconds']:.2f} ({trials}) | {result['bytes']} | "
                         f"{result['files']} | {result['populate_s']:.1f} | "
                         f"{result['summary']} |")
        for kind in ("cheetah", "zookeeper"):
            lines.append(f"| {kind}, empty dataDir (process start alone) | "
                         f"{restart['empty'][kind]:.2f} | | | | |")
        ratio = restart["zookeeper"]["seconds"] / restart["cheetah"]["seconds"]
        lines += ["", f"Cheetah serves {ratio:.1f}x sooner than ZooKeeper after SIGKILL "
                  f"with {options.znodes} znodes ({restart['cheetah']['seconds']:.2f} s vs "
                  f"{restart['zookeeper']['seconds']:.2f} s). The empty-dataDir rows are "
                  "the floor: process start, and for Cheetah after a SIGKILL the bounded "
                  "wait for the listening port its io_uring still held."]
    lines += ["", "## Command lines", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def filesystem_of(path):
    result = subprocess.run(["df", "-T", path], capture_output=True, text=True)
    rows = result.stdout.strip().splitlines()
    return rows[-1].split()[1] if len(rows) > 1 else "unknown filesystem"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--znodes", type=int, default=1000000)
    parser.add_argument("--skip-restart", action="store_true")
    options = parser.parse_args()
    if not os.path.exists(bench_binary()):
        sys.exit(f"{bench_binary()} is missing: build it")
    commands = []
    writes = {"cheetah": measure_writes("cheetah", PORT_BASE, options.seconds, commands),
              "zookeeper": measure_writes("zookeeper", PORT_BASE + 1, options.seconds, commands)}
    restart = None
    if not options.skip_restart:
        restart = {"cheetah": measure_restart("cheetah", PORT_BASE + 2, options.znodes, commands),
                   "zookeeper": measure_restart("zookeeper", PORT_BASE + 3, options.znodes,
                                                commands),
                   "empty": {"cheetah": measure_empty_restart("cheetah", PORT_BASE + 4),
                             "zookeeper": measure_empty_restart("zookeeper", PORT_BASE + 5)}}
    text = report(writes, restart, commands, options)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "durability.md"), "w") as out:
        out.write(text)
    print(text)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
