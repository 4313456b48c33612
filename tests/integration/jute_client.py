"""A small synchronous raw jute client for ZooKeeper-protocol servers.

Standard library only. It speaks the client protocol byte by byte so tests can
send any request (with an explicit xid), any malformed frame, and see every
frame the server sends back, in order: replies and watch notifications
(xid -1) as they arrive on the wire. Every socket operation has a timeout.

    client = JuteClient("127.0.0.1:2181")
    handshake = client.connect(timeout_ms=10000)
    reply = client.call(OP_CREATE, encode_create("/a", b"x", OPEN_ACL, 0))
    reply.err, decode_create_response(reply.body)
"""

import socket
import struct
import time

# ---- opcodes (ZooDefs.OpCode) ----
OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_DELETE_CONTAINER = 20
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_SASL = 102
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_SET_WATCHES2 = 105
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CREATE_SESSION = -10
OP_CLOSE_SESSION = -11
OP_ERROR = -1

# ---- special xids ----
XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

# ---- error codes ----
ERR_NAMES = {
    0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY", -3: "DATAINCONSISTENCY",
    -4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR", -6: "UNIMPLEMENTED",
    -7: "OPERATIONTIMEOUT", -8: "BADARGUMENTS", -12: "UNKNOWNSESSION",
    -13: "NEWCONFIGNOQUORUM", -14: "RECONFIGINPROGRESS", -100: "APIERROR",
    -101: "NONODE", -102: "NOAUTH", -103: "BADVERSION",
    -108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS", -111: "NOTEMPTY",
    -112: "SESSIONEXPIRED", -113: "INVALIDCALLBACK", -114: "INVALIDACL",
    -115: "AUTHFAILED", -118: "SESSIONMOVED", -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
    -123: "RECONFIGDISABLED", -124: "SESSIONCLOSEDREQUIRESASLAUTH",
    -125: "QUOTAEXCEEDED", -127: "THROTTLEDOP",
}
OK = 0
NONODE = -101
NOAUTH = -102
BADVERSION = -103
NODEEXISTS = -110
NOTEMPTY = -111

# ---- create modes ----
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# ---- watcher enums ----
EVENT_NAMES = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
               4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
               7: "PersistentWatchRemoved"}
STATE_NAMES = {-1: "Unknown", 0: "Disconnected", 3: "SyncConnected", 4: "AuthFailed",
               5: "ConnectedReadOnly", 6: "SaslAuthenticated", -112: "Expired", 7: "Closed"}
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3
WATCHER_PERSISTENT = 4
WATCHER_PERSISTENT_RECURSIVE = 5
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

# ---- permissions ----
PERM_READ = 1
PERM_WRITE = 2
PERM_CREATE = 4
PERM_DELETE = 8
PERM_ADMIN = 16
PERM_ALL = 31

OPEN_ACL = [(PERM_ALL, "world", "anyone")]
READ_ACL = [(PERM_READ, "world", "anyone")]
CREATOR_ALL_ACL = [(PERM_ALL, "auth", "")]

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")
_STAT_STRUCT = struct.Struct(">qqqqiiiqiiq")
STAT_SIZE = _STAT_STRUCT.size  # 68

DEFAULT_IO_TIMEOUT_S = 5.0
FRAME_BYTES_MAX = 16 * 1024 * 1024  # never believe a larger length prefix


