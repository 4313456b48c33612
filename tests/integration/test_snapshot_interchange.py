"""Snapshot interchange with Apache ZooKeeper 3.8 (issue 3).

Apache ZooKeeper 3.8 writes snapshots (snapCount is small so it takes them
while the test writes); cheetah-snapdump (store/snapshot.c's reader) must
parse the newest one, check its seals and digest trailer, and show every
node with the data, ACL and ephemeral owner the client gave, and the same
node list and Stat as ZooKeeper's own org.apache.zookeeper.server.SnapshotFormatter.

The other way: `cheetah-snapdump --rewrite` loads ZooKeeper's snapshot into a
Cheetah data tree (store_snapshot_load) and writes that tree with Cheetah's
writer (store_snapshot_write). The result must equal ZooKeeper's file byte for
byte up to its seal (Cheetah writes no digest trailer), and ZooKeeper 3.8
started on a data directory holding only Cheetah's file must serve the same
tree (every path, data, Stat and ACL) as when started on its own file.

Not yet here: Cheetah's server writing snapshots itself (the snapshot
pipeline of issue 3); these tests drive the writer through the tool.

    /usr/bin/python3 -m pytest tests/integration/test_snapshot_interchange.py
"""

import base64
import glob
import hashlib
import os
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_ZOOKEEPER = 22641
SNAPSHOT_WAIT_S = 20.0
TOOL_TIMEOUT_S = 60.0
# ZooKeeper snapshots after a random count in [snapCount/2, snapCount) txns.
SNAP_COUNT = 4
FILLER_WRITES = 12
BOB = b"bob:secret"
BOB_DIGEST = "bob:" + base64.b64encode(hashlib.sha1(BOB).digest()).decode()
DIGEST_ACL = [(jc.PERM_READ | jc.PERM_ADMIN, "digest", BOB_DIGEST),
              (jc.PERM_READ, "ip", "10.0.0.0/8")]
BIG_BYTES = 100000


def snapdump_binary():
    """$CHEETAH_SNAPDUMP, else beside $CHEETAH_SERVER's build, else build/."""
    build = os.path.join(servers.REPO_ROOT, "build")
    if os.environ.get("CHEETAH_SERVER"):
        build = os.path.dirname(os.path.dirname(os.environ["CHEETAH_SERVER"]))
    path = os.environ.get("CHEETAH_SNAPDUMP") or os.path.join(build, "tools", "cheetah-snapdump")
    if not os.path.exists(path):
        raise RuntimeError(f"cheetah-snapdump not found at {path}: build it or set CHEETAH_SNAPDUMP")
    return path


def snapshots(data_dir):
    """Snapshot files by zxid, newest last."""
    files = glob.glob(os.path.join(data_dir, "version-2", "snapshot.*"))
    return sorted(files, key=lambda name: int(name.rsplit(".", 1)[1], 16))


def snapdump(path, *args):
    return subprocess.run([snapdump_binary(), *args, path], capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT_S)


def parse_nodes(text):
    """Node blocks of a dump: path -> {key: value} (lines '  key = value')."""
    nodes = {}
    order = []
    current = None
    for line in text.splitlines():
        if line.startswith("/"):
            current = {}
            nodes[line] = current
            order.append(line)
        elif current is not None and line.startswith("  ") and " = " in line:
            key, value = line.strip().split(" = ", 1)
            current[key] = value
        elif line.startswith("----") or not line.startswith("  "):
            current = None if not line.startswith("----") else current
    return order, nodes


