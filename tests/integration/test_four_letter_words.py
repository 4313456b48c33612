"""Four-letter words on the client port, Cheetah beside Apache ZooKeeper 3.8.

Both servers get the same history (a kazoo session with an ephemeral node, a
data watch and a child watch); every four-letter word's reply is normalised
(numbers, addresses, dates and versions masked) and compared line by line.
mntr is compared by key: every key Cheetah prints is one ZooKeeper prints,
and the keys monitoring relies on are all there. The whitelist is checked
with ZooKeeper's default (srvr only).
"""

import os
import re
import sys
import time

import pytest
from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

PORT_ZOOKEEPER = 22530
PORT_CHEETAH = 22531
PORT_ZOOKEEPER_DEFAULT = 22532
PORT_CHEETAH_DEFAULT = 22533
# mntr keys that dashboards and scripts read; Cheetah must print them all.
MNTR_KEYS_REQUIRED = [
    "zk_version", "zk_server_state", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
    "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
    "zk_outstanding_requests", "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
    "zk_approximate_data_size", "zk_open_file_descriptor_count",
    "zk_max_file_descriptor_count", "zk_uptime", "zk_global_sessions",
]
# Words compared line by line after normalisation.
WORDS_SAME_SHAPE = ["ruok", "srvr", "stat", "conf", "cons", "wchs", "wchc", "wchp", "dirs",
                    "isro", "dump", "crst", "srst"]


def normalise(text, port):
    text = text.replace(str(port), "<port>")
    text = re.sub(r"Zookeeper version: [^\n]*", "Zookeeper version: <v>", text)
    text = re.sub(r"zookeeper.version=[^\n]*", "zookeeper.version=<v>", text)
    text = re.sub(r"/tmp/[^/\s]+", "<dir>", text)
    text = re.sub(r"\w{3} \w{3} \d+ \d\d:\d\d:\d\d \w+ \d{4}", "<date>", text)
    text = re.sub(r"0x[0-9a-f]+", "<hex>", text)
    text = re.sub(r"/127\.0\.0\.1:\d+", "/127.0.0.1:<p>", text)
    text = re.sub(r"-?\d+(\.\d+)?", "N", text)
    return text


def prepare(address):
    client = KazooClient(hosts=address)
    client.start(timeout=10)
    client.create("/fw", b"data")
    client.create("/fw/e", b"", ephemeral=True)
    client.get("/fw", watch=lambda event: None)
    client.get_children("/fw", watch=lambda event: None)
    return client


@pytest.fixture(scope="module")
def pair():
    with servers.zookeeper(PORT_ZOOKEEPER) as zookeeper, \
            servers.cheetah(PORT_CHEETAH) as cheetah:
        clients = [prepare(zookeeper.address), prepare(cheetah.address)]
        time.sleep(0.3)
        yield zookeeper, cheetah
        for client in clients:
            client.stop()
            client.close()


@pytest.mark.parametrize("word", WORDS_SAME_SHAPE)
def test_four_letter_word_has_zookeepers_shape(pair, word):
    zookeeper, cheetah = pair
    expected = normalise(servers.four_letter_word(zookeeper.address, word), zookeeper.port)
    actual = normalise(servers.four_letter_word(cheetah.address, word), cheetah.port)
    if word == "dump":
        # Expiry buckets depend on when each connection was last heard: two
        # connections may straddle a bucket boundary on one server and not
        # on the other. Compare the content without the bucket headers.
        expected = "\n".join(line for line in expected.splitlines()
                             if not line.endswith("expire at <date>:"))
        actual = "\n".join(line for line in actual.splitlines()
                           if not line.endswith("expire at <date>:"))
    if word in ("cons", "stat"):
        # Connections are listed in ZooKeeper's hash-set order: compare as sets.
        assert sorted(actual.splitlines()) == sorted(expected.splitlines())
    else:
        assert actual.splitlines() == expected.splitlines()


def mntr_keys(address):
    text = servers.four_letter_word(address, "mntr")
    return [line.split("\t", 1)[0] for line in text.splitlines() if line]


