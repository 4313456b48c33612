"""Bad input hurts only its sender (ARCHITECTURE.md, guarantee 6).

A healthy kazoo session (Debian's python3-kazoo) runs through the whole
module. Other sockets misbehave: random garbage, truncated frames, frames
longer than jute.maxbuffer, negative lengths, an unknown opcode, a request
before the handshake, floods of connections, more than maxClientCnxns from one
address, idle connections that never say hello, and a client that stops
reading its replies. After each one:

  * the offender (and only it) is closed: recv gives b'' or a reset within a
    bounded time;
  * the server process is alive;
  * the kazoo session still reads and writes, with the same session id and
    no disconnection event;
  * the data written before is untouched (data and Stat).

Each expectation was checked against Apache ZooKeeper 3.8. By default the
module runs against Cheetah only; CHEETAH_BAD_INPUT_SERVERS=zookeeper,cheetah
(or =zookeeper) runs the same checks against ZooKeeper too.
"""

import os
import random
import socket
import struct
import time

import pytest
from kazoo.client import KazooClient, KazooState

import servers

PORTS = {"cheetah": 22320, "zookeeper": 22321}
SERVER_KINDS = [kind.strip() for kind in
                os.environ.get("CHEETAH_BAD_INPUT_SERVERS", "cheetah").split(",") if kind.strip()]
JUTE_MAXBUFFER_BYTES = 1048575        # ZooKeeper's default jute.maxbuffer (0xfffff)
MAX_CLIENT_CNXNS = 60                 # ZooKeeper's default maxClientCnxns per address
SESSION_TIMEOUT_MS = 4000             # = minSessionTimeout with tickTime 2000
LONG_SESSION_TIMEOUT_MS = 30000
CLOSE_TIMEOUT_S = 5.0                 # an offender must be closed within this
IDLE_CLOSE_TIMEOUT_S = 30.0           # ZooKeeper: sessionlessCnxnTimeout 10 s, checked per 10 s
KAZOO_OP_TIMEOUT_S = 5.0              # one healthy operation, even under abuse
DRAIN_BYTES_MAX = 1 << 30             # bytes read from an offender before giving up
UNIMPLEMENTED = -6
MARSHALLING_ERROR = -5


# --- wire helpers -----------------------------------------------------------

def frame(body):
    return struct.pack(">i", len(body)) + body


def ustring(text):
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def connect_request(timeout_ms=SESSION_TIMEOUT_MS, session_id=0, password=b"\0" * 16,
                    last_zxid_seen=0):
    """ConnectRequest{protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly}."""
    return frame(struct.pack(">iqiq", 0, last_zxid_seen, timeout_ms, session_id)
                 + struct.pack(">i", len(password)) + password + b"\0")


def request(xid, opcode, body=b""):
    return frame(struct.pack(">ii", xid, opcode) + body)


def get_data_request(xid, path, watch=False):
    return request(xid, 4, ustring(path) + (b"\1" if watch else b"\0"))


def open_socket(address, source_ip="127.0.0.1", timeout_s=CLOSE_TIMEOUT_S):
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout_s,
                                    source_address=(source_ip, 0))


def recv_exact(sock, count, timeout_s=CLOSE_TIMEOUT_S):
    sock.settimeout(timeout_s)
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def read_frame(sock, timeout_s=CLOSE_TIMEOUT_S):
    (length,) = struct.unpack(">i", recv_exact(sock, 4, timeout_s))
    assert 0 <= length <= JUTE_MAXBUFFER_BYTES, length
    return recv_exact(sock, length, timeout_s)


def handshake(address, source_ip="127.0.0.1", timeout_ms=SESSION_TIMEOUT_MS):
    """A raw connection with a new session; returns (socket, session id)."""
    sock = open_socket(address, source_ip)
    sock.sendall(connect_request(timeout_ms))
    body = read_frame(sock)
    _protocol, negotiated_ms, session_id = struct.unpack(">iiq", body[:16])
    assert negotiated_ms > 0 and session_id != 0, body
    return sock, session_id


def wait_closed(sock, timeout_s=CLOSE_TIMEOUT_S):
    """Reads until the peer closes (b'' or reset). Returns (closed, bytes read)."""
    deadline = time.monotonic() + timeout_s
    received = b""
    drained_bytes = 0
    while time.monotonic() < deadline and drained_bytes < DRAIN_BYTES_MAX:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, received
        if not chunk:
            return True, received
        drained_bytes += len(chunk)
        if len(received) < 4096:
            received += chunk[:4096 - len(received)]
    return False, received


