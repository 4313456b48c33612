"""Bad input on the wire of the DPDK transport (issue 6): raw frames written
into the tap from the kernel's side (an AF_PACKET socket in the server's
namespace) reach Cheetah's own TCP/IP as any frame from the network would.

While a kazoo session keeps working through the same port, the server gets
malformed frames of every class, frames with bad IPv4 and TCP checksums,
IPv4 fragments, a SYN flood from many spoofed addresses, out-of-window
segments and resets aimed at a live connection (a flood fills the SYN
queue: new clients still get in, by SYN cookies), a reader that stops reading
(zero window) and clients that reset their connections. Each must be
dropped or handled, counted under its name in mntr's zk_dpdk_* keys, and
leave the session and the other connections unharmed; the server stops
cleanly afterwards (and under AddressSanitizer, test_sanitized_server runs
this file again: no leak, no error).

Needs root and a cheetah-server built with DPDK.
"""

import random
import socket
import struct
import time

import pytest
from kazoo.client import KazooClient

import dpdk_net

AVAILABLE, WHY_NOT = dpdk_net.available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=WHY_NOT)

SHARDS = 2
SESSION_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 15.0
ETH_P_ALL = 0x0003
ETHERTYPE_IPV4 = 0x0800
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SYN_FLOOD_FRAMES = 3000
SYN_FLOOD_SOURCES = 200        # spoofed addresses 10.78.<k>.20-219
BIG_NODE_BYTES = 1000000       # one getData reply of ~1 MB
STALLED_REQUESTS = 8           # ~8 MB of replies for a reader that never reads
COUNTER_WAIT_S = 10.0


# ---- frames -------------------------------------------------------------------

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ipv4_header(source, destination, payload_bytes, protocol=6, flags_fragment=0x4000,
                identification=1):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_bytes, identification,
                         flags_fragment, 64, protocol, 0, socket.inet_aton(source),
                         socket.inet_aton(destination))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def tcp_segment(source, destination, source_port, destination_port, seq, ack, flags,
                payload=b"", window=65535, options=b"", offset_words=None):
    """A TCP segment with a right checksum (offset_words: a wrong data offset)."""
    if offset_words is None:
        offset_words = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", source_port, destination_port, seq, ack,
                         offset_words << 4, flags, window, 0, 0) + options
    pseudo = struct.pack("!4s4sBBH", socket.inet_aton(source), socket.inet_aton(destination),
                         0, 6, len(header) + len(payload))
    value = checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", value) + header[18:] + payload


def ethernet(destination_mac, source_mac, payload, ethertype=ETHERTYPE_IPV4):
    return destination_mac + source_mac + struct.pack("!H", ethertype) + payload


def tcp_frame(wire, source, source_port, seq, ack, flags, payload=b"", options=b"",
              window=65535, break_tcp_checksum=False, break_ip_checksum=False,
              offset_words=None):
    segment = tcp_segment(source, wire.server_ip, source_port, 2181, seq, ack, flags,
                          payload, window, options, offset_words)
    if break_tcp_checksum:
        segment = segment[:16] + bytes([segment[16] ^ 0xFF]) + segment[17:]
    header = ipv4_header(source, wire.server_ip, len(segment))
    if break_ip_checksum:
        header = header[:10] + bytes([header[10] ^ 0xFF]) + header[11:]
    return ethernet(wire.server_mac, wire.tap_mac, header + segment)


class Wire:
    """Raw frames into the server's port: an AF_PACKET socket on the tap."""

    def __init__(self, server):
        self.server = server
        self.server_ip = server.server_ip
        self.kernel_ip = server.kernel_ip
        with dpdk_net.inside(server.namespace):
            self.socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                        socket.htons(ETH_P_ALL))
            self.socket.bind((server.tap, 0))
        # `ip -br link show`: NAME STATE MAC FLAGS
        brief = dpdk_net.ip("-n", server.namespace, "-br", "link", "show", server.tap).stdout
        self.tap_mac = bytes.fromhex(brief.split()[2].replace(":", ""))
        mac = server.neighbour_mac()
        assert mac, "the kernel has not resolved the server's MAC (no connection yet?)"
        self.server_mac = bytes.fromhex(mac.replace(":", ""))

    def send(self, frame):
        self.socket.send(frame)

    def close(self):
        self.socket.close()


# ---- fixtures and helpers -----------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with dpdk_net.dpdk_server(shards=SHARDS) as started:
        yield started
    assert started.exit_code == 0, started.log_text()[-4000:]


