"""Dynamic reconfiguration (the `reconfig` client operation) on 3-server
ensembles, Cheetah against Apache ZooKeeper 3.8 (issue 5).

Both ensembles run with reconfigEnabled=true and the "super:test" digest as
super user, the setting kazoo's TestReconfig uses. Every check runs against
both servers and compares what a client sees: the configuration text in
/zookeeper/config and in reconfig's answer, its Stat (version -1, mzxid =
the configuration's version), the error each bad request gets, the watch
event, where members are after a reconfig. Facts taken from ZooKeeper 3.8
beforehand (and asserted here on both):
  * after the first leader is up the configuration has a version: the new
    epoch's first zxid (ZOOKEEPER-1783), e.g. version=100000000;
  * a reconfig's version is its own zxid; followers apply it too;
  * a follower reconfigured out goes on following without a vote (srvr
    still says follower, it still serves), and comes back by a reconfig.
Ports: ZooKeeper 23800-23839, Cheetah 23850-23889.
"""

import os
import socket
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ensemble  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import (  # noqa: E402
    BadArgumentsError, BadVersionError, ConnectionLoss, MarshallingError,
    NewConfigNoQuorumError, NoAuthError)

SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="   # super:test
EXTRA_CONFIG = {"reconfigEnabled": "true",
                "DigestAuthenticationProvider.superDigest": SUPER_DIGEST}
BASE_PORTS = {"zookeeper": 23800, "cheetah": 23850}
CLIENT_TIMEOUT_S = 15.0
WATCH_WAIT_S = 10.0


@pytest.fixture(scope="module", params=["zookeeper", "cheetah"])
def group(request):
    with ensemble.running(request.param, 3, BASE_PORTS[request.param],
                          extra_config=EXTRA_CONFIG) as started:
        started.start_all()
        started.wait_for_leader()
        yield started


def client(group, ids=None, super_user=False):
    auth = [("digest", "super:test")] if super_user else None
    kazoo = KazooClient(hosts=group.connect_string(ids), auth_data=auth,
                        timeout=CLIENT_TIMEOUT_S)
    kazoo.start(timeout=CLIENT_TIMEOUT_S)
    return kazoo


def closed_ports(count):
    """Ports nothing listens on (connect gets RST), as kazoo's TestReconfig."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def version_of(text):
    last = text.decode().split("\n")[-1]
    assert last.startswith("version="), text
    return int(last[len("version="):], 16)


def member_lines(group, ids):
    return [f"server.{i}={group.server_line(i)}:participant" for i in ids]


def four_letter_word(group, server_id, word):
    return ensemble.servers.four_letter_word(group.address(server_id), word, timeout_s=5.0)


def wait_mode(group, server_id, mode):
    """ZooKeeper reopens a member's client port when a reconfig gives its
    line a client address: srvr may not answer for a moment."""
    deadline = time.monotonic() + ensemble.WAIT_TIMEOUT_S
    seen = group.mode(server_id)
    while seen != mode and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = group.mode(server_id)
    return seen


def config_on(group, server_id):
    """/zookeeper/config as one member answers it (after a sync)."""
    one = client(group, [server_id])
    try:
        one.sync("/zookeeper/config")
        return one.get("/zookeeper/config")
    finally:
        one.stop()


def member_ids(text):
    return sorted(int(line.split("=")[0][len("server."):])
                  for line in text.decode().split("\n")[:-1])


def check_config_stat(data, stat):
    assert stat.version == -1 and stat.aversion == -1
    assert stat.mzxid == version_of(data)
    assert stat.czxid == 0 and stat.ctime == 0
    assert stat.dataLength == len(data)


def test_configuration_after_start(group):
    """QuorumMaj.toString of zoo.cfg's servers, versioned by the first leader."""
    leader = group.wait_for_leader()
    with_super = client(group, super_user=True)
    try:
        for server_id in (1, 2, 3):
            data, stat = config_on(group, server_id)
            lines = data.decode().split("\n")
            assert lines[:-1] == member_lines(group, (1, 2, 3)), data
            assert version_of(data) >> 32 >= 1 and version_of(data) & 0xFFFFFFFF == 0, data
            check_config_stat(data, stat)
        acl, _ = with_super.get_acls("/zookeeper/config")
        assert [(a.perms, a.id.scheme, a.id.id) for a in acl] == [(1, "world", "anyone")]
        assert leader in (1, 2, 3)
    finally:
        with_super.stop()


