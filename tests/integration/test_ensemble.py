"""Ensembles of real processes on loopback (issue 5), each scenario run
against Apache ZooKeeper 3.8 and against Cheetah with the same zoo.cfg.

Ports: 23300-23599 (see ensemble.py for the layout).
"""

import time

import pytest
from kazoo.client import KazooClient

import ensemble

KINDS = ["zookeeper", "cheetah"]
# A separate port block per test and kind, so a slow stop never collides.
BASE_PORTS = {
    ("start_in_order", "zookeeper"): 23300,
    ("start_in_order", "cheetah"): 23360,
    ("replicates", "zookeeper"): 23420,
    ("replicates", "cheetah"): 23460,
}


def kazoo(group, ids=None):
    client = KazooClient(hosts=group.connect_string(ids), timeout=10.0)
    client.start(timeout=15)
    return client


@pytest.mark.parametrize("kind", KINDS)
def test_start_in_order_server_3_leads(kind):
    """The seed's example: five servers started one after the other; no
    quorum until the third starts, which leads; 4 and 5 then follow it."""
    with ensemble.running(kind, 5, BASE_PORTS[("start_in_order", kind)]) as group:
        group.start(1)
        group.start(2)
        time.sleep(3.0)
        assert group.modes([1, 2]) == {1: None, 2: None}, "two of five cannot serve"
        group.start(3)
        leader = group.wait_for_leader([1, 2, 3])
        assert leader == 3
        assert group.modes([1, 2, 3]) == {1: "follower", 2: "follower", 3: "leader"}
        group.start(4)
        group.wait_for(lambda: group.mode(4) == "follower", "server 4 to follow")
        group.start(5)
        group.wait_for(lambda: group.mode(5) == "follower", "server 5 to follow")
        assert group.mode(3) == "leader"


@pytest.mark.parametrize("kind", KINDS)
def test_writes_replicate_through_any_server(kind):
    """A write through one server is read back through every other one,
    with the same Stat; a write through a follower is forwarded."""
    with ensemble.running(kind, 3, BASE_PORTS[("replicates", kind)]) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        writer = kazoo(group, [follower])
        try:
            writer.create("/replicated", b"through a follower")
            for index in range(20):
                writer.create(f"/replicated/n{index}", str(index).encode())
            stat_written = writer.exists("/replicated")
        finally:
            writer.stop()
            writer.close()
        for server_id in (1, 2, 3):
            reader = kazoo(group, [server_id])
            try:
                reader.sync("/replicated")
                data, stat = reader.get("/replicated")
                assert data == b"through a follower"
                assert stat == stat_written
                assert sorted(reader.get_children("/replicated")) == sorted(
                    f"n{index}" for index in range(20))
            finally:
                reader.stop()
                reader.close()
