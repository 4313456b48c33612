"""cheetah-logdump reads the transaction log Apache ZooKeeper 3.8 writes.

ZooKeeper is started on loopback, made to log every kind of transaction a
client can cause (create, create2, setData, delete, setACL, multi, an
ephemeral and closeSession, createContainer, createTTL, an error txn and a
failed multi), stopped, and its version-2/log.* file is printed by
cheetah-logdump and by ZooKeeper's own TxnLogToolkit (3.8 has no
LogFormatter any more). Both must list the same (zxid, type) sequence, and it
must be the one the requests imply.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT = 22610
TOOL_TIMEOUT_S = 60
TXN_LINE = re.compile(r"session 0x([0-9a-f]+) cxid 0x([0-9a-f]+) zxid 0x([0-9a-f]+) (\w+)")
TOOLKIT_CLASSPATH = servers.ZOOKEEPER_CLASSPATH


def logdump_binary():
    """$CHEETAH_LOGDUMP, else beside $CHEETAH_SERVER's build, else build/."""
    server = os.environ.get("CHEETAH_SERVER")
    build_dir = (os.path.dirname(os.path.dirname(server)) if server
                 else os.path.join(servers.REPO_ROOT, "build"))
    path = os.environ.get("CHEETAH_LOGDUMP") or os.path.join(build_dir, "tools", "cheetah-logdump")
    if not os.path.exists(path):
        raise RuntimeError(f"cheetah-logdump not found at {path}: build it or set CHEETAH_LOGDUMP")
    return path


def make_every_txn_type(address):
    """Writes through ZooKeeper; returns the txn types it must log, in order."""
    expected = ["createSession"]
    client = jc.JuteClient(address)
    client.connect()
    try:
        def call(opcode, body, err=jc.OK):
            reply = client.call(opcode, body)
            if err is not None:
                assert reply.err == err, (opcode, reply.err)
            return reply

        call(jc.OP_CREATE, jc.encode_create("/t", b"one"))
        expected.append("create")
        call(15, jc.encode_create("/t/b", b"two"))
        expected.append("create2")
        call(jc.OP_SET_DATA, jc.encode_set_data("/t", b"three"))
        expected.append("setData")
        call(jc.OP_DELETE, jc.encode_delete("/t/b"))
        expected.append("delete")
        call(jc.OP_SET_ACL, jc.encode_set_acl("/t", jc.READ_ACL + [(jc.PERM_ALL, "ip", "127.0.0.1")]))
        expected.append("setACL")
        call(jc.OP_MULTI, jc.encode_multi([jc.op_create("/m", b"m"), jc.op_set_data("/m", b"n"),
                                           jc.op_check("/m", 1), jc.op_delete("/m")]))
        expected.append("multi")
        # A multi that fails is logged as a multi of error txns (the reply
        # header says OK; the errors are per op in its body).
        reply = call(jc.OP_MULTI, jc.encode_multi([jc.op_create("/m2"), jc.op_delete("/absent")]),
                     err=None)
        assert jc.decode_multi_response(reply.body)[-1] == ("error", jc.NONODE)
        expected.append("multi")

        owner = jc.JuteClient(address)
        owner.connect()
        expected.append("createSession")
        reply = owner.call(jc.OP_CREATE, jc.encode_create("/eph", b"e", flags=jc.EPHEMERAL))
        assert reply.err == jc.OK
        expected.append("create")
        owner.close_session()
        owner.close()
        expected.append("closeSession")

        call(jc.OP_CREATE_CONTAINER, jc.encode_create("/ct", b"", flags=jc.CONTAINER))
        expected.append("createContainer")
        call(jc.OP_CREATE_TTL, jc.encode_create_ttl("/ttl", b"x", ttl=600000))
        expected.append("createTtl")  # sic: Request.op2String
        call(jc.OP_DELETE, jc.encode_delete("/absent"), err=jc.NONODE)
        expected.append("error")
        call(jc.OP_CREATE, jc.encode_create("/t", b"again"), err=jc.NODEEXISTS)
        expected.append("error")
        client.close_session()
        expected.append("closeSession")
    finally:
        client.close()
    return expected


