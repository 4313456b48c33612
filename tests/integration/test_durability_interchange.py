"""Data directory interchange with Apache ZooKeeper 3.8 (issue 3).

(a) ZooKeeper 3.8 writes a data directory holding every transaction type it
logs (create, create2, createContainer, createTTL, delete, deleteContainer
made by its ContainerManager, setData, setACL, check inside a multi, multi,
createSession, closeSession, error, a failed multi), with snapCount small so
there are several snapshots and log files, and a session still alive with
ephemerals when it is stopped (SIGTERM). Cheetah is started on a copy of that
directory and must serve the same tree (every path, data, Stat, ACL) that
ZooKeeper served just before it stopped, and the same as ZooKeeper itself
serves when restarted on another copy (like with like: what a restart keeps).
The live session resumes on Cheetah with its id and password.

(b) The reverse: Cheetah runs the same requests on its own data directory,
stops, and ZooKeeper 3.8 started on a copy must serve the tree Cheetah served,
read Cheetah's files without complaint (its log says nothing about a
problem), and ZooKeeper's own tools (TxnLogToolkit, SnapshotFormatter) must
read every file Cheetah wrote.

    CHEETAH_SERVER=build-durability/dataplane/cheetah-server \\
        /usr/bin/python3 -m pytest tests/integration/test_durability_interchange.py
"""

import base64
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_ZK_WRITER = 22820
PORT_CHEETAH_READER = 22821
PORT_ZK_RESTARTED = 22822
PORT_CHEETAH_WRITER = 22823
PORT_ZK_READER = 22824
PORT_CHEETAH_RESTARTED = 22825

SNAP_COUNT = 10
FILLER_WRITES = 60
CONTAINER_CHECK_MS = 200
CONTAINER_WAIT_S = 15.0
LIVE_SESSION_TIMEOUT_MS = 60000
TREE_NODES_MAX = 10000
TOOL_TIMEOUT_S = 60.0
BOB = b"bob:secret"
BOB_DIGEST = "bob:" + base64.b64encode(hashlib.sha1(BOB).digest()).decode()
DIGEST_ACL = [(jc.PERM_READ | jc.PERM_ADMIN, "digest", BOB_DIGEST),
              (jc.PERM_READ, "ip", "127.0.0.1")]
TXN_LINE = re.compile(r"session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\w+)")


def zookeeper_jvm_flags():
    # ContainerManager reads a JVM property (a zoo.cfg key for Cheetah).
    return [f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_MS}"]


def config():
    return {"snapCount": str(SNAP_COUNT), "extendedTypesEnabled": "true",
            "znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS)}


def start(kind, port, workdir=None):
    return servers.start(kind, port, config(), workdir=workdir,
                         extra_jvm_flags=zookeeper_jvm_flags() if kind == "zookeeper" else ())


def call(client, opcode, body, err=jc.OK):
    reply = client.call(opcode, body)
    if err is not None:
        assert reply.err == err, (opcode, jc.ERR_NAMES.get(reply.err, reply.err))
    return reply


def wait_gone(client, path):
    deadline = time.monotonic() + CONTAINER_WAIT_S
    while time.monotonic() < deadline:
        if client.call(jc.OP_EXISTS, jc.encode_path_watch(path)).err == jc.NONODE:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} was not removed by the server in {CONTAINER_WAIT_S} s")


