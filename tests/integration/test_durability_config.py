"""Durability settings as zoo.cfg gives them: dataLogDir apart from dataDir,
preAllocSize, snapCount (log rolls and snapshots), autopurge, forceSync=no
in conf. Each test restarts Cheetah on its own data and checks the files
and the tree.
"""

import os
import shutil
import tempfile

import pytest
from kazoo.client import KazooClient

import servers

PORT_BASE = 22690
SESSION_TIMEOUT_S = 10.0


def connect(server):
    client = KazooClient(hosts=server.address, timeout=SESSION_TIMEOUT_S)
    client.start(timeout=10)
    return client


def names(directory, prefix):
    path = os.path.join(directory, "version-2")
    return sorted(name for name in os.listdir(path) if name.startswith(prefix))


@pytest.fixture
def workdir():
    directory = tempfile.mkdtemp(prefix="cheetah-durability-config-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_data_log_dir_apart_from_data_dir(workdir):
    data_dir = os.path.join(workdir, "data")
    log_dir = os.path.join(workdir, "txnlog")
    config = {"dataDir": data_dir, "dataLogDir": log_dir, "preAllocSize": "128"}
    server = servers.start("cheetah", PORT_BASE, config, workdir=workdir)
    try:
        client = connect(server)
        for index in range(50):
            client.create(f"/apart-{index}", b"value-%d" % index)
        client.stop()
        client.close()
        server.kill()
        # Logs only in dataLogDir, snapshots only in dataDir, as ZooKeeper.
        assert names(log_dir, "log.") and not names(log_dir, "snapshot.")
        assert names(data_dir, "snapshot.") and not names(data_dir, "log.")
        # preAllocSize is in KiB: the log grows in 128 KiB steps after its
        # 16-byte header (the 64 MiB default would make it far larger).
        for name in names(log_dir, "log."):
            size = os.path.getsize(os.path.join(log_dir, "version-2", name))
            assert size % (128 * 1024) == 16 and size < 1024 * 1024, (name, size)
        server = servers.restart(server)
        client = connect(server)
        assert client.get("/apart-49")[0] == b"value-49"
        assert len([c for c in client.get_children("/") if c.startswith("apart-")]) == 50
        client.stop()
        client.close()
    finally:
        server.stop()


def test_snap_count_rolls_logs_and_autopurge_keeps_the_newest(workdir):
    data_dir = os.path.join(workdir, "data")
    config = {"dataDir": data_dir, "snapCount": "20", "autopurge.snapRetainCount": "3",
              "autopurge.purgeInterval": "1"}
    server = servers.start("cheetah", PORT_BASE + 1, config, workdir=workdir)
    try:
        client = connect(server)
        for index in range(300):
            client.create(f"/roll-{index}", b"x")
        client.stop()
        client.close()
        server.stop()
        # A roll after every 10 to 20 transactions (snapCount/2 + random).
        logs_before = names(data_dir, "log.")
        snapshots_before = names(data_dir, "snapshot.")
        assert len(logs_before) >= 300 // 20, logs_before
        assert len(snapshots_before) > 3, snapshots_before
        # The purge runs at start: 3 snapshots (the one taken at start
        # included, or not yet), and only the logs they need.
        server = servers.restart(server)
        client = connect(server)
        assert len([c for c in client.get_children("/") if c.startswith("roll-")]) == 300
        client.stop()
        client.close()
        server.stop()
        snapshots_after = names(data_dir, "snapshot.")
        assert len(snapshots_after) <= 4, snapshots_after
        assert len(names(data_dir, "log.")) < len(logs_before)
        # And what is left still recovers everything.
        server = servers.restart(server)
        client = connect(server)
        assert len([c for c in client.get_children("/") if c.startswith("roll-")]) == 300
        client.stop()
        client.close()
    finally:
        server.stop()


def test_force_sync_no_is_said_in_conf(workdir):
    config = {"dataDir": os.path.join(workdir, "data"), "forceSync": "no"}
    with servers.running("cheetah", PORT_BASE + 2, config) as server:
        assert "forceSync=no" in servers.four_letter_word(server.address, "conf")
    with servers.running("cheetah", PORT_BASE + 3) as server:
        assert "forceSync" not in servers.four_letter_word(server.address, "conf")


def test_a_snapshot_left_unfinished_by_a_crash_is_removed_at_start(workdir):
    data_dir = os.path.join(workdir, "data")
    os.makedirs(os.path.join(data_dir, "version-2"))
    leftover = os.path.join(data_dir, "version-2", "snapshot.2a.tmp")
    with open(leftover, "wb") as partial:
        partial.write(b"ZKSN\0\0\0\2")  # a snapshot cut short
    server = servers.start("cheetah", PORT_BASE + 4, {"dataDir": data_dir}, workdir=workdir)
    try:
        assert not os.path.exists(leftover)
        assert "snapshot.2a.tmp" in server.log_text()
    finally:
        server.stop()