def test_mntr_keys_are_zookeepers(pair):
    zookeeper, cheetah = pair
    zookeeper_keys = mntr_keys(zookeeper.address)
    cheetah_keys = mntr_keys(cheetah.address)
    assert set(cheetah_keys) <= set(zookeeper_keys), set(cheetah_keys) - set(zookeeper_keys)
    missing = [key for key in MNTR_KEYS_REQUIRED if key not in cheetah_keys]
    assert not missing
    # The order is ZooKeeper's too (a subsequence of it).
    positions = [zookeeper_keys.index(key) for key in cheetah_keys]
    assert positions == sorted(positions)


def test_mntr_values_describe_the_server(pair):
    _, cheetah = pair
    values = dict(line.split("\t", 1) for line in
                  servers.four_letter_word(cheetah.address, "mntr").splitlines() if line)
    assert values["zk_server_state"] == "standalone"
    assert int(values["zk_ephemerals_count"]) == 1
    assert int(values["zk_znode_count"]) == 7  # /, /zookeeper{,/quota,/config}, /fw, /fw/e
    assert int(values["zk_watch_count"]) == 2
    assert int(values["zk_global_sessions"]) == 1


def test_envi_lists_the_same_zookeeper_keys(pair):
    zookeeper, cheetah = pair
    def keys(address):
        return {line.split("=", 1)[0] for line in
                servers.four_letter_word(address, "envi").splitlines() if "=" in line}
    cheetah_keys = keys(cheetah.address)
    assert {"zookeeper.version", "host.name", "os.name", "os.arch", "os.version",
            "user.name", "user.home", "user.dir"} <= cheetah_keys
    assert cheetah_keys <= keys(zookeeper.address)


def test_dump_lists_the_session_and_its_ephemeral(pair):
    _, cheetah = pair
    text = servers.four_letter_word(cheetah.address, "dump")
    assert "Sessions with Ephemerals (1):" in text
    assert "\t/fw/e" in text
    assert re.search(r"Session Sets \(\d+\)/\(1\):", text)


def test_default_whitelist_allows_only_srvr():
    with servers.zookeeper(PORT_ZOOKEEPER_DEFAULT, {"4lw.commands.whitelist": "srvr"}) as zk, \
            servers.cheetah(PORT_CHEETAH_DEFAULT, {"4lw.commands.whitelist": "srvr"}) as ch:
        for word in ["stat", "mntr", "ruok", "dump"]:
            expected = servers.four_letter_word(zk.address, word)
            assert "is not executed because it is not in the whitelist" in expected
            assert servers.four_letter_word(ch.address, word) == expected
        assert "Mode: standalone" in servers.four_letter_word(ch.address, "srvr")


PORT_CHEETAH_SHARDED = 22534
SHARDED_CLIENTS = 6


def test_words_see_every_shard():
    """With several shards, connections and watches live on different
    threads; cons, wchs, wchp and dump must still list all of them."""
    with servers.cheetah(PORT_CHEETAH_SHARDED, {"cheetah.shards": "3"}) as server:
        setup = KazooClient(hosts=server.address)
        setup.start(timeout=10)
        setup.create("/shared", b"")
        setup.stop()
        setup.close()
        clients = []
        for index in range(SHARDED_CLIENTS):
            client = KazooClient(hosts=server.address)
            client.start(timeout=10)
            client.get("/shared", watch=lambda event: None)
            clients.append(client)
        try:
            cons = servers.four_letter_word(server.address, "cons")
            assert cons.count("sid=") == SHARDED_CLIENTS
            assert f"{SHARDED_CLIENTS} connections watching 1 paths" in \
                servers.four_letter_word(server.address, "wchs")
            wchp = servers.four_letter_word(server.address, "wchp")
            assert wchp.count("/shared") == 1 and wchp.count("0x") == SHARDED_CLIENTS
            dump = servers.four_letter_word(server.address, "dump")
            assert dump.count("sessionId: 0x") >= SHARDED_CLIENTS
            assert f"Session Sets (" in dump and f"/({SHARDED_CLIENTS}):" in dump
        finally:
            for client in clients:
                client.stop()
                client.close()
