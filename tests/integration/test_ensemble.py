"""Ensembles of real processes on loopback (issue 5), each scenario run
against Apache ZooKeeper 3.8 and against Cheetah with the same zoo.cfg.

Ports: 23300-23599 (see ensemble.py for the layout).
"""

import os
import signal
import subprocess
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

import ensemble
import servers

KINDS = ["zookeeper", "cheetah"]
# A separate port block per test and kind, so a slow stop never collides.
BASE_PORTS = {
    ("start_in_order", "zookeeper"): 23300,
    ("start_in_order", "cheetah"): 23360,
    ("replicates", "zookeeper"): 23420,
    ("replicates", "cheetah"): 23460,
    ("leader_killed", "zookeeper"): 23500,
    ("leader_killed", "cheetah"): 23540,
    ("observer", "zookeeper"): 23300,
    ("observer", "cheetah"): 23360,
    ("rejoin", "zookeeper"): 23420,
    ("rejoin", "cheetah"): 23460,
    ("trunc", "cheetah"): 23500,
    ("session_moves", "zookeeper"): 23300,
    ("session_moves", "cheetah"): 23360,
    ("operations", "zookeeper"): 23420,
    ("operations", "cheetah"): 23460,
    ("sync_limit", "zookeeper"): 23500,
    ("sync_limit", "cheetah"): 23540,
}
WRITE_LOAD_CLIENTS = 3
WRITE_LOAD_SECONDS_BEFORE_KILL = 2.0
WRITE_LOAD_SECONDS_AFTER_KILL = 6.0


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


