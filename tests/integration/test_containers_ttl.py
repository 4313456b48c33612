"""Containers and TTL nodes are removed by the server, as ZooKeeper 3.8 does.

ZooKeeper's ContainerManager checks every znode.container.checkIntervalMs (a
JVM property there, a zoo.cfg key for Cheetah; 500 ms here). Both servers
get the same requests; the test waits (bounded) for each to remove what it
should, and checks what must stay stays, and that the watch fires.
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jute_client as jc  # noqa: E402
import servers  # noqa: E402

PORT_ZOOKEEPER = 22540
PORT_CHEETAH = 22541
CHECK_INTERVAL_MS = 500
REMOVAL_WAIT_S = 10.0
TTL_MS = 300


@pytest.fixture(scope="module", params=["zookeeper", "cheetah"])
def server(request):
    config = {"extendedTypesEnabled": "true"}
    if request.param == "zookeeper":
        flags = [f"-Dznode.container.checkIntervalMs={CHECK_INTERVAL_MS}"]
        with servers.zookeeper(PORT_ZOOKEEPER, config, extra_jvm_flags=flags) as running:
            yield running
    else:
        config["znode.container.checkIntervalMs"] = str(CHECK_INTERVAL_MS)
        with servers.cheetah(PORT_CHEETAH, config) as running:
            yield running


def connect(server):
    client = jc.JuteClient(server.address)
    client.connect(timeout_ms=30000)
    return client


def exists(client, path):
    return client.call(jc.OP_EXISTS, jc.encode_path_watch(path)).err == jc.OK


def wait_until_gone(client, path):
    deadline = time.monotonic() + REMOVAL_WAIT_S
    while time.monotonic() < deadline:
        if not exists(client, path):
            return True
        time.sleep(0.1)
    return False


def test_container_goes_after_its_last_child_and_fires_the_watch(server):
    client = connect(server)
    reply = client.call(jc.OP_CREATE_CONTAINER, jc.encode_create("/box", b"", flags=jc.CONTAINER))
    assert reply.err == jc.OK
    assert client.call(jc.OP_CREATE, jc.encode_create("/box/item")).err == jc.OK
    assert client.call(jc.OP_DELETE, jc.encode_delete("/box/item")).err == jc.OK
    client.call(jc.OP_EXISTS, jc.encode_path_watch("/box", True))
    client.pending_events.clear()
    assert wait_until_gone(client, "/box")
    events = [jc.decode_event(frame.body) for frame in client.pending_events]
    assert {"type": 2, "state": 3, "path": "/box"} in events  # NodeDeleted
    client.close()


def test_container_never_used_stays(server):
    client = connect(server)
    client.call(jc.OP_CREATE_CONTAINER, jc.encode_create("/empty-box", b"", flags=jc.CONTAINER))
    time.sleep(CHECK_INTERVAL_MS * 4 / 1000)
    assert exists(client, "/empty-box")
    client.close()


def test_ttl_node_goes_after_its_ttl(server):
    client = connect(server)
    reply = client.call(jc.OP_CREATE_TTL, jc.encode_create_ttl("/lease", b"x", ttl=TTL_MS))
    assert reply.err == jc.OK
    assert wait_until_gone(client, "/lease")
    client.close()


def test_ttl_node_with_a_child_stays(server):
    client = connect(server)
    client.call(jc.OP_CREATE_TTL, jc.encode_create_ttl("/held", b"x", ttl=TTL_MS))
    client.call(jc.OP_CREATE, jc.encode_create("/held/child"))
    time.sleep(TTL_MS * 4 / 1000 + CHECK_INTERVAL_MS * 2 / 1000)
    assert exists(client, "/held")
    client.close()