@pytest.fixture(scope="module")
def session(server):
    client = KazooClient(hosts=server.address, timeout=SESSION_TIMEOUT_S)
    with dpdk_net.inside(server.namespace):
        client.start(timeout=CONNECT_TIMEOUT_S)
    client.ensure_path("/bad-input")
    yield client
    client.stop()
    client.close()


@pytest.fixture(scope="module")
def wire(server, session):
    opened = Wire(server)
    yield opened
    opened.close()


def session_still_works(session, tag):
    path = f"/bad-input/{tag}"
    session.create(path, tag.encode())
    assert session.get(path)[0] == tag.encode()
    session.delete(path)


def wait_for_counter(server, key, minimum):
    deadline = time.monotonic() + COUNTER_WAIT_S
    values = server.mntr()
    while values[key] < minimum and time.monotonic() < deadline:
        time.sleep(0.1)
        values = server.mntr()
    assert values[key] >= minimum, (key, minimum, values)
    return values


# ---- tests ------------------------------------------------------------------------

def test_malformed_frames_are_dropped_and_counted(server, session, wire):
    before = server.mntr()
    source = wire.kernel_ip
    good_segment = tcp_segment(source, wire.server_ip, 40000, 2181, 1, 0, TCP_SYN)
    good_header = ipv4_header(source, wire.server_ip, len(good_segment))
    malformed = [
        ethernet(wire.server_mac, wire.tap_mac, b"\x45\x00"),                 # IPv4 cut short
        ethernet(wire.server_mac, wire.tap_mac, b"\x65" + good_header[1:] + good_segment),
        ethernet(wire.server_mac, wire.tap_mac, b"\x44" + good_header[1:] + good_segment),
        # total length beyond the frame
        ethernet(wire.server_mac, wire.tap_mac,
                 good_header[:2] + struct.pack("!H", 1400) + good_header[4:] + good_segment),
        # TCP data offset 4 (below the header), and one beyond the segment
        tcp_frame(wire, source, 40001, 1, 0, TCP_SYN, offset_words=4),
        tcp_frame(wire, source, 40002, 1, 0, TCP_SYN, offset_words=15),
        # an option whose length runs past the header (MSS with length 40)
        tcp_frame(wire, source, 40003, 1, 0, TCP_SYN, options=b"\x02\x28\x05\xb4"),
    ]
    for frame in malformed:
        wire.send(frame)
    for port in range(40010, 40020):
        wire.send(tcp_frame(wire, source, port, 1, 0, TCP_SYN, break_tcp_checksum=True))
        wire.send(tcp_frame(wire, source, port, 1, 0, TCP_SYN, break_ip_checksum=True))
    # Fragments: more-fragments set, then an offset.
    for flags_fragment in (0x2000, 0x0010):
        header = ipv4_header(source, wire.server_ip, len(good_segment),
                             flags_fragment=flags_fragment)
        wire.send(ethernet(wire.server_mac, wire.tap_mac, header + good_segment))
    # The tap spreads the frames over both shards' queues: each count
    # arrives when its shard got to it.
    for key, sent in (("zk_dpdk_ipv4_fragments_dropped", 2),
                      ("zk_dpdk_frames_malformed", len(malformed)),
                      ("zk_dpdk_tcp_checksum_bad", 10), ("zk_dpdk_ipv4_checksum_bad", 10)):
        values = wait_for_counter(server, key, before[key] + sent)
    # None of them opened anything.
    assert values["zk_dpdk_tcp_syn_backlog_full"] == before["zk_dpdk_tcp_syn_backlog_full"]
    session_still_works(session, "after-malformed")