def write_load(group, stop, acked, index):
    """Creates /load/c<index>-<n> through all three servers until `stop`;
    records every create that was acknowledged, with the time it was."""
    client = KazooClient(hosts=group.connect_string(), timeout=6.0,
                         connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
    client.start(timeout=15)
    try:
        number = 0
        while not stop.is_set():
            path = f"/load/c{index}-{number}"
            number += 1
            sent_at = time.monotonic()
            try:
                client.create(path, b"x")
            except KazooException:
                time.sleep(0.05)  # outcome unknown: not counted as acknowledged
                continue
            acked.append((sent_at, time.monotonic(), path))
    finally:
        client.stop()
        client.close()


@pytest.mark.parametrize("kind", KINDS)
def test_leader_killed_under_write_load(kind):
    """SIGKILL of the leader while clients write: a new leader serves, and
    every acknowledged write is on every server, the old leader included
    once it is back. Prints how long writes stopped."""
    with ensemble.running(kind, 3, BASE_PORTS[("leader_killed", kind)]) as group:
        group.start_all()
        leader = group.wait_for_leader()
        setup = kazoo(group)
        setup.create("/load")
        setup.stop()
        setup.close()
        stop = threading.Event()
        acked = []
        threads = [threading.Thread(target=write_load, args=(group, stop, acked, index))
                   for index in range(WRITE_LOAD_CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(WRITE_LOAD_SECONDS_BEFORE_KILL)
            before_kill = len(acked)
            killed_at = time.monotonic()
            group.kill(leader)
            survivors = [i for i in (1, 2, 3) if i != leader]
            new_leader = group.wait_for_leader(survivors)
            assert new_leader != leader
            time.sleep(WRITE_LOAD_SECONDS_AFTER_KILL)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert before_kill > 0, "no write was acknowledged before the kill"
        # The first write sent after the kill that was acknowledged.
        after = [done for sent, done, _ in acked if sent > killed_at]
        assert after, "no write sent after the leader was killed was acknowledged"
        print(f"{kind}: {before_kill} writes before the kill; the first write sent after it "
              f"was acknowledged {1000 * (min(after) - killed_at):.0f} ms after the kill")
        group.start(leader)
        group.wait_for_leader()
        paths = [path for _, _, path in acked]
        for server_id in (1, 2, 3):
            reader = kazoo(group, [server_id])
            try:
                reader.sync("/load")
                present = set(reader.get_children("/load"))
                missing = [path for path in paths if path.rsplit("/", 1)[1] not in present]
                assert not missing, (f"server {server_id} lost {len(missing)} acknowledged "
                                     f"writes, e.g. {missing[:5]}")
            finally:
                reader.stop()
                reader.close()


@pytest.mark.parametrize("kind", KINDS)
def test_observer_serves_and_never_votes(kind):
    """Three voters and an observer: the observer says Mode: observer, takes
    writes (forwarded) and reads them; with two voters down nobody serves,
    the observer included (it does not count toward the quorum)."""
    with ensemble.running(kind, 4, BASE_PORTS[("observer", kind)], observers=[4]) as group:
        group.start_all()
        group.wait_for_leader()
        group.wait_for(lambda: group.mode(4) == "observer", "server 4 to observe")
        client = kazoo(group, [4])
        try:
            client.create("/through-observer", b"o")
            client.sync("/through-observer")
            assert client.get("/through-observer")[0] == b"o"
        finally:
            client.stop()
            client.close()
        leader = group.wait_for_leader([1, 2, 3])
        followers = [i for i in (1, 2, 3) if i != leader]
        group.kill(followers[0])
        group.kill(followers[1])
        group.wait_for(lambda: group.mode(leader) is None and group.mode(4) is None,
                       "the leader and the observer to stop serving without a quorum")


def count_children(group, server_id, path):
    client = kazoo(group, [server_id])
    try:
        client.sync(path)
        return len(client.get_children(path))
    finally:
        client.stop()
        client.close()


@pytest.mark.parametrize("kind", KINDS)
def test_follower_rejoins_by_diff_and_by_snap(kind):
    """A follower that was down catches up when it returns: after a few
    writes (DIFF from the leader's committed log) and after more writes than
    that log keeps (SNAP of the whole tree)."""
    with ensemble.running(kind, 3, BASE_PORTS[("rejoin", kind)],
                          extra_config={"snapCount": "100000"}) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        client = kazoo(group, [leader])
        try:
            client.create("/rejoin")
            group.stop(follower)
            for index in range(50):
                client.create(f"/rejoin/diff-{index}")
            group.start(follower)
            group.wait_for(lambda: group.mode(follower) == "follower", "the follower back")
            assert count_children(group, follower, "/rejoin") == 50
            assert ("DIFF" in group.log(follower)) or kind == "zookeeper"
            group.stop(follower)
            for index in range(700):
                client.create(f"/rejoin/snap-{index}", b"s" * 100)
            group.start(follower)
            group.wait_for(lambda: group.mode(follower) == "follower", "the follower back")
            assert count_children(group, follower, "/rejoin") == 750
            assert ("SNAP" in group.log(follower)) or kind == "zookeeper"
        finally:
            client.stop()
            client.close()


def test_old_leader_rejoins_by_trunc():
    """A leader logs a write no other server gets (a test hook holds its
    proposals), and is killed. The others elect a new leader and go on. When
    the old leader returns, its tail is not in the new history: the new
    leader TRUNCs it, the held write is gone everywhere (it was never
    acknowledged) and every tree is the same. Cheetah only: ZooKeeper has no
    such hook."""
    base_port = BASE_PORTS[("trunc", "cheetah")]
    with ensemble.running("cheetah", 3, base_port) as group:
        hold_files = {i: os.path.join(group.root, f"hold-{i}") for i in (1, 2, 3)}
        for server_id in (1, 2, 3):
            group.start(server_id,
                        env={"CHEETAH_TEST_HOLD_PROPOSALS_FILE": hold_files[server_id]})
        leader = group.wait_for_leader()
        client = kazoo(group, [leader])
        try:
            client.create("/trunc")
            with open(hold_files[leader], "w"):
                pass
            held = client.create_async("/trunc/held", b"never acknowledged")
            time.sleep(1.0)  # logged (fsync'd) on the leader alone
            assert not held.ready(), "a write was acknowledged without a quorum"
        finally:
            group.kill(leader)
            client.stop()
            client.close()
        os.unlink(hold_files[leader])
        survivors = [i for i in (1, 2, 3) if i != leader]
        group.wait_for_leader(survivors)
        client = kazoo(group, survivors)
        try:
            client.create("/trunc/after", b"acknowledged")
        finally:
            client.stop()
            client.close()
        group.start(leader, env={"CHEETAH_TEST_HOLD_PROPOSALS_FILE": hold_files[leader]})
        group.wait_for(lambda: group.mode(leader) == "follower", "the old leader to follow")
        assert "TRUNC" in group.log(leader), group.log(leader)[-3000:]
        for server_id in (1, 2, 3):
            reader = kazoo(group, [server_id])
            try:
                reader.sync("/trunc")
                assert reader.get_children("/trunc") == ["after"], server_id
            finally:
                reader.stop()
                reader.close()


@pytest.mark.parametrize("kind", KINDS)
def test_session_moves_to_another_server(kind):
    """Sessions are global: a client whose server dies reconnects to another
    one with the same session (REVALIDATE with the leader) and keeps its
    ephemeral node; a session that is closed loses it everywhere."""
    with ensemble.running(kind, 3, BASE_PORTS[("session_moves", kind)]) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        other = next(i for i in (1, 2, 3) if i not in (leader, follower))
        client = KazooClient(hosts=f"{group.address(follower)},{group.address(other)}",
                             timeout=10.0, randomize_hosts=False)
        client.start(timeout=15)
        try:
            session_id = client.client_id[0]
            client.create("/owned", b"e", ephemeral=True)
            group.kill(follower)
            # kazoo notices the lost connection and moves; retry until it has.
            client.retry(client.sync, "/owned")
            assert client.retry(client.exists, "/owned").ephemeralOwner == session_id
            assert client.client_id[0] == session_id
        finally:
            client.stop()
            client.close()
        observer = kazoo(group, [leader])
        try:
            observer.sync("/")
            assert observer.exists("/owned") is None, "closing the session removes its ephemeral"
        finally:
            observer.stop()
            observer.close()


def mntr(group, server_id):
    text = servers.four_letter_word(group.address(server_id), "mntr")
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


@pytest.mark.parametrize("kind", KINDS)
def test_operations_report_the_role(kind):
    """srvr and stat say the role; mntr has ZooKeeper's quorum keys with the
    same values; the ctl script (zkServer.sh status) prints Mode: leader /
    follower."""
    with ensemble.running(kind, 3, BASE_PORTS[("operations", kind)]) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        group.wait_for(lambda: mntr(group, leader).get("zk_synced_followers") == "2",
                       "both followers synced")
        leader_keys = mntr(group, leader)
        follower_keys = mntr(group, follower)
        assert leader_keys["zk_server_state"] == "leader"
        assert leader_keys["zk_peer_state"] == "leading - broadcast"
        assert leader_keys["zk_quorum_size"] == "3"
        assert leader_keys["zk_learners"] == "2"
        assert leader_keys["zk_synced_followers"] == "2"
        assert leader_keys["zk_synced_non_voting_followers"] == "0"
        assert leader_keys["zk_synced_observers"] == "0"
        assert leader_keys["zk_pending_syncs"] == "0"
        assert follower_keys["zk_server_state"] == "follower"
        assert follower_keys["zk_peer_state"] == "following - broadcast"
        assert "zk_synced_followers" not in follower_keys
        stat = servers.four_letter_word(group.address(follower), "stat")
        assert "Mode: follower" in stat
        ctl = os.path.join(servers.REPO_ROOT, "tools", "cheetah-ctl")
        script = (ctl if kind == "cheetah" else "/usr/share/zookeeper/bin/zkServer.sh")
        for server_id, mode in ((leader, "leader"), (follower, "follower")):
            config = os.path.join(group.workdir(server_id), "zoo.cfg")
            done = subprocess.run([script, "status", config], capture_output=True, text=True,
                                  timeout=30, env=dict(os.environ, ZOO_LOG_DIR=group.root))
            assert done.returncode == 0, done.stdout + done.stderr
            assert f"Mode: {mode}" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_sync_limit_drops_a_silent_follower(kind):
    """syncLimit is enforced: a follower that stops answering (SIGSTOP) is
    dropped by the leader once syncLimit ticks pass (zk_synced_followers
    falls to 1; the leader keeps its quorum with the other), and when it
    resumes it finds itself cut off, looks, and follows again."""
    with ensemble.running(kind, 3, BASE_PORTS[("sync_limit", kind)]) as group:
        group.start_all()
        leader = group.wait_for_leader()
        follower = next(i for i in (1, 2, 3) if i != leader)
        group.wait_for(lambda: mntr(group, leader).get("zk_synced_followers") == "2",
                       "both followers synced")
        process = group.servers[follower].process
        os.kill(process.pid, signal.SIGSTOP)
        try:
            stopped_at = time.monotonic()
            group.wait_for(lambda: mntr(group, leader).get("zk_synced_followers") == "1",
                           "the leader to drop the stopped follower")
            dropped_after_s = time.monotonic() - stopped_at
            limit_s = ensemble.SYNC_LIMIT_TICKS * ensemble.TICK_MS / 1000.0
            # Not before syncLimit (allowing a tick of slack either way).
            assert dropped_after_s >= limit_s - ensemble.TICK_MS / 1000.0, dropped_after_s
            assert group.mode(leader) == "leader"
        finally:
            os.kill(process.pid, signal.SIGCONT)
        group.wait_for(lambda: group.mode(follower) == "follower"
                       and mntr(group, leader).get("zk_synced_followers") == "2",
                       "the follower to come back")