class ProtocolError(Exception):
    pass


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset)."""


# ---------------------------------------------------------------- encoding
class Writer:
    def __init__(self):
        self.parts = []

    def int(self, value):
        self.parts.append(struct.pack(">i", value))
        return self

    def long(self, value):
        self.parts.append(struct.pack(">q", value))
        return self

    def bool(self, value):
        self.parts.append(b"\x01" if value else b"\x00")
        return self

    def buffer(self, value):
        if value is None:
            return self.int(-1)
        self.int(len(value))
        self.parts.append(bytes(value))
        return self

    def string(self, value):
        if value is None:
            return self.int(-1)
        return self.buffer(value.encode() if isinstance(value, str) else value)

    def strings(self, values):
        if values is None:
            return self.int(-1)
        self.int(len(values))
        for value in values:
            self.string(value)
        return self

    def acl(self, acl):
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).string(scheme).string(ident)
        return self

    def raw(self, data):
        self.parts.append(bytes(data))
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def _take(self, count):
        if count < 0 or self.pos + count > len(self.data):
            raise ProtocolError(f"short record: need {count} at {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        length = self.int()
        if length < 0:
            return None
        return self._take(length)

    def string(self):
        value = self.buffer()
        return None if value is None else value.decode(errors="replace")

    def strings(self):
        count = self.int()
        if count < 0:
            return None
        return [self.string() for _ in range(count)]

    def stat(self):
        return dict(zip(STAT_FIELDS, _STAT_STRUCT.unpack(self._take(STAT_SIZE))))

    def acl(self):
        count = self.int()
        if count < 0:
            return None
        return [(self.int(), self.string(), self.string()) for _ in range(count)]

    def remaining(self):
        return len(self.data) - self.pos

    def rest(self):
        return self._take(self.remaining())


# ---- request bodies ----
def encode_path(path):
    return Writer().string(path).bytes()


def encode_path_watch(path, watch=False):
    return Writer().string(path).bool(watch).bytes()


def encode_create(path, data=b"", acl=OPEN_ACL, flags=PERSISTENT):
    return Writer().string(path).buffer(data).acl(acl).int(flags).bytes()


def encode_create_ttl(path, data=b"", acl=OPEN_ACL, flags=PERSISTENT_WITH_TTL, ttl=1000):
    return Writer().string(path).buffer(data).acl(acl).int(flags).long(ttl).bytes()


def encode_delete(path, version=-1):
    return Writer().string(path).int(version).bytes()


def encode_set_data(path, data, version=-1):
    return Writer().string(path).buffer(data).int(version).bytes()


def encode_set_acl(path, acl, version=-1):
    return Writer().string(path).acl(acl).int(version).bytes()


def encode_check(path, version):
    return Writer().string(path).int(version).bytes()


def encode_watch_type(path, watcher_type):
    """CheckWatchesRequest / RemoveWatchesRequest."""
    return Writer().string(path).int(watcher_type).bytes()


def encode_add_watch(path, mode):
    return Writer().string(path).int(mode).bytes()


def encode_auth(scheme, auth, auth_type=0):
    return Writer().int(auth_type).string(scheme).buffer(auth).bytes()


def encode_set_watches(relative_zxid, data=(), exist=(), child=()):
    return (Writer().long(relative_zxid).strings(list(data)).strings(list(exist))
            .strings(list(child)).bytes())


def encode_set_watches2(relative_zxid, data=(), exist=(), child=(), persistent=(),
                        recursive=()):
    return (Writer().long(relative_zxid).strings(list(data)).strings(list(exist))
            .strings(list(child)).strings(list(persistent)).strings(list(recursive))
            .bytes())


def encode_reconfig(joining, leaving, new_members, config_id=-1):
    return (Writer().string(joining).string(leaving).string(new_members)
            .long(config_id).bytes())


def encode_sasl(token):
    return Writer().buffer(token).bytes()


def encode_multi(ops):
    """ops: list of (opcode, body_bytes). Returns a MultiOperationRecord."""
    writer = Writer()
    for opcode, body in ops:
        writer.int(opcode).bool(False).int(-1).raw(body)
    writer.int(-1).bool(True).int(-1)
    return writer.bytes()


# ---- multi op helpers: (opcode, body) ----
def op_create(path, data=b"", acl=OPEN_ACL, flags=PERSISTENT, opcode=OP_CREATE):
    return (opcode, encode_create(path, data, acl, flags))


def op_create_ttl(path, data=b"", acl=OPEN_ACL, flags=PERSISTENT_WITH_TTL, ttl=1000):
    return (OP_CREATE_TTL, encode_create_ttl(path, data, acl, flags, ttl))


def op_delete(path, version=-1):
    return (OP_DELETE, encode_delete(path, version))


def op_set_data(path, data, version=-1):
    return (OP_SET_DATA, encode_set_data(path, data, version))


def op_check(path, version):
    return (OP_CHECK, encode_check(path, version))


def op_get_data(path):
    return (OP_GET_DATA, encode_path_watch(path, False))


def op_get_children(path):
    return (OP_GET_CHILDREN, encode_path_watch(path, False))


# ---- response bodies ----
def decode_multi_response(body):
    """Returns a list of (type, err, decoded) per sub-result."""
    reader = Reader(body)
    results = []
    for _ in range(10000):
        rtype = reader.int()
        done = reader.bool()
        err = reader.int()
        if done:
            break
        if rtype == OP_ERROR:
            results.append(("error", reader.int()))
        elif rtype == OP_CREATE:
            results.append(("create", reader.string()))
        elif rtype in (OP_CREATE2, OP_CREATE_TTL, OP_CREATE_CONTAINER):
            results.append(("create2", reader.string(), reader.stat()))
        elif rtype == OP_DELETE:
            results.append(("delete",))
        elif rtype == OP_SET_DATA:
            results.append(("setData", reader.stat()))
        elif rtype == OP_CHECK:
            results.append(("check",))
        elif rtype == OP_GET_DATA:
            results.append(("getData", reader.buffer(), reader.stat()))
        elif rtype == OP_GET_CHILDREN:
            results.append(("getChildren", sorted(reader.strings() or [])))
        else:
            raise ProtocolError(f"unknown multi result type {rtype} (err {err})")
    else:
        raise ProtocolError("multi response without end marker")
    return results


def decode_reply_body(opcode, body):
    """Decode the body of a successful reply to `opcode` into plain data."""
    reader = Reader(body)
    if opcode in (OP_CREATE, OP_SYNC):
        out = {"path": reader.string()}
    elif opcode in (OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
        out = {"path": reader.string(), "stat": reader.stat()}
    elif opcode in (OP_EXISTS, OP_SET_DATA, OP_SET_ACL):
        out = {"stat": reader.stat()}
    elif opcode in (OP_GET_DATA, OP_RECONFIG):
        out = {"data": reader.buffer(), "stat": reader.stat()}
    elif opcode == OP_GET_ACL:
        out = {"acl": reader.acl(), "stat": reader.stat()}
    elif opcode == OP_GET_CHILDREN:
        out = {"children": sorted(reader.strings() or [])}
    elif opcode == OP_GET_CHILDREN2:
        out = {"children": sorted(reader.strings() or []), "stat": reader.stat()}
    elif opcode in (OP_MULTI, OP_MULTI_READ):
        out = {"results": decode_multi_response(body)}
        reader.pos = len(reader.data)
    elif opcode == OP_GET_EPHEMERALS:
        out = {"ephemerals": sorted(reader.strings() or [])}
    elif opcode == OP_GET_ALL_CHILDREN_NUMBER:
        out = {"total": reader.int()}
    elif opcode == OP_WHO_AM_I:
        count = reader.int()
        out = {"clientInfo": sorted((reader.string(), reader.string())
                                    for _ in range(max(count, 0)))}
    elif opcode == OP_SASL:
        out = {"token": reader.buffer()}
    elif opcode == OP_ADD_WATCH:
        # ZooKeeper 3.8 answers addWatch with an ErrorResponse{err} body.
        out = {"errorResponse": reader.int()} if reader.remaining() >= 4 else {}
    else:
        out = {}
    if reader.remaining():
        out["trailing_bytes"] = reader.remaining()
    return out


def decode_event(body):
    reader = Reader(body)
    return {"type": reader.int(), "state": reader.int(), "path": reader.string()}


# ---------------------------------------------------------------- frames
class Frame:
    """One reply or notification: xid, zxid, err and the raw body."""

    def __init__(self, xid, zxid, err, body):
        self.xid = xid
        self.zxid = zxid
        self.err = err
        self.body = body

    @property
    def is_notification(self):
        return self.xid == XID_NOTIFICATION

    def __repr__(self):
        return f"Frame(xid={self.xid}, zxid={self.zxid}, err={self.err}, body={len(self.body)}B)"


class Handshake:
    def __init__(self, protocol_version, timeout_ms, session_id, password, read_only,
                 length):
        self.protocol_version = protocol_version
        self.timeout_ms = timeout_ms
        self.session_id = session_id
        self.password = password
        self.read_only = read_only
        self.length = length


class JuteClient:
    """One TCP connection. Not thread-safe; everything is synchronous."""

    def __init__(self, address, io_timeout_s=DEFAULT_IO_TIMEOUT_S):
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        self.io_timeout_s = io_timeout_s
        self.sock = socket.create_connection(self.address, timeout=io_timeout_s)
        self.sock.settimeout(io_timeout_s)
        self.buffered = b""
        self.closed = False
        self.next_xid = 1
        self.session_id = 0
        self.password = b"\x00" * 16
        self.pending_events = []  # notifications read while waiting for a reply

    # -- raw I/O --
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.send_raw(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, count, deadline):
        while len(self.buffered) < count:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise socket.timeout("read timed out")
            self.sock.settimeout(remaining_s)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as error:
                self.closed = True
                raise ConnectionClosed(str(error))
            if not chunk:
                self.closed = True
                raise ConnectionClosed("EOF")
            self.buffered += chunk
        data, self.buffered = self.buffered[:count], self.buffered[count:]
        return data

    def read_frame_payload(self, timeout_s=None):
        deadline = time.monotonic() + (self.io_timeout_s if timeout_s is None else timeout_s)
        (length,) = struct.unpack(">i", self._recv_exact(4, deadline))
        if length < 0 or length > FRAME_BYTES_MAX:
            raise ProtocolError(f"bad frame length {length}")
        return self._recv_exact(length, deadline)

    def read_frame(self, timeout_s=None):
        payload = self.read_frame_payload(timeout_s)
        if len(payload) < 16:
            raise ProtocolError(f"reply shorter than a ReplyHeader: {payload!r}")
        xid, zxid, err = struct.unpack(">iqi", payload[:16])
        return Frame(xid, zxid, err, payload[16:])

    def wait_closed(self, timeout_s=2.0):
        """True if the server closes the connection within timeout_s; frames
        received meanwhile are returned too: (closed, [frames])."""
        frames = []
        deadline = time.monotonic() + timeout_s
        for _ in range(1000):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False, frames
            try:
                frames.append(self.read_frame(remaining_s))
            except ConnectionClosed:
                return True, frames
            except socket.timeout:
                return False, frames
            except ProtocolError:
                return False, frames
        return False, frames

    # -- handshake --
    def connect(self, timeout_ms=10000, session_id=0, password=None, last_zxid=0,
                read_only=False, send_read_only=True, protocol_version=0):
        writer = (Writer().int(protocol_version).long(last_zxid).int(timeout_ms)
                  .long(session_id).buffer(password if password is not None else b"\x00" * 16))
        if send_read_only:
            writer.bool(read_only)
        self.send_frame(writer.bytes())
        payload = self.read_frame_payload()
        reader = Reader(payload)
        handshake = Handshake(reader.int(), reader.int(), reader.long(), reader.buffer(),
                              reader.bool() if reader.remaining() else None, len(payload))
        self.session_id = handshake.session_id
        self.password = handshake.password
        return handshake

    # -- requests --
    def send_request(self, opcode, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        self.send_frame(struct.pack(">ii", xid, opcode) + body)
        return xid

    def read_reply(self, xid, timeout_s=None):
        """Read frames until the reply with `xid`; returns (frames_in_order, reply).
        Notifications that arrive first are in frames_in_order."""
        frames = []
        deadline = time.monotonic() + (self.io_timeout_s if timeout_s is None else timeout_s)
        for _ in range(100000):
            frame = self.read_frame(max(deadline - time.monotonic(), 0.001))
            frames.append(frame)
            if frame.xid == xid:
                return frames, frame
        raise ProtocolError("too many frames")

    def call(self, opcode, body=b"", xid=None, timeout_s=None):
        """Send and wait for the reply; notifications received before it are kept
        in self.pending_events."""
        sent_xid = self.send_request(opcode, body, xid)
        frames, reply = self.read_reply(sent_xid, timeout_s)
        self.pending_events.extend(f for f in frames[:-1] if f.is_notification)
        return reply

    def ping(self):
        return self.call(OP_PING, b"", xid=XID_PING)

    def auth(self, scheme, auth):
        return self.call(OP_AUTH, encode_auth(scheme, auth), xid=XID_AUTH)

    def close_session(self):
        return self.call(OP_CLOSE_SESSION, b"")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def served_tree(address, auth=None, nodes_max=10000):
    """Every node a server holds: path -> (data, stat, acl), walked breadth
    first. auth: (scheme, credentials) to add first, so nodes whose ACL
    needs it can be read. Closes without closeSession (the reader leaves the
    tree alone)."""
    client = JuteClient(address)
    tree = {}
    try:
        client.connect(timeout_ms=30000)
        if auth is not None:
            assert client.auth(*auth).err == OK
        queue = ["/"]
        while queue:
            assert len(tree) < nodes_max
            path = queue.pop(0)
            data = client.call(OP_GET_DATA, encode_path_watch(path))
            acl = client.call(OP_GET_ACL, encode_path(path))
            children = client.call(OP_GET_CHILDREN, encode_path_watch(path))
            assert data.err == acl.err == children.err == OK, path
            got = decode_reply_body(OP_GET_DATA, data.body)
            got_acl = decode_reply_body(OP_GET_ACL, acl.body)
            assert got_acl["stat"] == got["stat"], path
            tree[path] = (got["data"], got["stat"], got_acl["acl"])
            for child in decode_reply_body(OP_GET_CHILDREN, children.body)["children"]:
                queue.append(("" if path == "/" else path) + "/" + child)
    finally:
        client.close()
    return tree