def test_syn_flood_is_bounded_and_spares_established_sessions(server, session, wire):
    before = server.mntr()
    prefix = wire.server_ip.rsplit(".", 1)[0]
    rng = random.Random(7)
    for index in range(SYN_FLOOD_FRAMES):
        source = f"{prefix}.{20 + index % SYN_FLOOD_SOURCES}"
        wire.send(tcp_frame(wire, source, rng.randrange(1024, 65535), rng.getrandbits(32), 0,
                            TCP_SYN, options=b"\x02\x04\x05\xb4"))
    wait_for_counter(server, "zk_dpdk_tcp_syn_backlog_full",
                     before["zk_dpdk_tcp_syn_backlog_full"] + 1)
    # The queue stays full of the flood's half-open entries (their SYN-ACKs
    # go unanswered for a minute), so new SYNs get SYN cookies: a new
    # client still gets in (each mntr above came over a new connection too).
    newcomer = KazooClient(hosts=server.address, timeout=SESSION_TIMEOUT_S)
    with dpdk_net.inside(server.namespace):
        newcomer.start(timeout=CONNECT_TIMEOUT_S)
    try:
        session_still_works(newcomer, "newcomer-during-flood")
    finally:
        newcomer.stop()
        newcomer.close()
    values = wait_for_counter(server, "zk_dpdk_tcp_syn_cookies_accepted",
                              before["zk_dpdk_tcp_syn_cookies_accepted"] + 2)
    assert values["zk_dpdk_tcp_syn_cookies_sent"] > before["zk_dpdk_tcp_syn_cookies_sent"]
    # The flood itself never opened a connection: only the newcomer and the
    # mntr connections did.
    opened = values["zk_dpdk_tcp_connections_opened"] - before["zk_dpdk_tcp_connections_opened"]
    accepted = (values["zk_dpdk_tcp_syn_cookies_accepted"]
                - before["zk_dpdk_tcp_syn_cookies_accepted"])
    assert opened <= accepted + 1, (opened, accepted, values)
    session_still_works(session, "after-flood")


def test_out_of_window_segments_and_resets_do_not_break_a_connection(server, session, wire):
    # A live kazoo connection: its 4-tuple from the client's socket.
    connection = session._connection._socket
    local_ip, local_port = connection.getsockname()[:2]
    before = server.mntr()
    rng = random.Random(11)
    for _ in range(50):
        far_seq = rng.getrandbits(32)
        wire.send(tcp_frame(wire, local_ip, local_port, far_seq, rng.getrandbits(32),
                            TCP_ACK | TCP_PSH, payload=b"garbage-out-of-window"))
        wire.send(tcp_frame(wire, local_ip, local_port, far_seq, 0, TCP_RST))
        wire.send(tcp_frame(wire, local_ip, local_port, far_seq, 0, TCP_SYN))
    values = wait_for_counter(server, "zk_dpdk_tcp_segments_out_of_window",
                              before["zk_dpdk_tcp_segments_out_of_window"] + 1)
    assert values["zk_dpdk_tcp_resets_received"] == before["zk_dpdk_tcp_resets_received"], \
        values
    # The session's connection survived all of it (no reconnect happened).
    assert session._connection._socket is connection
    session_still_works(session, "after-out-of-window")


def test_a_reader_that_stops_reading_gets_zero_window_probes(server, session, wire):
    session.create("/bad-input/big", b"b" * BIG_NODE_BYTES)
    before = server.mntr()
    with dpdk_net.inside(server.namespace):
        stalled = socket.create_connection((server.server_ip, 2181), timeout=5)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        # ConnectRequest (protocol 0, zxid 0, timeout 30 s, session 0, empty password).
        connect = struct.pack("!iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16
        stalled.sendall(struct.pack("!i", len(connect)) + connect)
        path = b"/bad-input/big"
        for xid in range(1, STALLED_REQUESTS + 1):
            request = struct.pack("!ii", xid, 4) + struct.pack("!i", len(path)) + path + b"\0"
            stalled.sendall(struct.pack("!i", len(request)) + request)
        values = wait_for_counter(server, "zk_dpdk_tcp_zero_window_probes",
                                  before["zk_dpdk_tcp_zero_window_probes"] + 1)
        session_still_works(session, "during-zero-window")
        assert values["zk_num_alive_connections"] >= 2, values
    finally:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stalled.close()   # a reset, with megabytes unsent on the server's side
    wait_for_counter(server, "zk_dpdk_tcp_resets_received",
                     before["zk_dpdk_tcp_resets_received"] + 1)
    session_still_works(session, "after-reset")


def test_many_clients_resetting_mid_request(server, session):
    before = server.mntr()
    for index in range(20):
        with dpdk_net.inside(server.namespace):
            client = socket.create_connection((server.server_ip, 2181), timeout=5)
        connect = struct.pack("!iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16
        client.sendall(struct.pack("!i", len(connect)) + connect
                       + b"\0\0\0\x40" + b"\x01" * 20)   # half a request
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    values = wait_for_counter(server, "zk_dpdk_tcp_resets_received",
                              before["zk_dpdk_tcp_resets_received"] + 20)
    session_still_works(session, "after-resets")
    # Every one of them is gone on the server's side (mntr's own connection
    # is counted in both readings).
    baseline = before["zk_num_alive_connections"]
    deadline = time.monotonic() + COUNTER_WAIT_S
    while values["zk_num_alive_connections"] > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        values = server.mntr()
    assert values["zk_num_alive_connections"] == baseline, (baseline, values)