def assert_closed(sock, what, timeout_s=CLOSE_TIMEOUT_S):
    started = time.monotonic()
    closed, received = wait_closed(sock, timeout_s)
    sock.close()
    assert closed, f"{what}: the server did not close the connection within {timeout_s}s"
    return received, time.monotonic() - started


def assert_open(sock, what, wait_s=1.0):
    closed, received = wait_closed(sock, wait_s)
    assert not closed, f"{what}: the server closed a connection it should keep (got {received!r})"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_kb(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# --- the server and the healthy session ------------------------------------

class Healthy:
    """The kazoo session that must not notice anything."""

    def __init__(self, server):
        self.server = server
        self.states = []
        self.client = KazooClient(hosts=server.address, timeout=10.0)
        self.client.add_listener(self.states.append)
        self.client.start(timeout=15)
        self.session_id = self.client.client_id[0]
        self.counter = 0
        # Data that no offender may change.
        self.client.ensure_path("/bad")
        self.client.create("/bad/alpha", b"alpha-data")
        self.client.create("/bad/beta", b"")
        for index in range(5):
            self.client.create(f"/bad/beta/child-{index}", str(index).encode())
        self.client.create("/bad/gamma", b"\0\1\2" * 1000)
        self.client.create("/bad/health", b"")
        self.snapshot = self.read_untouched()

    def read_untouched(self):
        result = {}
        for path in ["/bad/alpha", "/bad/beta", "/bad/gamma"] + [
                f"/bad/beta/child-{index}" for index in range(5)]:
            data, stat = self.client.get(path)
            result[path] = (data, stat)
        result["children"] = sorted(self.client.get_children("/bad/beta"))
        return result

    def check(self, what):
        """Reads and writes work, fast, on the same session; nothing changed."""
        assert self.server.process.poll() is None, \
            f"after {what}: the server exited with {self.server.process.returncode}"
        self.counter += 1
        value = f"{what} #{self.counter}".encode()
        started = time.monotonic()
        self.client.set_async("/bad/health", value).get(timeout=KAZOO_OP_TIMEOUT_S)
        data, _ = self.client.get_async("/bad/health").get(timeout=KAZOO_OP_TIMEOUT_S)
        path = self.client.create_async("/bad/health/n-", b"x", sequence=True).get(
            timeout=KAZOO_OP_TIMEOUT_S)
        self.client.delete_async(path).get(timeout=KAZOO_OP_TIMEOUT_S)
        elapsed_s = time.monotonic() - started
        assert data == value, f"after {what}: read {data!r}, wrote {value!r}"
        assert elapsed_s < KAZOO_OP_TIMEOUT_S, f"after {what}: 4 operations took {elapsed_s:.1f}s"
        assert self.client.client_id[0] == self.session_id, f"after {what}: session changed"
        # The listener hears CONNECTED once at start; SUSPENDED or LOST never.
        assert set(self.states) <= {KazooState.CONNECTED}, \
            f"after {what}: the healthy session saw {self.states}"
        assert self.client.state == KazooState.CONNECTED
        assert self.read_untouched() == self.snapshot, f"after {what}: data changed"

    def stop(self):
        self.client.stop()
        self.client.close()


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request):
    kind = request.param
    with servers.running(kind, PORTS[kind]) as running_server:
        yield running_server


@pytest.fixture(scope="module")
def healthy(server):
    session = Healthy(server)
    yield session
    session.stop()


# --- the offenders ------------------------------------------------------------

def test_random_garbage_is_closed(server, healthy):
    rng = random.Random(20261125)
    for attempt in range(20):
        sock = open_socket(server.address)
        garbage = bytes(rng.getrandbits(8) for _ in range(rng.choice([5, 64, 4096])))
        if garbage[:4].isalpha():       # a four-letter word is not garbage
            garbage = b"\xff" + garbage[1:]
        sock.sendall(garbage)
        assert_closed(sock, f"random garbage #{attempt} ({garbage[:8].hex()}...)")
    # Garbage inside a well-formed frame: not a ConnectRequest.
    for attempt in range(20):
        sock = open_socket(server.address)
        sock.sendall(frame(bytes(rng.getrandbits(8) for _ in range(rng.choice([8, 44, 300])))))
        received, _ = assert_closed(sock, f"framed garbage #{attempt}")
        # A refused ConnectRequest may be answered by an empty ConnectResponse
        # (session 0) before the close, never by a session.
        if len(received) >= 20:
            assert struct.unpack(">q", received[12:20])[0] == 0, received
    healthy.check("random garbage")