def write_every_txn_type(address):
    """Requests causing every transaction type; returns the live client
    (its session open, owning two ephemerals) for the caller to keep open
    until the server stops."""
    client = jc.JuteClient(address)
    client.connect(timeout_ms=30000)                                      # createSession
    try:
        call(client, jc.OP_CREATE, jc.encode_create("/i", b"one"))      # create
        call(client, jc.OP_CREATE2, jc.encode_create("/i/c2", b"two"))  # create2
        call(client, jc.OP_CREATE, jc.encode_create("/i/null", None))
        for _ in range(3):
            call(client, jc.OP_CREATE, jc.encode_create("/i/seq-", b"s",
                                                         flags=jc.PERSISTENT_SEQUENTIAL))
        call(client, jc.OP_DELETE, jc.encode_delete("/i/seq-0000000003"))    # delete
        call(client, jc.OP_SET_DATA, jc.encode_set_data("/i", b"three"))    # setData
        call(client, jc.OP_SET_ACL, jc.encode_set_acl("/i/c2", DIGEST_ACL))  # setACL
        call(client, jc.OP_MULTI, jc.encode_multi([                        # multi, check
            jc.op_create("/m", b"m"), jc.op_set_data("/m", b"n"), jc.op_check("/m", 1),
            jc.op_create("/m/kid", b"k"), jc.op_delete("/m/kid")]))
        reply = call(client, jc.OP_MULTI, jc.encode_multi([                # failed multi
            jc.op_create("/m2"), jc.op_delete("/absent")]), err=None)
        assert jc.decode_multi_response(reply.body)[-1] == ("error", jc.NONODE)
        call(client, jc.OP_DELETE, jc.encode_delete("/absent"), err=jc.NONODE)      # error
        call(client, jc.OP_CREATE, jc.encode_create("/i", b"x"), err=jc.NODEEXISTS)  # error
        call(client, jc.OP_CREATE_CONTAINER, jc.encode_create("/box", b"b",      # container
                                                             flags=jc.CONTAINER))
        call(client, jc.OP_CREATE, jc.encode_create("/box/inner", b"in"))
        call(client, jc.OP_DELETE, jc.encode_delete("/box/inner"))
        wait_gone(client, "/box")                                          # deleteContainer
        call(client, jc.OP_CREATE_CONTAINER, jc.encode_create("/box2", b"", flags=jc.CONTAINER))
        call(client, jc.OP_CREATE_CONTAINER, jc.encode_create("/box3", b"", flags=jc.CONTAINER))
        call(client, jc.OP_CREATE, jc.encode_create("/box3/kept", b"k"))
        call(client, jc.OP_CREATE_TTL, jc.encode_create_ttl("/ttl", b"t",    # createTTL
                                                           ttl=3600 * 1000))
        call(client, jc.OP_CREATE_TTL, jc.encode_create_ttl(
            "/ttlseq-", b"t", flags=jc.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=3600 * 1000))
        # A session that closes: its ephemeral goes with its closeSession.
        gone = jc.JuteClient(address)
        gone.connect(timeout_ms=30000)
        call(gone, jc.OP_CREATE, jc.encode_create("/i/gone", b"g", flags=jc.EPHEMERAL))
        gone.close_session()                                               # closeSession
        gone.close()
        # Filler: enough transactions for several snapshots and log files.
        call(client, jc.OP_CREATE, jc.encode_create("/filler", b""))
        for index in range(FILLER_WRITES):
            call(client, jc.OP_SET_DATA, jc.encode_set_data("/filler", b"f%d" % index))
            if index % 7 == 0:
                call(client, jc.OP_CREATE, jc.encode_create(f"/filler/n{index}", b"%d" % index))
        # The live session's ephemerals, made last.
        live = jc.JuteClient(address)
        live.connect(timeout_ms=LIVE_SESSION_TIMEOUT_MS)
        call(live, jc.OP_CREATE, jc.encode_create("/i/live1", b"l1", flags=jc.EPHEMERAL))
        call(live, jc.OP_CREATE, jc.encode_create("/i/live-", b"l2",
                                                    flags=jc.EPHEMERAL_SEQUENTIAL))
        client.close_session()
        return live
    finally:
        client.close()


def served_tree(address):
    return jc.served_tree(address, auth=("digest", BOB), nodes_max=TREE_NODES_MAX)


def assert_same_tree(actual, expected, what):
    assert sorted(actual) == sorted(expected), (
        f"{what}: missing {sorted(set(expected) - set(actual))}, "
        f"extra {sorted(set(actual) - set(expected))}")
    for path in expected:
        assert actual[path] == expected[path], (what, path, actual[path], expected[path])


def data_files(data_dir):
    version_2 = os.path.join(data_dir, "version-2")
    def by_zxid(name):
        return int(name.rsplit(".", 1)[1], 16)
    return (sorted(glob.glob(os.path.join(version_2, "snapshot.*")), key=by_zxid),
            sorted(glob.glob(os.path.join(version_2, "log.*")), key=by_zxid))


def copy_workdir(source_workdir, target_workdir):
    """A new work directory holding a copy of source's data/."""
    os.makedirs(target_workdir)
    shutil.copytree(os.path.join(source_workdir, "data"), os.path.join(target_workdir, "data"))
    return target_workdir


