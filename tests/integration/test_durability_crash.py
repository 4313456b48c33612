"""Guarantee 1 of ARCHITECTURE.md: durable before acknowledged, under kill -9.

Several client threads each write a known stream of operations over its own
pipelined raw connection: op j of client i is, for even j, a create of
/crash/c<i>/n<j/2> holding b"c<i>-<j/2>", and for odd j a setData of
/crash/k<i> to str(j/2 + 1). Every reply is recorded, so the test knows, per
client, how many ops were acknowledged and how many were sent. The server is
killed with SIGKILL at a random moment under that load, waited for, and
restarted on the SAME data directory. After each restart the tree must hold,
for every client, a prefix of its stream that is at least as long as what was
acknowledged and no longer than what was sent:

  - the creates present are exactly n0..n<C-1> (no acknowledged create missing,
    none out of order, none that was never sent) with the data that was sent;
  - /crash/k<i> holds str(V), its version is V, and C == V or C == V + 1
    (the stream interleaves the two kinds, so a prefix has that shape);
  - nothing else exists under /crash and / (nothing no client sent);
  - the next write gets a zxid above every zxid acknowledged before the kill.

The seed of the kill moments is printed (`CHEETAH_CRASH_SEED=<n>` replays it).
Against Cheetah the run makes KILLS_CHEETAH kills; against Apache ZooKeeper 3.8
(durable, ~3 s to restart) a few, to show the harness itself is right.

A second test: a kazoo client with a 30 s session creates an ephemeral, the
server is SIGKILLed and restarted, and the client reconnects within its timeout
with the same session id, and its ephemeral is still there, owned by it.

    CHEETAH_SERVER=build-durability/dataplane/cheetah-server \\
        /usr/bin/python3 -m pytest -s tests/integration/test_durability_crash.py
"""

import os
import random
import shutil
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_CHEETAH = 22800
PORT_ZOOKEEPER = 22801
PORT_SESSION_CHEETAH = 22802
PORT_SESSION_ZOOKEEPER = 22803

KILLS_CHEETAH = 50
KILLS_ZOOKEEPER = 10
CLIENTS = 4
PIPELINE_DEPTH = 16          # requests each client keeps in flight (group commit)
LOAD_S_MIN = 0.05            # time under load before a kill, uniform in [min, max]
LOAD_S_MAX = 0.5
OPS_PER_CYCLE_MAX = 200000   # per client and cycle: the writer loop's bound
CLIENT_JOIN_S = 15.0         # a client notices the kill within its socket timeout
CLIENT_IO_TIMEOUT_S = 5.0
SESSION_TIMEOUT_MS = 4000    # the sessions left behind by kills expire soon
CHILDREN_MAX = 1000000       # bound on what a verification may walk
RUN_BUDGET_S = {"cheetah": 200.0, "zookeeper": 150.0}
# snapCount small enough that a run crosses several snapshots and log files
# (and kills land during background snapshots), large enough to not be all
# snapshots.
SNAP_COUNT = "5000"
EARLY_KILL_FRACTION = 0.2     # cycles where the restarted server is killed again early
EARLY_KILL_S_MAX = 0.3
DEFAULT_SEED = 20261125


def seed():
    value = int(os.environ.get("CHEETAH_CRASH_SEED", DEFAULT_SEED))
    print(f"\nCHEETAH_CRASH_SEED={value}", flush=True)
    return value


def create_path(client_index, seq):
    return f"/crash/c{client_index}/n{seq:010d}"


def create_data(client_index, seq):
    return b"c%d-%d" % (client_index, seq)