def test_malformed_request_body_is_answered_marshalling_error(server, healthy):
    """A well-framed request whose body does not parse: ZooKeeper answers
    {xid, zxid, err MARSHALLINGERROR (-5)} and keeps serving the connection."""
    bodies = {
        "getData with a path longer than its frame": request(1, 4, struct.pack(">i", 1000) + b"/bad"),
        "getData without its watch flag": request(1, 4, ustring("/bad/alpha")),
        "getData with no body": request(1, 4),
        "create with a huge ACL count": request(1, 1, ustring("/bad/intruder") + struct.pack(">i", -1)
                                               + struct.pack(">i", 100000)),
        "setData with a negative data length": request(1, 5, ustring("/bad/alpha")
                                                       + struct.pack(">i", -7)),
    }
    for name, malformed in bodies.items():
        sock, _ = handshake(server.address)
        sock.sendall(malformed)
        reply = read_frame(sock)
        xid, _zxid, err = struct.unpack(">iqi", reply[:16])
        assert (xid, err) == (1, MARSHALLING_ERROR), f"{name}: reply xid {xid} err {err}"
        # The connection still works.
        sock.sendall(get_data_request(2, "/bad/alpha"))
        reply = read_frame(sock)
        xid, _zxid, err = struct.unpack(">iqi", reply[:16])
        assert (xid, err) == (2, 0), f"after {name}: getData answered xid {xid} err {err}"
        assert b"alpha-data" in reply[16:]
        sock.close()
    assert not healthy.client.exists("/bad/intruder")
    healthy.check("malformed request bodies")


def test_frame_shorter_than_a_request_header_is_closed(server, healthy):
    for body in [b"\0", b"\0\0\0\1\0", b"\0\0\0\1\0\0\0"]:
        sock, _ = handshake(server.address)
        sock.sendall(frame(body))
        assert_closed(sock, f"a {len(body)}-byte request frame")
    healthy.check("frames shorter than a request header")


def test_truncated_frame_then_close(server, healthy):
    cases = [b"\0", b"\0\0\0", connect_request()[:10], connect_request()[:-1],
             frame(b"x" * 100)[:50]]
    for case in cases:
        sock = open_socket(server.address)
        sock.sendall(case)
        sock.close()
    # After a handshake too, in the middle of a request.
    sock, _ = handshake(server.address)
    sock.sendall(get_data_request(1, "/bad/alpha")[:9])
    sock.close()
    healthy.check("truncated frames")


@pytest.mark.parametrize("length", [JUTE_MAXBUFFER_BYTES + 1, JUTE_MAXBUFFER_BYTES + 4096,
                                    0x7FFFFFFF])
def test_frame_longer_than_jute_maxbuffer_is_closed(server, healthy, length):
    # As the first frame (where the ConnectRequest should be).
    sock = open_socket(server.address)
    sock.sendall(struct.pack(">i", length))
    assert_closed(sock, f"first frame of length {length}")
    # After the handshake, announced alone and then with its bytes following.
    sock, _ = handshake(server.address)
    sock.sendall(struct.pack(">i", length))
    assert_closed(sock, f"request frame of length {length}")
    sock, _ = handshake(server.address)
    try:
        sock.sendall(struct.pack(">ii", length, 1) + struct.pack(">i", 4) + b"x" * 65536)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert_closed(sock, f"request frame of length {length} with data")
    healthy.check(f"frame of length {length}")


def test_frame_of_exactly_jute_maxbuffer_is_not_refused(server, healthy):
    """ZooKeeper accepts a length of exactly jute.maxbuffer and waits for the bytes."""
    sock = open_socket(server.address)
    sock.sendall(struct.pack(">i", JUTE_MAXBUFFER_BYTES))
    assert_open(sock, "a first frame of exactly jute.maxbuffer bytes (announced)")
    sock.close()
    sock, _ = handshake(server.address)
    sock.sendall(struct.pack(">i", JUTE_MAXBUFFER_BYTES))
    assert_open(sock, "a request frame of exactly jute.maxbuffer bytes (announced)")
    sock.close()
    healthy.check("frame of exactly jute.maxbuffer")


