"""The DPDK transport (issue 6) with real clients: Cheetah runs with
cheetah.dataplane=dpdk over DPDK's tap PMD (--no-huge --no-pci, -l 0) in a
network namespace of its own (dpdk_net.py); the kernel's side of the tap gets
10.78.<k>.1/24 and the clients, in the same namespace, reach Cheetah's own
TCP/IP at 10.78.<k>.2:2181. Nothing here reaches the kernel's TCP on the
server's side: if the DPDK transport or the netstack were missing, no reply
would come.

Needs root (namespaces, /dev/net/tun) and a cheetah-server built with DPDK
(libdpdk-dev installed when meson ran).
"""

import subprocess
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType

import dpdk_net

AVAILABLE, WHY_NOT = dpdk_net.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)

SESSION_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
WATCH_TIMEOUT_S = 10.0
CONCURRENT_CLIENTS = 12
WRITES_PER_CLIENT = 20
CLIENT_THREAD_TIMEOUT_S = 90.0
# Connections are spread over 2 shards by the 4-tuple's hash: with 12
# clients the chance that one shard gets none is 2 * 2^-12.
SHARDED_RUN_SHARDS = 2
CUSTOM_MTU = 1400
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
ZKCLI_TIMEOUT_S = 60.0
PING_TIMEOUT_S = 30.0


def connect(server):
    client = KazooClient(hosts=server.address, timeout=SESSION_TIMEOUT_S)
    with dpdk_net.inside(server.namespace):
        client.start(timeout=CONNECT_TIMEOUT_S)
    return client


def close(client):
    client.stop()
    client.close()


def port_log_line(server):
    for line in server.log_text().splitlines():
        if "dpdk: port " in line and "queue pair" in line:
            return line
    return ""


def test_port_comes_up_with_its_mtu_and_answers_arp_and_srvr():
    with dpdk_net.dpdk_server(shards=1, mtu=CUSTOM_MTU) as server:
        link = server.tap_link()
        assert f"mtu {CUSTOM_MTU} " in link, link
        line = port_log_line(server)
        assert "net_tap" in line and "1 RX/TX queue pair(s)" in line, server.log_text()
        assert f"MTU {CUSTOM_MTU}" in line, line
        mac = line.split(" MAC ", 1)[1].split(",", 1)[0]
        # srvr came over DPDK's TCP (wait_ready); the kernel learned our MAC by ARP.
        assert "Mode: standalone" in server.four_letter_word("srvr")
        assert server.neighbour_mac() == mac, (server.neighbour_mac(), mac)
        values = server.mntr()
        assert values["zk_dpdk_arp_replies_sent"] >= 1, values
        assert values["zk_dpdk_tcp_connections_opened"] >= 1, values
        assert values["zk_dpdk_rx_frames"] > 0 and values["zk_dpdk_tx_frames"] > 0, values
    assert server.exit_code == 0, server.log_text()[-4000:]


def test_ping_is_answered_by_the_stack():
    """ICMP echo: the kernel's ping gets its replies from Cheetah's stack
    (a 1000-byte payload too), and mntr counts them."""
    with dpdk_net.dpdk_server(shards=SHARDED_RUN_SHARDS) as server:
        for size in ("56", "1000"):
            done = subprocess.run([*server.command_prefix, "ping", "-c", "3", "-i", "0.2",
                                   "-W", "2", "-s", size, server.server_ip],
                                  capture_output=True, text=True, timeout=PING_TIMEOUT_S)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "3 received" in done.stdout, done.stdout
        values = server.mntr()
        assert values["zk_dpdk_icmp_echo_replies"] >= 6, values
    assert server.exit_code == 0, server.log_text()[-4000:]


def test_kazoo_create_get_set_delete_watch_over_dpdk():
    with dpdk_net.dpdk_server(shards=1) as server:
        client = connect(server)
        watcher = connect(server)
        try:
            assert client.create("/dpdk", b"one") == "/dpdk"
            data, stat = client.get("/dpdk")
            assert data == b"one" and stat.version == 0
            fired = threading.Event()
            events = []

            def on_change(event):
                events.append(event)
                fired.set()

            assert watcher.get("/dpdk", watch=on_change)[0] == b"one"
            stat = client.set("/dpdk", b"two" * 1000)  # 3 KB: more than one segment
            assert stat.version == 1
            assert fired.wait(WATCH_TIMEOUT_S), "the data watch did not fire over DPDK"
            assert events[0].type == EventType.CHANGED and events[0].path == "/dpdk"
            assert watcher.get("/dpdk")[0] == b"two" * 1000
            big = bytes(range(256)) * 1024  # 256 KB: many segments and window updates
            client.create("/dpdk/big", big)
            assert watcher.get("/dpdk/big")[0] == big
            client.create("/dpdk/seq-", b"", sequence=True)
            assert sorted(watcher.get_children("/dpdk")) == ["big", "seq-0000000001"]
            client.delete("/dpdk", recursive=True)
            assert client.exists("/dpdk") is None
            values = server.mntr()
            assert values["zk_num_alive_connections"] >= 2, values
            assert values["zk_dpdk_tcp_connections_established"] >= 2, values
            assert values["zk_dpdk_tcp_checksum_bad"] == 0, values
        finally:
            close(client)
            close(watcher)
        srvr = server.four_letter_word("srvr")
        assert "Zookeeper version:" in srvr and "Node count: 5" in srvr, srvr
    assert server.exit_code == 0, server.log_text()[-4000:]


