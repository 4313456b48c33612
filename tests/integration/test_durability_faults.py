"""Disk faults below the transaction log (issue 3).

Cheetah injects faults when CHEETAH_TEST_DISK_FAULT="<op>:<n>:<action>[:<bytes>]"
is set: op = write | fsync (the n-th transaction-log batch write or fsync
since start, 1-based), action = eio | enospc (that operation fails with that
errno) | tear (write only: <bytes> bytes of the batch reach the file, then the
server SIGKILLs itself).

For a failed write or fsync: no write of the failed batch is acknowledged
(the client sees the connection close, never an OK), an ERROR line says what
failed (the log file, an offset for a write, the errno text), the server
exits with a non-zero status (ZooKeeper's SyncThread failure stops ZooKeeper
too), and after a restart without the fault every write acknowledged before
is there. For a tear: the restart truncates the torn tail with a log line
saying "torn" and serves every write acknowledged before.

A byte flipped inside a log record that is not the last makes startup fail,
naming the file and the offset (Apache ZooKeeper 3.8 refuses to start on the
same file too: compared). A really full disk: the log directory on a small
tmpfs mounted by the test (we run as root; a failure to mount fails the test,
it is not skipped), for Cheetah and for ZooKeeper.

    CHEETAH_SERVER=build-durability/dataplane/cheetah-server \\
        /usr/bin/python3 -m pytest tests/integration/test_durability_faults.py
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_FAULT = 22840            # + index of the parametrization
PORT_CORRUPT_CHEETAH = 22860
PORT_CORRUPT_ZOOKEEPER = 22861
PORT_FULL_CHEETAH = 22862
PORT_FULL_ZOOKEEPER = 22863

WRITES_MAX = 5000             # bound of every writing loop
EXIT_WAIT_S = 15.0
REPLY_TIMEOUT_S = 5.0
FAULT_AT = 12                 # the batch that fails: several are acknowledged first
DISK_FAULT_ENV = "CHEETAH_TEST_DISK_FAULT"


def create_path(seq):
    return f"/f/n{seq:06d}"


def create_data(seq, value_bytes):
    stem = b"v%d-" % seq
    return stem + b"x" * max(value_bytes - len(stem), 0)


def write_until_failure(address, value_bytes=10, writes_max=WRITES_MAX, deadline_s=60.0,
                        first=0):
    """Sequential creates (one in flight: each is its own batch) until the
    server stops answering. Returns (acked, sent, how it ended): creates
    first..first+acked-1 got OK, first..first+sent-1 were sent."""
    client = jc.JuteClient(address, io_timeout_s=REPLY_TIMEOUT_S)
    client.connect(timeout_ms=30000)
    acked = sent = 0
    end = "writes_max reached"
    deadline = time.monotonic() + deadline_s
    try:
        reply = client.call(jc.OP_CREATE, jc.encode_create("/f", b""))
        if reply.err not in (jc.OK, jc.NODEEXISTS):
            raise AssertionError(f"create /f: {jc.ERR_NAMES.get(reply.err, reply.err)}")
        while sent < writes_max and time.monotonic() < deadline:
            sent += 1
            seq = first + sent - 1
            reply = client.call(jc.OP_CREATE, jc.encode_create(create_path(seq),
                                                              create_data(seq, value_bytes)))
            assert reply.err == jc.OK, (seq, jc.ERR_NAMES.get(reply.err, reply.err))
            acked += 1
    except (jc.ConnectionClosed, OSError) as error:
        end = repr(error)
    finally:
        client.close()
    return acked, sent, end


def present_creates(address):
    client = jc.JuteClient(address, io_timeout_s=30.0)
    client.connect()
    try:
        reply = client.call(jc.OP_GET_CHILDREN, jc.encode_path_watch("/f"))
        if reply.err == jc.NONODE:
            return []
        assert reply.err == jc.OK
        names = jc.decode_reply_body(jc.OP_GET_CHILDREN, reply.body)["children"]
        return sorted(int(name[1:]) for name in names)
    finally:
        client.close()


def check_data(address, seqs, value_bytes):
    client = jc.JuteClient(address, io_timeout_s=30.0)
    client.connect()
    try:
        for seq in seqs:
            reply = client.call(jc.OP_GET_DATA, jc.encode_path_watch(create_path(seq)))
            assert reply.err == jc.OK, seq
            assert jc.decode_reply_body(jc.OP_GET_DATA, reply.body)["data"] == \
                create_data(seq, value_bytes), seq
    finally:
        client.close()


def wait_exit(server):
    try:
        return server.process.wait(timeout=EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"the server still runs {EXIT_WAIT_S} s after the disk fault:\n"
                             + server.log_text()[-3000:])


def assert_prefix(present, acked, sent, what):
    assert present == list(range(len(present))), f"{what}: not a prefix: {present[-10:]}"
    assert len(present) >= acked, \
        f"{what}: LOST ACKNOWLEDGED WRITES: {acked} acked, {len(present)} present"
    assert len(present) <= sent, f"{what}: {len(present)} present but {sent} sent"


FAULTS = [
    # (plan, errno text in the ERROR line or None for a tear)
    (f"write:{FAULT_AT}:eio", "Input/output error"),
    (f"write:{FAULT_AT}:enospc", "No space left on device"),
    (f"fsync:{FAULT_AT}:eio", "Input/output error"),
    (f"fsync:{FAULT_AT}:enospc", "No space left on device"),
    (f"write:{FAULT_AT}:tear:30", None),   # inside the record's body
    (f"write:{FAULT_AT}:tear:13", None),   # checksum, length and one byte
    (f"write:{FAULT_AT}:tear:1", None),    # one byte of the checksum: see below
]
# A tear shorter than checksum + length (12 bytes) leaves at most a few
# checksum bytes and a zero length: ZooKeeper's reader (and Cheetah's) take
# a zero length for the end of the log, so there is no torn record to
# report; the acknowledged writes must still all be there.
TORN_RECORD_BYTES_MIN = 12


@pytest.mark.parametrize("index,plan,errno_text", [(i, *fault) for i, fault in enumerate(FAULTS)],
                         ids=[fault[0] for fault in FAULTS])
def test_injected_log_fault(index, plan, errno_text):
    server = servers.start("cheetah", PORT_FAULT + index, {"snapCount": "100000"},
                           env={DISK_FAULT_ENV: plan})
    workdir = server.workdir
    try:
        acked, sent, end = write_until_failure(server.address)
        status = wait_exit(server)
        log = server.log_text()
        print(f"{plan}: {acked} acked, {sent} sent, client saw {end}, exit status {status}")
        # The fault came: writes stopped being acknowledged before the bound.
        assert sent < WRITES_MAX, f"the fault never came: {end}\n{log[-3000:]}"
        assert acked == sent - 1, (acked, sent)  # the one in flight got no OK
        # One write in flight: every batch is one transaction. Batch 1 is the
        # createSession, batch 2 the create of /f, then creates 0, 1, ...:
        # batch FAULT_AT holds create FAULT_AT - 3.
        assert acked == FAULT_AT - 3, "the fault did not hit the batch it names"
        if errno_text is None:
            assert status == -9, f"a tear kills the server (SIGKILL), got {status}"
        else:
            assert status > 0, f"exit status {status}:\n{log[-3000:]}"
            error_lines = [line for line in log.splitlines() if "ERROR" in line]
            assert any(errno_text in line and re.search(r"log\.[0-9a-f]+", line)
                       for line in error_lines), (errno_text, error_lines, log[-3000:])
            if plan.startswith("write"):
                assert any(re.search(r"offset \d+", line) for line in error_lines), error_lines
            assert any("stops taking writes" in line for line in error_lines), error_lines
        restarted = servers.restart(server, log_name="server-restarted.log", env={})
        server = restarted
        present = present_creates(restarted.address)
        assert_prefix(present, acked, sent, plan)
        check_data(restarted.address, present, 10)
        restart_log = restarted.log_text()
        if errno_text is None and int(plan.rsplit(":", 1)[1]) >= TORN_RECORD_BYTES_MIN:
            torn = [line for line in restart_log.splitlines() if "torn" in line]
            assert torn, restart_log[-3000:]
            print("   ", torn[0])
        # The restarted server takes writes again.
        again_acked, _, _ = write_until_failure(restarted.address, writes_max=5,
                                                first=len(present))
        assert again_acked == 5
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


PORT_PIPELINED = 22855
PIPELINED_FAULT_AT = 60


def test_injected_write_fault_under_pipelined_load():
    """Several pipelined clients (batches of many transactions); the batch
    write fails: every acknowledged write is there after a restart, and the
    server exited non-zero with its ERROR line."""
    import threading
    import test_durability_crash as crash
    server = servers.start("cheetah", PORT_PIPELINED, env={DISK_FAULT_ENV:
                                                           f"write:{PIPELINED_FAULT_AT}:eio"})
    workdir = server.workdir
    try:
        crash.setup_tree(server.address)
        stop = threading.Event()
        writers = [crash.Writer(server.address, index, 0, stop) for index in range(crash.CLIENTS)]
        for writer in writers:
            writer.start()
        status = wait_exit(server)
        stop.set()
        for writer in writers:
            writer.join(crash.CLIENT_JOIN_S)
            assert not writer.is_alive()
        assert not [w.error for w in writers if w.error]
        log = server.log_text()
        assert status > 0, log[-3000:]
        assert any("ERROR" in line and "Input/output error" in line for line in log.splitlines())
        acked = [w.acked for w in writers]
        print(f"pipelined: acked {acked}, sent {[w.sent for w in writers]}")
        assert sum(acked) > 0
        assert sum(w.sent for w in writers) > sum(acked), "every write was acknowledged"
        server = servers.restart(server, log_name="server-restarted.log", env={})
        crash.verify(server.address, [0] * crash.CLIENTS, writers,
                     max(w.max_acked_zxid for w in writers), "pipelined write fault")
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


# ---- a corrupt record in the middle of a log --------------------------------------

LOG_HEADER_BYTES = 16


def record_offsets(data):
    """Offsets of the records of a txn log file (up to the zero tail)."""
    offsets = []
    at = LOG_HEADER_BYTES
    while at + 12 <= len(data):
        length = int.from_bytes(data[at + 8:at + 12], "big")
        if length == 0 or at + 12 + length + 1 > len(data):
            break
        offsets.append(at)
        at += 12 + length + 1
    return offsets


def corrupt_middle_record(workdir):
    """Flips a byte inside a record in the middle of the newest log; returns
    (path, record offset, flipped byte offset)."""
    logs = sorted(glob.glob(os.path.join(workdir, "data", "version-2", "log.*")),
                  key=lambda name: int(name.rsplit(".", 1)[1], 16))
    assert logs
    path = logs[-1]
    with open(path, "rb") as log_file:
        data = bytearray(log_file.read())
    offsets = record_offsets(data)
    assert len(offsets) >= 20, len(offsets)
    record = offsets[len(offsets) // 2]
    flipped = record + 12 + 20
    data[flipped] ^= 0x5A
    with open(path, "r+b") as log_file:
        log_file.write(bytes(data))
    return path, record, flipped


@pytest.mark.parametrize("kind,port", [("cheetah", PORT_CORRUPT_CHEETAH),
                                       ("zookeeper", PORT_CORRUPT_ZOOKEEPER)])
def test_corrupt_record_in_the_middle_stops_startup(kind, port):
    server = servers.start(kind, port, {"snapCount": "100000"})
    workdir = server.workdir
    try:
        acked, _, _ = write_until_failure(server.address, writes_max=60)
        assert acked == 60
        server.kill()   # no clean shutdown: the log must be replayed
        path, record, flipped = corrupt_middle_record(workdir)
        failed = servers.restart(server, log_name="server-corrupt.log", wait=False)
        server = failed
        status = wait_exit(failed)
        log = failed.log_text()
        print(f"{kind}: exit status {status}; last lines:\n" + "\n".join(log.splitlines()[-5:]))
        assert status != 0, log[-3000:]
        if kind == "cheetah":
            lines = [line for line in log.splitlines()
                     if os.path.basename(path) in line and "offset" in line]
            assert lines, log[-3000:]
            assert any(re.search(rf"offset {record}\b|offset {flipped}\b", line)
                       for line in lines), (record, flipped, lines)
        else:
            assert "CRC" in log or "Unable to load database" in log, log[-3000:]
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


# ---- a really full disk ---------------------------------------------------------------

TMPFS_BYTES = 512 * 1024
TMPFS_BYTES_AFTER = 16 * 1024 * 1024
FULL_VALUE_BYTES = 1000
FULL_WRITES_MAX = 4 * TMPFS_BYTES // FULL_VALUE_BYTES


def mount_tmpfs(size_bytes):
    mount_point = tempfile.mkdtemp(prefix="cheetah-full-disk-")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs",
                             mount_point], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        os.rmdir(mount_point)
        raise AssertionError(f"cannot mount a tmpfs for the full-disk test (run as root): "
                             f"{result.stderr}")
    return mount_point


def umount(mount_point):
    subprocess.run(["umount", mount_point], capture_output=True, timeout=30)
    try:
        os.rmdir(mount_point)
    except OSError:
        pass


@pytest.mark.parametrize("kind,port", [("cheetah", PORT_FULL_CHEETAH),
                                       ("zookeeper", PORT_FULL_ZOOKEEPER)])
def test_full_disk(kind, port):
    mount_point = mount_tmpfs(TMPFS_BYTES)
    server = None
    workdir = tempfile.mkdtemp(prefix=f"{kind}-{port}-full-")
    try:
        # the snapshots elsewhere: only the transaction log fills the disk
        config = {"dataLogDir": mount_point, "preAllocSize": "16", "snapCount": "1000000"}
        server = servers.start(kind, port, config, workdir=workdir)
        acked, sent, end = write_until_failure(server.address, value_bytes=FULL_VALUE_BYTES,
                                               writes_max=FULL_WRITES_MAX)
        print(f"{kind}: full disk after {acked} acked, {sent} sent ({end})")
        assert sent < FULL_WRITES_MAX, "the disk never filled"
        assert acked == sent - 1
        status = wait_exit(server)
        log = server.log_text()
        assert status != 0, log[-3000:]
        if kind == "cheetah":
            error_lines = [line for line in log.splitlines() if "ERROR" in line]
            assert any("No space left on device" in line for line in error_lines), \
                (error_lines, log[-3000:])
            assert any("stops taking writes" in line for line in error_lines), error_lines
            print("   ", error_lines[0])
        # Room again, restart: every acknowledged write is there.
        remount = subprocess.run(["mount", "-o", f"remount,size={TMPFS_BYTES_AFTER}",
                                  mount_point], capture_output=True, text=True, timeout=30)
        assert remount.returncode == 0, remount.stderr
        server = servers.restart(server, log_name="server-restarted.log")
        present = present_creates(server.address)
        assert_prefix(present, acked, sent, f"{kind} full disk")
        check_data(server.address, present[-20:], FULL_VALUE_BYTES)
        again_acked, _, _ = write_until_failure(server.address, writes_max=5,
                                                first=len(present))
        assert again_acked == 5
    finally:
        if server is not None:
            server.kill()
        umount(mount_point)
        shutil.rmtree(workdir, ignore_errors=True)