@pytest.mark.parametrize("length", [-1, -2147483648, 0])
def test_negative_or_zero_length_is_closed(server, healthy, length):
    sock = open_socket(server.address)
    sock.sendall(struct.pack(">i", length) + b"\0" * 16)
    assert_closed(sock, f"first frame of length {length}")
    sock, _ = handshake(server.address)
    sock.sendall(struct.pack(">i", length) + b"\0" * 16)
    assert_closed(sock, f"request frame of length {length}")
    healthy.check(f"frame of length {length}")


@pytest.mark.parametrize("opcode", [999, 23, 99, 108, -12, 0x7FFFFFFF])
def test_unknown_opcode_is_answered_unimplemented_then_closed(server, healthy, opcode):
    """ZooKeeper replies {xid, zxid -1, err UNIMPLEMENTED (-6)}, then closes."""
    sock, _ = handshake(server.address)
    sock.sendall(request(7, opcode, b"\0" * 8))
    received, _ = assert_closed(sock, f"unknown opcode {opcode}")
    assert len(received) >= 20, f"opcode {opcode}: no reply before the close ({received!r})"
    length, xid, zxid, err = struct.unpack(">iiqi", received[:20])
    assert (length, xid, err) == (16, 7, UNIMPLEMENTED), (length, xid, zxid, err)
    assert zxid == -1, f"opcode {opcode}: reply zxid {zxid:#x}, ZooKeeper sends -1"
    healthy.check(f"unknown opcode {opcode}")


def test_request_before_the_handshake_is_closed(server, healthy):
    first_frames = {
        "getData": get_data_request(1, "/bad/alpha"),
        "ping": request(-2, 11),
        "closeSession": request(1, -11),
        "create": request(1, 1, ustring("/bad/intruder") + struct.pack(">i", -1)
                          + struct.pack(">i", -1) + struct.pack(">i", 0)),
    }
    for name, first in first_frames.items():
        sock = open_socket(server.address)
        sock.sendall(first)
        received, _ = assert_closed(sock, f"{name} before the handshake")
        if len(received) >= 20:   # at most a refusal: ConnectResponse with session 0
            assert struct.unpack(">q", received[12:20])[0] == 0, (name, received)
    assert not healthy.client.exists("/bad/intruder")
    healthy.check("requests before the handshake")


def test_connection_flood(server, healthy):
    """500 connections opened and closed quickly (50 from each of 10 source
    addresses, under maxClientCnxns); half say hello first; half are reset."""
    baseline_fds = fd_count(server.pid)
    sockets = []
    for index in range(500):
        sock = open_socket(server.address, source_ip=f"127.0.1.{1 + index % 10}")
        if index % 2 == 0:
            sock.sendall(connect_request())
        sockets.append(sock)
    for index, sock in enumerate(sockets):
        if index % 4 < 2:   # abortive close: RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    healthy.check("a flood of 500 connections")
    # Another 500, opened and closed one after the other.
    for index in range(500):
        sock = open_socket(server.address, source_ip=f"127.0.2.{1 + index % 10}")
        sock.close()
    healthy.check("500 connections opened and closed in turn")
    # The server let go of every socket (no descriptor leak).
    deadline = time.monotonic() + 15
    while fd_count(server.pid) > baseline_fds + 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fd_count(server.pid) <= baseline_fds + 10, \
        f"{fd_count(server.pid)} descriptors open, {baseline_fds} before the flood"
    # New sessions are still accepted.
    sock, _ = handshake(server.address)
    sock.close()