def test_concurrent_clients_on_two_shards():
    with dpdk_net.dpdk_server(shards=SHARDED_RUN_SHARDS) as server:
        line = port_log_line(server)
        assert f"{SHARDED_RUN_SHARDS} RX/TX queue pair(s)" in line, server.log_text()
        assert "steering: in software" in line or "steering: RSS" in line, line
        setup = connect(server)
        setup.create("/shards")
        errors = []

        def work(index):
            try:
                client = connect(server)
                try:
                    for write in range(WRITES_PER_CLIENT):
                        path = f"/shards/c{index}-{write}"
                        client.create(path, f"{index}:{write}".encode())
                        assert client.get(path)[0] == f"{index}:{write}".encode()
                finally:
                    close(client)
            except Exception as error:  # reported by the main thread
                errors.append((index, repr(error)))

        threads = [threading.Thread(target=work, args=(index,))
                   for index in range(CONCURRENT_CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + CLIENT_THREAD_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads), "clients did not finish"
        assert not errors, errors
        # Every client's writes are visible to another session on whatever shard.
        children = setup.get_children("/shards")
        assert len(children) == CONCURRENT_CLIENTS * WRITES_PER_CLIENT
        values = server.mntr()
        close(setup)
        opened = [values[f"zk_dpdk_shard{shard}_tcp_connections_opened"]
                  for shard in range(SHARDED_RUN_SHARDS)]
        assert all(count > 0 for count in opened), (opened, values)
        assert sum(opened) >= CONCURRENT_CLIENTS + 1, (opened, values)
        # ARP reaches every shard: the receiving one hands copies over.
        assert values["zk_dpdk_broadcast_copies"] > 0, values
        # TCP frames too: the tap's kernel side picks a queue per flow on its
        # own (it learns the owner's queue only from our replies), so some of
        # the 13 connections' frames arrive on the other shard's queue (all
        # 13 landing right first time: 1 in 2^13).
        assert values["zk_dpdk_steered_out"] > values["zk_dpdk_broadcast_copies"], values
        assert values["zk_dpdk_steered_in"] > 0, values
        assert values["zk_dpdk_steer_ring_full"] == 0, values
    assert server.exit_code == 0, server.log_text()[-4000:]


def test_zkcli_over_dpdk():
    with dpdk_net.dpdk_server(shards=SHARDED_RUN_SHARDS) as server:
        commands = "create /zkcli hello\nget /zkcli\nls /\ndelete /zkcli\nls /\nquit\n"
        done = subprocess.run([*server.command_prefix, ZKCLI, "-server", server.address],
                              input=commands, capture_output=True, text=True,
                              timeout=ZKCLI_TIMEOUT_S)
        lines = done.stdout.splitlines()
        assert done.returncode == 0, done.stdout + done.stderr
        assert "hello" in lines, done.stdout
        assert "[zkcli, zookeeper]" in lines and "[zookeeper]" in lines, done.stdout
    assert server.exit_code == 0, server.log_text()[-4000:]


def test_clean_stop_with_clients_connected():
    with dpdk_net.dpdk_server(shards=SHARDED_RUN_SHARDS) as server:
        clients = [connect(server) for _ in range(3)]
        for index, client in enumerate(clients):
            client.create(f"/stop-{index}", ephemeral=True)
        server.stop()
        assert server.exit_code == 0, server.log_text()[-4000:]
        assert "shutting down" in server.log_text()
        # The tap went with the process.
        assert dpdk_net.ip("-n", server.namespace, "link", "show", server.tap,
                           check=False).returncode != 0
        for client in clients:
            close(client)


def test_eal_failure_names_the_cause():
    # No --vdev and no PCI: EAL starts, but there is no port.
    code, log = dpdk_net.run_failing_server({
        "cheetah.dataplane": "dpdk",
        "cheetah.dpdk.eal_args": "--no-huge --no-pci -m 256 -l 0",
        "cheetah.dpdk.ipv4_address": "10.78.0.2",
    })
    assert code == 1, log
    assert "DPDK found no Ethernet port" in log and "--vdev=net_tap0" in log, log
    # An argument EAL does not know.
    code, log = dpdk_net.run_failing_server({
        "cheetah.dataplane": "dpdk",
        "cheetah.dpdk.eal_args": "--no-huge --no-pci -m 256 -l 0 --not-an-eal-option",
        "cheetah.dpdk.ipv4_address": "10.78.0.2",
    })
    assert code == 1, log
    assert "DPDK's EAL did not start" in log and "--not-an-eal-option" in log, log
    # An MTU the tap cannot carry (its frames stop at 1522 bytes).
    code, log = dpdk_net.run_failing_server({
        "cheetah.dataplane": "dpdk",
        "cheetah.dpdk.eal_args": "--no-huge --no-pci -m 256 -l 0 --vdev=net_tap0,iface=chdmtu0",
        "cheetah.dpdk.ipv4_address": "10.78.0.2",
        "cheetah.dpdk.mtu": "9000",
    })
    assert code == 1, log
    assert "cheetah.dpdk.mtu = 9000" in log and "expected 46 to 1504" in log, log


def test_missing_dpdk_keys_are_refused_before_eal():
    code, log = dpdk_net.run_failing_server({"cheetah.dataplane": "dpdk"})
    assert code == 1, log
    assert "cheetah.dpdk.eal_args" in log, log
    code, log = dpdk_net.run_failing_server({
        "cheetah.dataplane": "dpdk",
        "cheetah.dpdk.eal_args": "--no-huge --no-pci -m 256 -l 0",
    })
    assert code == 1, log
    assert "cheetah.dpdk.ipv4_address" in log, log