def populate(client):
    def call(opcode, body):
        reply = client.call(opcode, body)
        assert reply.err == jc.OK, (opcode, jc.ERR_NAMES.get(reply.err, reply.err))
        return reply

    call(jc.OP_CREATE, jc.encode_create("/snap", b"root-data"))
    call(jc.OP_CREATE, jc.encode_create("/snap/null", None))
    call(jc.OP_CREATE, jc.encode_create("/snap/acl", b"secret", DIGEST_ACL))
    call(jc.OP_CREATE, jc.encode_create("/snap/readonly", b"r", jc.READ_ACL))
    call(jc.OP_CREATE, jc.encode_create("/snap/big", bytes(range(256)) * (BIG_BYTES // 256)))
    call(jc.OP_CREATE, jc.encode_create("/snap/eph", b"mine", flags=jc.EPHEMERAL))
    for _ in range(3):
        call(jc.OP_CREATE, jc.encode_create("/snap/seq-", b"s", flags=jc.PERSISTENT_SEQUENTIAL))
    call(jc.OP_DELETE, jc.encode_delete("/snap/seq-0000000006"))
    call(jc.OP_CREATE_CONTAINER, jc.encode_create("/box", b"", flags=jc.CONTAINER))
    call(jc.OP_CREATE, jc.encode_create("/box/inner", b"in"))
    call(jc.OP_CREATE_TTL, jc.encode_create_ttl("/ttl", b"t", ttl=600000))
    call(jc.OP_SET_DATA, jc.encode_set_data("/snap", b"root-data-v2"))
    call(jc.OP_CREATE, jc.encode_create("/filler", b""))
    for i in range(FILLER_WRITES):
        call(jc.OP_SET_DATA, jc.encode_set_data("/filler", b"f%d" % i))


EXPECTED_PATHS = ["/snap", "/snap/null", "/snap/acl", "/snap/readonly", "/snap/big",
                  "/snap/eph", "/snap/seq-0000000005", "/snap/seq-0000000007", "/box",
                  "/box/inner", "/ttl"]


def wait_for_full_snapshot(data_dir):
    """ZooKeeper writes snapshots in a thread: wait for one that parses and
    holds every node the test made."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    last = None
    while time.monotonic() < deadline:
        files = snapshots(data_dir)
        if files:
            result = snapdump(files[-1])
            last = (files[-1], result.returncode, result.stderr[-500:])
            if result.returncode == 0:
                order, _ = parse_nodes(result.stdout)
                if all(path in order for path in EXPECTED_PATHS):
                    return files[-1]
        time.sleep(0.2)
    raise AssertionError(f"no complete snapshot from ZooKeeper: {last}")


def formatter_nodes(path):
    """ZooKeeper's own SnapshotFormatter on the file."""
    result = subprocess.run(
        ["java", "-cp", servers.ZOOKEEPER_CLASSPATH,
         "org.apache.zookeeper.server.SnapshotFormatter", path],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-2000:]
    return parse_nodes(result.stdout)


@pytest.fixture(scope="module")
def zookeeper_snapshot(tmp_path_factory):
    """(a copy of ZooKeeper's newest snapshot, the session id that owns /snap/eph)."""
    config = {"snapCount": str(SNAP_COUNT), "extendedTypesEnabled": "true"}
    copy = tmp_path_factory.mktemp("zk-snapshot")
    with servers.zookeeper(PORT_ZOOKEEPER, config) as zk:
        client = jc.JuteClient(zk.address)
        try:
            client.connect(timeout_ms=30000)
            populate(client)
            session_id = client.session_id
            newest = wait_for_full_snapshot(os.path.join(zk.workdir, "data"))
        finally:
            client.close()
        zk.stop()
        target = os.path.join(copy, os.path.basename(newest))
        with open(newest, "rb") as source, open(target, "wb") as out:
            out.write(source.read())
    return target, session_id


def test_snapdump_reads_zookeeper_snapshot(zookeeper_snapshot):
    path, session_id = zookeeper_snapshot
    result = snapdump(path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "magic 0x5a4b534e (ZKSN), version 2, dbid -1" in text
    # the seal and ZooKeeper 3.8's digest trailer with its own seal
    assert len(re.findall(r"^seal at offset \d+: Adler32 0x[0-9a-f]{8} \(good\)$", text,
                          re.M)) == 2
    assert re.search(r"^digest: zxid 0x[0-9a-f]+, version 2, digest -?\d+$", text, re.M)
    assert re.search(r"^0x%x, \d+$" % session_id, text, re.M), "session missing"
    order, nodes = parse_nodes(text)
    assert order[:2] == ["/", "/zookeeper"] or order[0] == "/"
    assert nodes["/snap"]["data"] == '"root-data-v2"'
    assert nodes["/snap"]["dataVersion"] == "1"
    assert nodes["/snap/null"]["data"] == "null"
    assert nodes["/snap/big"]["dataLength"] == str(BIG_BYTES // 256 * 256)
    assert f"digest:{BOB_DIGEST}:ra" in nodes["/snap/acl"]["acl"]
    assert "ip:10.0.0.0/8:r" in nodes["/snap/acl"]["acl"]
    assert "world:anyone:r]" in nodes["/snap/readonly"]["acl"]
    assert nodes["/snap/eph"]["ephemeralOwner"] == "0x%016x" % session_id
    assert nodes["/box"]["ephemeralOwner"] == "0x8000000000000000"
    assert nodes["/ttl"]["ephemeralOwner"].startswith("0xff")
    assert nodes["/snap/seq-0000000007"]["data"] == '"s"'
    assert "/snap/seq-0000000006" not in nodes
    # cversion in the file counts creations only (StatPersisted)
    assert nodes["/snap"]["cversion"] == "8"


def test_snapdump_agrees_with_snapshot_formatter(zookeeper_snapshot):
    path, _ = zookeeper_snapshot
    ours_order, ours = parse_nodes(snapdump(path).stdout)
    theirs_order, theirs = formatter_nodes(path)
    assert sorted(ours_order) == sorted(theirs_order)
    assert len(ours_order) == len(theirs_order)
    for node in theirs_order:
        for key in ("cZxid", "mZxid", "pZxid", "cversion", "dataVersion", "aclVersion",
                    "ephemeralOwner", "dataLength"):
            if key in theirs[node]:
                assert int(ours[node][key], 0) == int(theirs[node][key], 0), (node, key)


def test_snapdump_names_offset_of_corruption(zookeeper_snapshot, tmp_path):
    path, _ = zookeeper_snapshot
    data = bytearray(open(path, "rb").read())
    at = data.find(b"root-data-v2")
    assert at > 0
    data[at] ^= 0x01
    broken = tmp_path / "snapshot.broken"
    broken.write_bytes(bytes(data))
    result = snapdump(str(broken))
    assert result.returncode == 1
    assert re.search(r"snapshot\.broken: corrupt at offset \d+: bad seal", result.stderr), \
        result.stderr
    truncated = tmp_path / "snapshot.cut"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    result = snapdump(str(truncated))
    assert result.returncode == 1
    assert "snapshot.cut: corrupt at offset" in result.stderr


PORT_ZOOKEEPER_OWN = 22642
PORT_ZOOKEEPER_CHEETAH = 22643
TREE_NODES_MAX = 10000


def served_tree(address):
    return jc.served_tree(address, auth=("digest", BOB), nodes_max=TREE_NODES_MAX)


def zookeeper_on(snapshot_file, port, workdir):
    """ZooKeeper 3.8 started on a data directory holding only `snapshot_file`."""
    data_dir = os.path.join(workdir, "data")
    os.makedirs(os.path.join(data_dir, "version-2"))
    name = os.path.basename(snapshot_file)
    with open(snapshot_file, "rb") as source, \
            open(os.path.join(data_dir, "version-2", name), "wb") as out:
        out.write(source.read())
    return servers.zookeeper(port, {"dataDir": data_dir, "extendedTypesEnabled": "true"})


def test_cheetah_rewrite_is_zookeepers_bytes(zookeeper_snapshot, tmp_path):
    path, _ = zookeeper_snapshot
    rewritten = tmp_path / os.path.basename(path)
    result = snapdump(path, "--rewrite", str(rewritten))
    assert result.returncode == 0, result.stderr
    theirs = open(path, "rb").read()
    ours = rewritten.read_bytes()
    # ZooKeeper's file: ... seal, ZxidDigest (20 bytes), seal (13 bytes)
    assert len(theirs) == len(ours) + 20 + 13
    assert ours == theirs[:len(ours)]
    assert snapdump(str(rewritten)).returncode == 0


def test_zookeeper_serves_cheetah_snapshot(zookeeper_snapshot, tmp_path):
    path, session_id = zookeeper_snapshot
    rewritten_dir = tmp_path / "cheetah"
    rewritten_dir.mkdir()
    rewritten = rewritten_dir / os.path.basename(path)
    assert snapdump(path, "--rewrite", str(rewritten)).returncode == 0
    with zookeeper_on(path, PORT_ZOOKEEPER_OWN, str(tmp_path / "own")) as zk:
        expected = served_tree(zk.address)
    with zookeeper_on(str(rewritten), PORT_ZOOKEEPER_CHEETAH, str(tmp_path / "ours")) as zk:
        actual = served_tree(zk.address)
        log = zk.log_text()
    assert sorted(actual) == sorted(expected)
    for node in expected:
        assert actual[node] == expected[node], node
    # what the test wrote is there, served from Cheetah's file
    assert actual["/snap"][0] == b"root-data-v2"
    assert actual["/snap/null"][0] is None
    assert actual["/snap/acl"][2] == [tuple(entry) for entry in DIGEST_ACL]
    assert actual["/snap/eph"][1]["ephemeralOwner"] == session_id
    assert "/ttl" in actual and "/box/inner" in actual
    assert "problem reading snap file" not in log