def test_max_client_cnxns_per_address(server, healthy):
    """60 connections from one address are served; the 61st is closed at once;
    other addresses are not affected; a freed slot can be used again."""
    source = "127.0.0.2"
    held = []
    try:
        for _ in range(MAX_CLIENT_CNXNS):
            sock, _ = handshake(server.address, source, LONG_SESSION_TIMEOUT_MS)
            held.append(sock)
        # The one beyond the limit is closed (so fast that connect() itself
        # may already see the close), without a reply.
        try:
            beyond = open_socket(server.address, source)
            beyond.sendall(connect_request(LONG_SESSION_TIMEOUT_MS))
        except (ConnectionResetError, BrokenPipeError):
            beyond = None
        if beyond is not None:
            received, _ = assert_closed(beyond, f"connection {MAX_CLIENT_CNXNS + 1} from {source}")
            assert received == b"", f"the connection beyond the limit got a reply: {received!r}"
        # The 60 are still served: each answers a ping.
        for index, sock in enumerate(held):
            sock.sendall(request(-2, 11))
            reply = read_frame(sock)
            xid, _zxid, err = struct.unpack(">iqi", reply[:16])
            assert (xid, err) == (-2, 0), f"ping on held connection {index}: {xid} {err}"
        # Another address is not limited by them.
        other, _ = handshake(server.address, "127.0.0.3")
        other.close()
        healthy.check("maxClientCnxns reached")
        # Freeing one slot lets one more in (the server sees the close
        # asynchronously: retry for a bounded time).
        held.pop().close()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while True:
            try:
                sock, _ = handshake(server.address, source, LONG_SESSION_TIMEOUT_MS)
                held.append(sock)
                break
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()
    healthy.check("maxClientCnxns released")


def test_idle_connections_without_handshake_are_closed(server, healthy):
    """ZooKeeper closes connections that never complete a ConnectRequest after
    sessionlessCnxnTimeout (10 s, checked on a 10 s wheel: 10-20 s)."""
    starts = [b"", b"\0", b"\0\0\0\x2d", connect_request()[:30]]
    sockets = []
    for index in range(20):
        sock = open_socket(server.address, source_ip="127.0.0.4")
        sock.sendall(starts[index % len(starts)])
        sockets.append(sock)
    started = time.monotonic()
    healthy.check("20 idle connections")
    open_sockets = list(sockets)
    while open_sockets and time.monotonic() - started < IDLE_CLOSE_TIMEOUT_S:
        still_open = []
        for sock in open_sockets:
            closed, _ = wait_closed(sock, 0.05)
            if closed:
                sock.close()
            else:
                still_open.append(sock)
        open_sockets = still_open
        healthy.check("idle connections waiting")
        time.sleep(0.5)
    for sock in open_sockets:
        sock.close()
    assert not open_sockets, (
        f"{len(open_sockets)} of {len(sockets)} connections that never sent a ConnectRequest "
        f"are still open after {IDLE_CLOSE_TIMEOUT_S}s")
    healthy.check("idle connections closed")


def test_slow_reader_is_closed_and_others_keep_working(server, healthy):
    """A session that asks for many large replies and never reads them: the
    server must neither stall others nor buffer without limit; the offender
    is closed (at the latest when its session expires: it sends no pings)."""
    payload = b"s" * 1000000
    healthy.client.create("/bad/large", payload)
    # Cheetah must bound what it buffers for one connection: ask for far more
    # than a bounded queue holds. ZooKeeper queues every reply on its heap
    # (-Xmx512m here), so it gets fewer.
    request_count = 400 if server.kind == "cheetah" else 60
    rss_before_kb = memory_kb(server.pid, "VmRSS")
    sock, _ = handshake(server.address, "127.0.0.5", SESSION_TIMEOUT_MS)
    sock.settimeout(CLOSE_TIMEOUT_S)
    batch = b"".join(get_data_request(xid, "/bad/large") for xid in range(1, request_count + 1))
    try:
        sock.sendall(batch)
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass   # the server stopped reading us, or closed us: both fine
    started = time.monotonic()
    # Others are served while the offender's replies pile up.
    while time.monotonic() - started < 3:
        healthy.check("a slow reader")
        time.sleep(0.2)
    # Closed within the session timeout and a margin, replies drained or not.
    received, _ = assert_closed(
        sock, "a client that never reads its replies",
        timeout_s=SESSION_TIMEOUT_MS / 1000 * 2 + 10)
    healthy.check("a slow reader closed")
    if server.kind == "cheetah":
        peak_kb = memory_kb(server.pid, "VmHWM")
        assert peak_kb - rss_before_kb < 256 * 1024, (
            f"{request_count} MB of replies to a client that does not read: peak RSS "
            f"{peak_kb // 1024} MB, {rss_before_kb // 1024} MB before")
    healthy.client.delete("/bad/large")
    healthy.check("after the slow reader")