def resume_session(address, session_id, password):
    """Reconnects with an existing session; returns the handshake."""
    client = jc.JuteClient(address)
    try:
        handshake = client.connect(timeout_ms=LIVE_SESSION_TIMEOUT_MS, session_id=session_id,
                                   password=password)
        # the session works: a read on it
        assert client.call(jc.OP_EXISTS, jc.encode_path_watch("/i")).err == jc.OK
        return handshake
    finally:
        client.close()


def ephemerals_by_session(address):
    """The 'Sessions with Ephemerals' part of the dump four-letter word:
    {session id: sorted paths}."""
    text = servers.four_letter_word(address, "dump")
    assert "Sessions with Ephemerals" in text, text
    owners = {}
    current = None
    for line in text.split("Sessions with Ephemerals", 1)[1].splitlines()[1:]:
        if re.fullmatch(r"0x[0-9a-f]+:", line.strip()):
            current = int(line.strip()[:-1], 16)
            owners[current] = []
        elif line.startswith("\t/") and current is not None:
            owners[current].append(line.strip())
        elif line.strip():
            break
    return {owner: sorted(paths) for owner, paths in owners.items()}


def tools_build_dir():
    server = servers.cheetah_binary()
    return os.path.join(os.path.dirname(os.path.dirname(server)), "tools")