def test_refusals(group):
    plain = client(group)
    with_super = client(group, super_user=True)
    try:
        current = version_of(with_super.get("/zookeeper/config")[0])
        with pytest.raises(NoAuthError):
            plain.reconfig(joining="server.999=0.0.0.0:1234:2345:observer;3456",
                           leaving=None, new_members=None)
        with pytest.raises(BadArgumentsError):
            plain.reconfig(joining="some thing", leaving=None, new_members=None)
        with pytest.raises(BadArgumentsError):   # a joiner needs its client port
            with_super.reconfig(joining="server.7=127.0.0.1:1:2:observer", leaving=None,
                                new_members=None)
        with pytest.raises(BadArgumentsError):   # fewer than 2 voters would remain
            with_super.reconfig(joining=None, leaving="1,2", new_members=None)
        with pytest.raises(MarshallingError):    # Long.parseLong fails in ZooKeeper
            with_super.reconfig(joining=None, leaving="abc", new_members=None)
        with pytest.raises(BadVersionError):
            with_super.reconfig(joining=None, leaving="100", new_members=None,
                                from_config=current + 1)
        dead = closed_ports(9)
        joiners = ",".join(
            f"server.{4 + i}=127.0.0.1:{dead[3 * i]}:{dead[3 * i + 1]}:participant;"
            f"127.0.0.1:{dead[3 * i + 2]}" for i in range(3))
        with pytest.raises(NewConfigNoQuorumError):   # 3 of 6 voters synced
            with_super.reconfig(joining=joiners, leaving=None, new_members=None)
        # Nothing of that changed the configuration.
        assert version_of(with_super.get("/zookeeper/config")[0]) == current
    finally:
        plain.stop()
        with_super.stop()


def test_observer_added_and_removed(group):
    """kazoo's TestReconfig.test_add_remove_observer, with every member's
    view and the watch event checked."""
    with_super = client(group, super_user=True)
    watcher = client(group, [1])
    try:
        changed = threading.Event()
        events = []

        def watch(event):
            events.append(event)
            changed.set()

        before, _ = watcher.get("/zookeeper/config", watch=watch)
        p1, p2, p3 = closed_ports(3)
        joining = f"server.100=0.0.0.0:{p1}:{p2}:observer;0.0.0.0:{p3}"
        data, stat = with_super.reconfig(joining=joining, leaving=None, new_members=None)
        assert joining.encode() in data
        assert data.decode().split("\n")[:3] == member_lines(group, (1, 2, 3))
        assert version_of(data) > version_of(before)
        check_config_stat(data, stat)
        assert changed.wait(WATCH_WAIT_S), "no watch event for /zookeeper/config"
        assert events[0].type == "CHANGED" and events[0].path == "/zookeeper/config"
        for server_id in (1, 2, 3):
            assert config_on(group, server_id) == (data, stat), server_id
            # conf (QuorumZooKeeperServer.dumpConf) lists the active membership.
            conf = four_letter_word(group, server_id, "conf")
            assert f"serverId={server_id}\n" in conf, conf
            assert conf.endswith("membership: \n" + data.decode()), conf
        removed, removed_stat = with_super.reconfig(joining=None, leaving="100",
                                                    new_members=None)
        assert joining.encode() not in removed
        assert removed.decode().split("\n")[:-1] == member_lines(group, (1, 2, 3))
        assert version_of(removed) > version_of(data)
        check_config_stat(removed, removed_stat)
        with pytest.raises(BadVersionError):
            with_super.reconfig(joining=joining, leaving=None, new_members=None,
                                from_config=version_of(removed) + 1)
    finally:
        watcher.stop()
        with_super.stop()


def test_reconfig_through_a_follower(group):
    """A follower forwards the request; the answer is the leader's."""
    leader = group.wait_for_leader()
    follower = next(i for i in (1, 2, 3) if i != leader)
    with_super = client(group, [follower], super_user=True)
    try:
        data, stat = with_super.reconfig(joining=None, leaving="42", new_members=None)
        assert data.decode().split("\n")[:-1] == member_lines(group, (1, 2, 3))
        check_config_stat(data, stat)
        assert with_super.get("/zookeeper/config") == (data, stat)
    finally:
        with_super.stop()


def test_follower_removed_and_added_back(group):
    leader = group.wait_for_leader()
    follower = max(i for i in (1, 2, 3) if i != leader)
    others = sorted(i for i in (1, 2, 3) if i != follower)
    with_super = client(group, [leader], super_user=True)
    try:
        data, _ = with_super.reconfig(joining=None, leaving=str(follower), new_members=None)
        assert data.decode().split("\n")[:-1] == member_lines(group, others)
        # It goes on as a learner without a vote, and still serves.
        assert group.mode(follower) == "follower"
        on_removed = client(group, [follower])
        try:
            on_removed.create("/written-by-removed", b"x")
            with_super.sync("/written-by-removed")
            assert with_super.get("/written-by-removed")[0] == b"x"
        finally:
            on_removed.stop()
        line = f"server.{follower}={group.server_line(follower)}:participant"
        back, stat = with_super.reconfig(joining=line + f";127.0.0.1:{group.client_port(follower)}",
                                         leaving=None, new_members=None)
        assert f"{line};127.0.0.1:{group.client_port(follower)}".encode() in back
        check_config_stat(back, stat)
        assert wait_mode(group, follower, "follower") == "follower", group.log(follower)[-6000:]
        assert group.wait_for_leader() == leader
        # A quorum of the configuration is needed again: with the two others
        # it still has one.
        with_super.set("/written-by-removed", b"y")
        with_super.delete("/written-by-removed")
    finally:
        with_super.stop()