def txn_lines(text):
    """(zxid, type) of each transaction line."""
    return [(int(match.group(3), 16), match.group(4)) for match in TXN_LINE.finditer(text)]


@pytest.fixture(scope="module")
def zookeeper_log():
    server = servers.start("zookeeper", PORT, {"extendedTypesEnabled": "true"})
    try:
        try:
            expected = make_every_txn_type(server.address)
        finally:
            server.stop()
        logs = sorted(glob.glob(os.path.join(server.workdir, "data", "version-2", "log.*")))
        assert len(logs) == 1, logs
        yield logs[0], expected
    finally:
        shutil.rmtree(server.workdir, ignore_errors=True)


def run_logdump(path):
    return subprocess.run([logdump_binary(), path], capture_output=True,
                          timeout=TOOL_TIMEOUT_S)


def test_logdump_lists_every_zookeeper_txn(zookeeper_log):
    path, expected = zookeeper_log
    result = run_logdump(path)
    out = result.stdout.decode(errors="replace")
    assert result.returncode == 0, result.stderr
    assert out.startswith("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2")
    listed = txn_lines(out)
    assert [kind for _, kind in listed] == expected
    assert [zxid for zxid, _ in listed] == list(range(1, len(expected) + 1))
    assert f"EOF reached after {len(expected)} txns." in out
    # Record fields are printed.
    assert "createTtl path=/ttl" in out and "ttl=600000" in out
    assert "setACL path=/t acl=[1:world:anyone,31:ip:127.0.0.1]" in out
    assert "multi [create path=/m" in out and "; check path=/m version=2" in out
    assert "error err=-101" in out and "error err=-110" in out
    assert "closeSession paths2Delete=[/eph]" in out
    # ZooKeeper 3.8 writes TxnDigests by default; they are read.
    assert " digest=2:0x" in out


def test_logdump_agrees_with_zookeeper_toolkit(zookeeper_log):
    path, expected = zookeeper_log
    toolkit = subprocess.run(
        ["java", "-cp", TOOLKIT_CLASSPATH,
         "org.apache.zookeeper.server.persistence.TxnLogToolkit", path],
        capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert toolkit.returncode == 0, toolkit.stderr[-2000:]
    theirs = txn_lines(toolkit.stdout.decode(errors="replace"))
    ours = txn_lines(run_logdump(path).stdout.decode(errors="replace"))
    assert len(theirs) == len(expected)
    assert ours == theirs


def test_logdump_reports_corruption_with_offset(zookeeper_log, tmp_path):
    path, expected = zookeeper_log
    with open(path, "rb") as log:
        data = bytearray(log.read())
    # The third entry: walk checksum(8) + length(4) + buffer + 0x42.
    offsets = []
    at = 16
    for _ in range(3):
        offsets.append(at)
        length = int.from_bytes(data[at + 8:at + 12], "big")
        at += 12 + length + 1
    data[offsets[2] + 12 + 20] ^= 0xFF
    corrupt = tmp_path / "log.1"
    corrupt.write_bytes(bytes(data))
    result = run_logdump(str(corrupt))
    assert result.returncode == 1
    err = result.stderr.decode()
    assert str(corrupt) in err and f"corrupt at offset {offsets[2]}" in err, err
    assert len(txn_lines(result.stdout.decode(errors="replace"))) == 2

    # A torn final record (cut inside the last entry, zeros after) is not
    # corruption.
    with open(path, "rb") as log:
        data = bytearray(log.read())
    at = 16
    last = at
    for _ in range(len(expected)):
        last = at
        at += 12 + int.from_bytes(data[at + 8:at + 12], "big") + 1
    data[last + 20:at] = bytes(at - last - 20)
    torn = tmp_path / "log.torn"
    torn.write_bytes(bytes(data))
    result = run_logdump(str(torn))
    assert result.returncode == 0
    assert f"torn final record at offset {last}" in result.stderr.decode()
    assert len(txn_lines(result.stdout.decode(errors="replace"))) == len(expected) - 1