def op_request(client_index, op_number):
    """(opcode, body) of op `op_number` in client `client_index`'s stream."""
    if op_number % 2 == 0:
        seq = op_number // 2
        return jc.OP_CREATE, jc.encode_create(create_path(client_index, seq),
                                              create_data(client_index, seq))
    value = str(op_number // 2 + 1).encode()
    return jc.OP_SET_DATA, jc.encode_set_data(f"/crash/k{client_index}", value)


class Writer(threading.Thread):
    """One client's connection for one cycle: sends its stream from
    `applied` (ops known to be in the tree) pipelined, and records replies."""

    def __init__(self, address, client_index, applied, stop):
        super().__init__(daemon=True)
        self.address = address
        self.client_index = client_index
        self.first_op = applied
        self.acked = applied      # ops 0..acked-1 acknowledged OK
        self.sent = applied       # ops 0..sent-1 sent (some maybe never arrived)
        self.max_acked_zxid = 0
        self.error = None         # a wrong reply: a failure of the server
        self.end = None           # why the cycle ended (connection loss)
        self.stop = stop

    def run(self):
        try:
            client = jc.JuteClient(self.address, io_timeout_s=CLIENT_IO_TIMEOUT_S)
            client.connect(timeout_ms=SESSION_TIMEOUT_MS)
        except (OSError, jc.ConnectionClosed, jc.ProtocolError) as error:
            self.end = f"connect: {error!r}"
            return
        try:
            self.pump(client)
        except (OSError, jc.ConnectionClosed, jc.ProtocolError) as error:
            self.end = repr(error)
        finally:
            client.close()

    def pump(self, client):
        in_flight = []  # (xid, op_number)
        limit = self.first_op + OPS_PER_CYCLE_MAX
        while not self.stop.is_set() or in_flight:
            while (not self.stop.is_set() and len(in_flight) < PIPELINE_DEPTH
                   and self.sent < limit):
                opcode, body = op_request(self.client_index, self.sent)
                xid = client.send_request(opcode, body)
                in_flight.append((xid, self.sent))
                self.sent += 1
            if not in_flight:
                return
            frame = client.read_frame()
            if frame.is_notification:
                continue
            xid, op_number = in_flight.pop(0)
            if frame.xid != xid:
                self.error = f"reply xid {frame.xid}, expected {xid} (op {op_number})"
                return
            if frame.err != jc.OK:
                self.error = (f"op {op_number} of client {self.client_index}: "
                              f"{jc.ERR_NAMES.get(frame.err, frame.err)}")
                return
            if op_number % 2 == 1:
                stat = jc.decode_reply_body(jc.OP_SET_DATA, frame.body)["stat"]
                if stat["version"] != op_number // 2 + 1:
                    self.error = f"setData op {op_number}: version {stat['version']}"
                    return
            assert op_number == self.acked
            self.acked += 1
            self.max_acked_zxid = max(self.max_acked_zxid, frame.zxid)


def call_ok(client, opcode, body):
    reply = client.call(opcode, body)
    assert reply.err == jc.OK, (opcode, jc.ERR_NAMES.get(reply.err, reply.err))
    return jc.decode_reply_body(opcode, reply.body), reply


def children(client, path):
    body, _ = call_ok(client, jc.OP_GET_CHILDREN, jc.encode_path_watch(path))
    assert len(body["children"]) <= CHILDREN_MAX
    return body["children"]


def setup_tree(address):
    client = jc.JuteClient(address)
    client.connect(timeout_ms=SESSION_TIMEOUT_MS)
    try:
        call_ok(client, jc.OP_CREATE, jc.encode_create("/crash", b""))
        for index in range(CLIENTS):
            call_ok(client, jc.OP_CREATE, jc.encode_create(f"/crash/c{index}", b""))
            call_ok(client, jc.OP_CREATE, jc.encode_create(f"/crash/k{index}", b"0"))
        client.close_session()
    finally:
        client.close()


def verify(address, applied, writers, max_acked_zxid, context):
    """Checks the restarted server's tree against what was acknowledged and
    sent; returns the number of ops of each client now in the tree."""
    client = jc.JuteClient(address, io_timeout_s=30.0)
    client.connect(timeout_ms=SESSION_TIMEOUT_MS)
    now_applied = []
    try:
        assert sorted(children(client, "/")) == ["crash", "zookeeper"], context
        expected_top = sorted([f"c{i}" for i in range(CLIENTS)] + [f"k{i}" for i in range(CLIENTS)])
        assert sorted(children(client, "/crash")) == expected_top, context
        for index, writer in enumerate(writers):
            names = children(client, f"/crash/c{index}")
            seqs = sorted(int(name[1:]) for name in names)
            assert all(name == f"n{int(name[1:]):010d}" for name in names), (context, names[:5])
            creates = len(seqs)
            assert seqs == list(range(creates)), (
                f"{context}: client {index}: creates present are not n0..n{creates - 1}: "
                f"missing {sorted(set(range(creates)) - set(seqs))[:10]}, "
                f"extra {sorted(set(seqs) - set(range(creates)))[:10]}")
            body, _ = call_ok(client, jc.OP_GET_DATA, jc.encode_path_watch(f"/crash/k{index}"))
            value = int(body["data"])
            assert body["stat"]["version"] == value, (context, index, body)
            assert creates in (value, value + 1), (
                f"{context}: client {index}: {creates} creates but counter {value}: "
                "not a prefix of the stream")
            present = creates + value
            assert present >= writer.acked, (
                f"{context}: client {index}: LOST ACKNOWLEDGED WRITES: {writer.acked} ops "
                f"acknowledged, only {present} in the tree (creates {creates}, counter {value})")
            assert present <= writer.sent, (
                f"{context}: client {index}: {present} ops in the tree but only "
                f"{writer.sent} were sent")
            # The data of every create made in this cycle is what was sent.
            for seq in range((applied[index] + 1) // 2, creates):
                body, _ = call_ok(client, jc.OP_GET_DATA,
                                  jc.encode_path_watch(create_path(index, seq)))
                assert body["data"] == create_data(index, seq), (context, index, seq)
            now_applied.append(present)
        # The next zxid is above every acknowledged one: nothing acknowledged
        # was rolled back and its zxid reused.
        _, reply = call_ok(client, jc.OP_SET_DATA, jc.encode_set_data("/crash", b""))
        assert reply.zxid > max_acked_zxid, (context, hex(reply.zxid), hex(max_acked_zxid))
        client.close_session()
    finally:
        client.close()
    return now_applied


def run_kills(kind, port, kills, extra_config=None, extra_jvm_flags=()):
    run_seed = seed()
    rng = random.Random(run_seed)
    config = {"snapCount": SNAP_COUNT, **(extra_config or {})}
    server = servers.start(kind, port, config, extra_jvm_flags=extra_jvm_flags)
    workdir = server.workdir
    started = time.monotonic()
    totals = {"acked": 0, "recovered_unacked": 0}
    try:
        setup_tree(server.address)
        applied = [0] * CLIENTS
        max_acked_zxid = 0
        early_kills = 0
        for kill in range(kills):
            assert time.monotonic() - started < RUN_BUDGET_S[kind], \
                f"{kind}: only {kill} kills in {RUN_BUDGET_S[kind]} s"
            load_s = rng.uniform(LOAD_S_MIN, LOAD_S_MAX)
            stop = threading.Event()
            writers = [Writer(server.address, index, applied[index], stop)
                       for index in range(CLIENTS)]
            for writer in writers:
                writer.start()
            time.sleep(load_s)
            server.kill()
            stop.set()
            for writer in writers:
                writer.join(CLIENT_JOIN_S)
                assert not writer.is_alive(), f"client {writer.client_index} hangs after the kill"
            errors = [writer.error for writer in writers if writer.error]
            assert not errors, f"kill {kill}: wrong replies before the kill: {errors}"
            max_acked_zxid = max([max_acked_zxid] + [w.max_acked_zxid for w in writers])
            if rng.random() < EARLY_KILL_FRACTION:
                # Also a kill during recovery (or the snapshot taken after it).
                early = servers.restart(server, log_name=f"server-{kill + 1}-early.log",
                                        wait=False)
                time.sleep(rng.uniform(0.0, EARLY_KILL_S_MAX))
                early.kill()
                server = early
                early_kills += 1
            server = servers.restart(server, log_name=f"server-{kill + 1}.log")
            context = (f"{kind} seed {run_seed} kill {kill} after {load_s:.3f}s "
                       f"(acked {[w.acked for w in writers]}, sent {[w.sent for w in writers]})")
            now_applied = verify(server.address, applied, writers, max_acked_zxid, context)
            totals["acked"] += sum(w.acked - a for w, a in zip(writers, applied))
            totals["recovered_unacked"] += sum(n - w.acked for n, w in zip(now_applied, writers))
            applied = now_applied
        print(f"{kind}: {kills} kills under load and {early_kills} during recovery in "
              f"{time.monotonic() - started:.1f} s, "
              f"{totals['acked']} acknowledged ops all present, "
              f"{totals['recovered_unacked']} sent but unacknowledged ops also present, "
              f"{sum(applied)} ops in the final tree", flush=True)
        assert totals["acked"] > kills * CLIENTS, "the load acknowledged almost nothing"
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def test_acknowledged_writes_survive_sigkill_cheetah():
    run_kills("cheetah", PORT_CHEETAH, KILLS_CHEETAH)


def test_acknowledged_writes_survive_sigkill_zookeeper():
    """The same harness against Apache ZooKeeper 3.8: it must pass there."""
    run_kills("zookeeper", PORT_ZOOKEEPER, KILLS_ZOOKEEPER)


PORT_HARNESS_CHECK = 22804


SETUP_TXNS = 2 + 2 * CLIENTS + 1   # createSession, /crash, c<i> and k<i>, closeSession
LOG_HEADER_BYTES = 16


def test_harness_detects_lost_acknowledged_writes():
    """The check can fail: after a kill of ZooKeeper, its transaction log is
    cut back to the set-up transactions before the restart (acknowledged
    writes lost, as a server that acknowledged before its fsync would lose
    them in a power cut); the verification must report lost acknowledged
    writes."""
    import glob
    server = servers.start("zookeeper", PORT_HARNESS_CHECK, {"snapCount": "1000000"})
    workdir = server.workdir
    try:
        setup_tree(server.address)
        stop = threading.Event()
        writers = [Writer(server.address, index, 0, stop) for index in range(CLIENTS)]
        for writer in writers:
            writer.start()
        time.sleep(0.5)
        server.kill()
        stop.set()
        for writer in writers:
            writer.join(CLIENT_JOIN_S)
        assert all(writer.acked > 0 for writer in writers)
        logs = glob.glob(os.path.join(workdir, "data", "version-2", "log.*"))
        assert len(logs) == 1, logs
        with open(logs[0], "r+b") as log:
            data = bytearray(log.read())
            at = LOG_HEADER_BYTES
            for _ in range(SETUP_TXNS):   # checksum, length, txn, end-of-record byte
                at += 12 + int.from_bytes(data[at + 8:at + 12], "big") + 1
            log.seek(at)
            log.write(bytes(len(data) - at))
        server = servers.restart(server, log_name="server-restarted.log")
        with pytest.raises(AssertionError) as failure:
            verify(server.address, [0] * CLIENTS, writers, 0, "harness check")
        assert "LOST ACKNOWLEDGED WRITES" in str(failure.value), failure.value
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


SESSION_TIMEOUT_S = 30.0
RECONNECT_WAIT_S = 25.0


@pytest.mark.parametrize("kind,port", [("cheetah", PORT_SESSION_CHEETAH),
                                       ("zookeeper", PORT_SESSION_ZOOKEEPER)])
def test_session_and_ephemeral_survive_sigkill(kind, port):
    from kazoo.client import KazooClient, KazooState
    from kazoo.retry import KazooRetry

    server = servers.start(kind, port)
    workdir = server.workdir
    states = []
    # kazoo waits session_timeout / len(hosts) for a handshake reply; ZooKeeper
    # restarting has once been seen to accept a connection and never answer
    # it (1 run in ~10 on a loaded machine), which would cost the whole 30 s.
    # The same address three times cuts that wait to 10 s.
    client = KazooClient(hosts=",".join([server.address] * 3), timeout=SESSION_TIMEOUT_S,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
    client.add_listener(states.append)
    try:
        client.start(timeout=10)
        session_id, password = client.client_id
        client.create("/eph", b"mine", ephemeral=True)
        client.create("/persistent", b"p")
        server.kill()
        server = servers.restart(server, log_name="server-restarted.log")
        deadline = time.monotonic() + RECONNECT_WAIT_S
        while time.monotonic() < deadline and not (client.connected and states
                                                   and states[-1] == KazooState.CONNECTED
                                                   and KazooState.SUSPENDED in states):
            time.sleep(0.05)
        assert KazooState.SUSPENDED in states, states
        assert states[-1] == KazooState.CONNECTED, (kind, states, server.log_text()[-4000:])
        assert KazooState.LOST not in states, (kind, states)
        assert client.client_id == (session_id, password), "the session changed"
        data, stat = client.get("/eph")
        assert data == b"mine" and stat.ephemeralOwner == session_id
        assert client.get("/persistent")[0] == b"p"
        # Another session sees the ephemeral too, owned by the first session,
        # and the session still works for writes.
        other = jc.JuteClient(server.address)
        other.connect()
        try:
            body, _ = call_ok(other, jc.OP_EXISTS, jc.encode_path_watch("/eph"))
            assert body["stat"]["ephemeralOwner"] == session_id
        finally:
            other.close()
        client.set("/eph", b"still mine")
        # Closing the session now removes its ephemeral.
        client.stop()
        checker = jc.JuteClient(server.address)
        checker.connect()
        try:
            assert checker.call(jc.OP_EXISTS, jc.encode_path_watch("/eph")).err == jc.NONODE
        finally:
            checker.close()
    finally:
        try:
            client.stop()
            client.close()
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


PORT_EXPIRY_CHEETAH = 22805
PORT_EXPIRY_ZOOKEEPER = 22806
SHORT_SESSION_MS = 4000       # the least ZooKeeper grants with tickTime 2000
EXPIRY_WAIT_S = 20.0
EXPIRY_EARLIEST_S = 2.0       # a restored session gets its whole timeout again


@pytest.mark.parametrize("kind,port", [("cheetah", PORT_EXPIRY_CHEETAH),
                                       ("zookeeper", PORT_EXPIRY_ZOOKEEPER)])
def test_restored_session_that_never_returns_expires(kind, port):
    """A session restored from disk whose client never comes back expires
    after its timeout counted from the restart, and its ephemeral goes with
    it (a closeSession is logged: it stays gone after another restart)."""
    server = servers.start(kind, port)
    workdir = server.workdir
    try:
        owner = jc.JuteClient(server.address)
        owner.connect(timeout_ms=SHORT_SESSION_MS)
        call_ok(owner, jc.OP_CREATE, jc.encode_create("/short", b"s", flags=jc.EPHEMERAL))
        server.kill()
        owner.close()
        server = servers.restart(server, log_name="server-restarted.log")
        restarted_at = time.monotonic()
        checker = jc.JuteClient(server.address)
        checker.connect(timeout_ms=30000)
        try:
            body, _ = call_ok(checker, jc.OP_EXISTS, jc.encode_path_watch("/short"))
            assert body["stat"]["ephemeralOwner"] == owner.session_id
            gone_after_s = None
            while time.monotonic() - restarted_at < EXPIRY_WAIT_S:
                if checker.call(jc.OP_EXISTS, jc.encode_path_watch("/short")).err == jc.NONODE:
                    gone_after_s = time.monotonic() - restarted_at
                    break
                time.sleep(0.1)
        finally:
            checker.close()
        print(f"{kind}: the restored session expired {gone_after_s} s after the restart")
        assert gone_after_s is not None, f"/short still there {EXPIRY_WAIT_S} s after the restart"
        assert gone_after_s >= EXPIRY_EARLIEST_S, gone_after_s
        server.kill()
        server = servers.restart(server, log_name="server-restarted-2.log")
        checker = jc.JuteClient(server.address)
        checker.connect()
        try:
            assert checker.call(jc.OP_EXISTS, jc.encode_path_watch("/short")).err == jc.NONODE
        finally:
            checker.close()
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