def test_whole_ensemble_restarts_with_the_last_configuration(group):
    """QuorumPeer.setQuorumVerifier(qv, writeToDisk): every activated
    configuration is saved as zoo.cfg.dynamic.<version> (server lines sorted,
    no version line) and zoo.cfg points at it (the original kept as
    zoo.cfg.bak); a restart of every member on those files comes back with
    the last configuration."""
    with_super = client(group, super_user=True)
    try:
        p1, p2, p3 = closed_ports(3)
        joining = f"server.100=0.0.0.0:{p1}:{p2}:observer;0.0.0.0:{p3}"
        data, _ = with_super.reconfig(joining=joining, leaving=None, new_members=None)
    finally:
        with_super.stop()
    version = version_of(data)
    expected_lines = sorted(data.decode().split("\n")[:-1])
    for server_id in (1, 2, 3):
        workdir = group.workdir(server_id)
        dynamic = os.path.join(workdir, f"zoo.cfg.dynamic.{version:x}")
        with open(dynamic, "rb") as saved:
            assert saved.read() == "\n".join(expected_lines).encode(), dynamic
        with open(os.path.join(workdir, "zoo.cfg")) as static:
            lines = static.read().splitlines()
        assert lines[-1] == "dynamicConfigFile=" + os.path.realpath(dynamic), lines
        assert not any(line.startswith("server.") for line in lines), lines
        with open(os.path.join(workdir, "zoo.cfg.bak")) as backup:
            assert any(line.startswith("server.1=") for line in backup.read().splitlines())
    for server_id in (1, 2, 3):
        group.servers[server_id].stop()
    for server_id in (1, 2, 3):
        group.servers[server_id] = ensemble.servers.restart(group.servers[server_id],
                                                            wait=False)
    group.wait_for_leader()
    for server_id in (1, 2, 3):
        after, stat = config_on(group, server_id)
        assert after == data, (server_id, after, data)
        assert stat.mzxid == version and stat.version == -1


def test_leader_removed(group):
    """The leader reconfigured out hands over (Leader.getDesignatedLeader):
    one of the two others leads, nothing acknowledged is lost, and the old
    leader goes on as a follower without a vote (as ZooKeeper 3.8 does)."""
    leader = group.wait_for_leader()
    others = sorted(i for i in (1, 2, 3) if i != leader)
    writer = client(group, others)
    with_super = client(group, others, super_user=True)
    try:
        writer.create("/before-leader-removed", b"1")
        try:
            data, _ = with_super.reconfig(joining=None, leaving=str(leader), new_members=None)
            assert [i for i in member_ids(data) if i != 100] == others
        except ConnectionLoss:
            pass   # ZooKeeper may drop the connection while the leader hands over
        new_leader = group.wait_for_leader(ids=others)
        assert new_leader in others
        assert wait_mode(group, leader, "follower") == "follower", group.logs()
        writer.sync("/")
        assert writer.get("/before-leader-removed")[0] == b"1"
        on_old_leader = client(group, [leader])
        try:
            config, _ = on_old_leader.get("/zookeeper/config")
            assert [i for i in member_ids(config) if i != 100] == others
            on_old_leader.create("/written-by-old-leader", b"2")
        finally:
            on_old_leader.stop()
        writer.sync("/written-by-old-leader")
        assert writer.get("/written-by-old-leader")[0] == b"2"
    finally:
        writer.stop()
        with_super.stop()


JOIN_BASE_PORTS = {"zookeeper": 23900, "cheetah": 23950}


@pytest.mark.parametrize("kind", ["zookeeper", "cheetah"])
def test_new_server_joins(kind):
    """A fourth server, started with the ensemble's servers and its own line
    (as ZooKeeper's documentation says a joiner must be), learns the newer
    configuration from the members' answers, follows without a vote, and
    votes once a reconfig adds it: the ensemble then keeps writing with only
    the leader and the new server left."""
    with ensemble.running(kind, 3, JOIN_BASE_PORTS[kind],
                          extra_config=EXTRA_CONFIG) as started:
        started.start_all()
        leader = started.wait_for_leader()
        started.size = 4              # server 4's zoo.cfg lists 1..4
        started.start(4)
        assert wait_mode(started, 4, "follower") == "follower", started.logs()
        with_super = client(started, [leader], super_user=True)
        try:
            line = (f"server.4={started.server_line(4)}:participant;"
                    f"127.0.0.1:{started.client_port(4)}")
            data, _ = with_super.reconfig(joining=line, leaving=None, new_members=None)
            assert line.encode() in data
            assert member_ids(data) == [1, 2, 3, 4]
            others = [i for i in (1, 2, 3) if i != leader]
            data, _ = with_super.reconfig(joining=None, leaving=",".join(map(str, others)),
                                          new_members=None)
            assert member_ids(data) == sorted([leader, 4])
            for server_id in others:
                started.stop(server_id)
            # Only the leader and server 4 are left: a write commits only
            # because server 4 now votes.
            with_super.create("/after-join", b"4")
            on_new = client(started, [4])
            try:
                on_new.sync("/after-join")
                assert on_new.get("/after-join")[0] == b"4"
                assert on_new.get("/zookeeper/config")[0] == data
            finally:
                on_new.stop()
        finally:
            with_super.stop()