def cheetah_tool(name, path):
    result = subprocess.run([os.path.join(tools_build_dir(), name), path], capture_output=True,
                            text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, (name, path, result.stderr[-2000:])
    return result.stdout


def check_content(tree, live_session_id):
    """What the requests made is in the tree (so equal trees are not both empty)."""
    assert tree["/i"][0] == b"three" and tree["/i"][1]["version"] == 1
    assert tree["/i/c2"][2] == DIGEST_ACL and tree["/i/c2"][1]["aversion"] == 1
    assert tree["/i/null"][0] is None
    assert "/i/seq-0000000003" not in tree
    assert "/i/seq-0000000002" in tree and "/i/seq-0000000004" in tree
    assert tree["/m"][0] == b"n" and "/m/kid" not in tree and "/m2" not in tree
    assert "/box" not in tree, "the emptied container was not deleted"
    assert "/box2" in tree  # a container never used stays
    assert "/box3/kept" in tree
    assert tree["/ttl"][0] == b"t"  # (clients see 0 as owner of containers and TTL nodes)
    assert "/i/gone" not in tree
    assert tree["/i/live1"][1]["ephemeralOwner"] == live_session_id
    live_seq = [path for path in tree if path.startswith("/i/live-")]
    assert len(live_seq) == 1 and tree[live_seq[0]][1]["ephemeralOwner"] == live_session_id
    assert tree["/filler"][0] == b"f%d" % (FILLER_WRITES - 1)


def write_and_stop(kind, port):
    """Runs the requests on a fresh `kind` server, then SIGTERM; returns
    (server, tree served just before the stop, live session id, password)."""
    server = start(kind, port)
    try:
        live = write_every_txn_type(server.address)
        try:
            tree = served_tree(server.address)
            check_content(tree, live.session_id)
            session = (live.session_id, live.password)
            # Let the snapshot thread finish what it started (a fuzzy snapshot
            # in progress at SIGTERM is a legitimate case too, but a complete
            # one makes the snapshot count deterministic).
            time.sleep(0.5)
            server.stop()
            assert server.process.returncode in (0, 143, -15), server.process.returncode
        finally:
            live.close()
    except BaseException:
        server.kill()
        shutil.rmtree(server.workdir, ignore_errors=True)
        raise
    return server, tree, session


def toolkit_txn_types(log_path):
    result = subprocess.run(
        ["java", "-cp", servers.ZOOKEEPER_CLASSPATH,
         "org.apache.zookeeper.server.persistence.TxnLogToolkit", log_path],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, (log_path, result.stdout[-2000:], result.stderr[-2000:])
    return [match.group(4) for match in TXN_LINE.finditer(result.stdout)], result.stdout


def formatter_ok(snapshot_path):
    result = subprocess.run(
        ["java", "-cp", servers.ZOOKEEPER_CLASSPATH,
         "org.apache.zookeeper.server.SnapshotFormatter", snapshot_path],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, (snapshot_path, result.stderr[-2000:])
    return result.stdout


EXPECTED_TXN_TYPES = {"createSession", "create", "create2", "createContainer", "createTtl",
                      "delete", "deleteContainer", "setData", "setACL", "multi",
                      "closeSession", "error"}


def test_cheetah_serves_zookeepers_data_directory(tmp_path):
    zk, before_stop, (session_id, password) = write_and_stop("zookeeper", PORT_ZK_WRITER)
    workdirs = [zk.workdir]
    try:
        snapshots, logs = data_files(os.path.join(zk.workdir, "data"))
        assert len(snapshots) >= 2 and len(logs) >= 2, (snapshots, logs)
        kinds = set()
        for log in logs:
            kinds |= set(toolkit_txn_types(log)[0])
        assert EXPECTED_TXN_TYPES <= kinds, EXPECTED_TXN_TYPES - kinds
        # Cheetah's own dump tools read every file ZooKeeper wrote.
        ours = set()
        for log in logs:
            ours |= {match.group(4) for match in TXN_LINE.finditer(cheetah_tool("cheetah-logdump",
                                                                                 log))}
        assert ours == kinds, (ours, kinds)
        for snapshot in snapshots:
            cheetah_tool("cheetah-snapdump", snapshot)

        # ZooKeeper itself on a copy: what a restart keeps.
        zk_again = start("zookeeper", PORT_ZK_RESTARTED,
                         copy_workdir(zk.workdir, str(tmp_path / "zk-again")))
        try:
            after_zk_restart = served_tree(zk_again.address)
            zk_ephemerals = ephemerals_by_session(zk_again.address)
        finally:
            zk_again.stop()
        live_paths = sorted(path for path in before_stop if path.startswith("/i/live"))
        assert zk_ephemerals == {session_id: live_paths}, zk_ephemerals
        assert_same_tree(after_zk_restart, before_stop, "ZooKeeper restarted vs before stop")

        cheetah_workdir = copy_workdir(zk.workdir, str(tmp_path / "cheetah"))
        cheetah = start("cheetah", PORT_CHEETAH_READER, cheetah_workdir)
        try:
            served = served_tree(cheetah.address)
            assert_same_tree(served, before_stop, "Cheetah on ZooKeeper's dataDir")
            assert ephemerals_by_session(cheetah.address) == zk_ephemerals
            handshake = resume_session(cheetah.address, session_id, password)
            assert handshake.session_id == session_id and handshake.timeout_ms > 0, \
                "the live session did not resume on Cheetah"
        finally:
            cheetah.stop()
        assert cheetah.process.returncode == 0, cheetah.log_text()[-3000:]
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def test_zookeeper_serves_cheetahs_data_directory(tmp_path):
    cheetah, before_stop, (session_id, password) = write_and_stop("cheetah", PORT_CHEETAH_WRITER)
    try:
        log_text = cheetah.log_text()
        snapshots, logs = data_files(os.path.join(cheetah.workdir, "data"))
        assert len(snapshots) >= 2 and len(logs) >= 2, (snapshots, logs, log_text[-3000:])
        # ZooKeeper's tools read every file Cheetah wrote.
        kinds = set()
        for log in logs:
            kinds |= set(toolkit_txn_types(log)[0])
        assert EXPECTED_TXN_TYPES <= kinds, EXPECTED_TXN_TYPES - kinds
        for snapshot in snapshots:
            formatter_ok(snapshot)

        # Cheetah itself restarted on a copy.
        again = start("cheetah", PORT_CHEETAH_RESTARTED,
                      copy_workdir(cheetah.workdir, str(tmp_path / "cheetah-again")))
        try:
            assert_same_tree(served_tree(again.address), before_stop,
                             "Cheetah restarted vs before stop")
        finally:
            again.stop()

        zk = start("zookeeper", PORT_ZK_READER,
                   copy_workdir(cheetah.workdir, str(tmp_path / "zk")))
        try:
            served = served_tree(zk.address)
            assert_same_tree(served, before_stop, "ZooKeeper on Cheetah's dataDir")
            live_paths = sorted(path for path in before_stop if path.startswith("/i/live"))
            assert ephemerals_by_session(zk.address) == {session_id: live_paths}
            handshake = resume_session(zk.address, session_id, password)
            assert handshake.session_id == session_id and handshake.timeout_ms > 0, \
                "the live session did not resume on ZooKeeper"
            zk_log = zk.log_text()
        finally:
            zk.stop()
        for complaint in ("problem reading", "CRC check failed", "Unreasonable length",
                          "EOFException", "Digests are not matching", "digest mismatch",
                          "Unable to load database", "] ERROR "):
            assert complaint not in zk_log, (complaint, zk_log[-3000:])
    finally:
        shutil.rmtree(cheetah.workdir, ignore_errors=True)


# ---- autopurge: the same files kept as ZooKeeper keeps -------------------------------

PORT_PURGE_SOURCE = 22830
PORT_PURGE_SETTLE = 22831
PORT_PURGE_ZOOKEEPER = 22832
PORT_PURGE_CHEETAH = 22833
PURGE_RETAIN = 3
PURGE_WRITES = 120
PURGE_WAIT_S = 20.0
PURGE_STABLE_S = 1.5


def file_names(workdir):
    return sorted(os.path.basename(path)
                  for path in glob.glob(os.path.join(workdir, "data", "version-2", "*")))


def wait_purged(workdir):
    """The version-2 listing once it holds at most PURGE_RETAIN snapshots and
    has not changed for PURGE_STABLE_S."""
    deadline = time.monotonic() + PURGE_WAIT_S
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        names = file_names(workdir)
        if names != last:
            last, since = names, time.monotonic()
        elif (sum(name.startswith("snapshot.") for name in names) <= PURGE_RETAIN
              and time.monotonic() - since >= PURGE_STABLE_S):
            return names
        time.sleep(0.1)
    raise AssertionError(f"not purged in {PURGE_WAIT_S} s: {last}")


@pytest.mark.parametrize("writer", ["zookeeper", "cheetah"])
def test_autopurge_keeps_what_zookeeper_keeps(writer, tmp_path):
    """A data directory with many snapshots and logs (written by `writer`,
    then restarted once so that its newest snapshot is at its last zxid and
    a start-up snapshot adds no new name) is copied twice; ZooKeeper and
    Cheetah start on the copies with autopurge.snapRetainCount=3 and
    autopurge.purgeInterval=1 (both purge at start, then hourly; ZooKeeper
    through QuorumPeerMain, zkServer.sh's entry point, which runs the purge). Both must
    keep exactly the same files, and serve the same tree."""
    source = start(writer, PORT_PURGE_SOURCE)
    workdirs = [source.workdir]
    try:
        client = jc.JuteClient(source.address)
        client.connect()
        call(client, jc.OP_CREATE, jc.encode_create("/p", b""))
        for index in range(PURGE_WRITES):
            call(client, jc.OP_SET_DATA, jc.encode_set_data("/p", b"%d" % index))
        client.close_session()
        client.close()
        time.sleep(0.5)
        source.stop()
        settle = start(writer, PORT_PURGE_SETTLE, source.workdir)
        settle.stop()
        before = file_names(source.workdir)
        assert sum(name.startswith("snapshot.") for name in before) > PURGE_RETAIN + 2, before
        assert sum(name.startswith("log.") for name in before) > 3, before

        purge = {"autopurge.snapRetainCount": str(PURGE_RETAIN), "autopurge.purgeInterval": "1"}
        kept, trees = {}, {}
        for kind, port in (("zookeeper", PORT_PURGE_ZOOKEEPER), ("cheetah", PORT_PURGE_CHEETAH)):
            workdir = copy_workdir(source.workdir, str(tmp_path / kind))
            server = servers.start(kind, port, {**config(), **purge}, workdir=workdir,
                                   extra_jvm_flags=zookeeper_jvm_flags()
                                   if kind == "zookeeper" else (),
                                   zookeeper_main=servers.ZOOKEEPER_QUORUM_MAIN)
            try:
                kept[kind] = wait_purged(workdir)
                trees[kind] = served_tree(server.address)
            finally:
                server.stop()
        print(f"written by {writer}: {len(before)} files; ZooKeeper keeps {kept['zookeeper']}")
        assert kept["cheetah"] == kept["zookeeper"], (before, kept)
        assert len(kept["zookeeper"]) < len(before)
        assert_same_tree(trees["cheetah"], trees["zookeeper"], "after purge")
        assert trees["cheetah"]["/p"][0] == b"%d" % (PURGE_WRITES - 1)
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
