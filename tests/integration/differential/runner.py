"""Run one scenario against one server and return a normalised transcript.

A scenario is a function `body(run)` that opens sessions with `run.session()`
and calls their methods; every handshake, reply and notification is logged in
the order the client saw it, per session. After the run the transcript is
normalised so that two servers that made the same history compare equal:

- zxids (czxid, mzxid, pzxid, reply-header zxid) become their dense rank
  among all positive zxids seen in the run: `Z1`, `Z2`, ...;
- ctime/mtime become `t@Zk` (the rank of the zxid that wrote them), after
  checking that one zxid always has one time, that time never goes backwards
  as zxids grow and that it is the wall clock of the run; a violation renders
  as `TIME?...` so it shows up in the diff;
- session ids (handshake, ephemeralOwner) become `S1`, `S2`, ... by order of
  appearance; passwords become their length.

Events to a session caused by another session are made deterministic by
`drain()` (a ping: the server queues the notification before the ping's
reply) or `wait_events()` (block until the event arrives).
"""

import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jute_client as jc  # noqa: E402

SESSION_TIMEOUT_MS = 10000
EVENT_WAIT_S = 6.0
CLOSE_WAIT_S = 1.5
IO_TIMEOUT_S = 5.0
CHECK_WAIT_S = 1.0  # ZooKeeper 3.8.0 never answers a successful standalone check
CONTAINER_OWNER = -(1 << 63)

OP_NAMES = {value: name[3:].lower() for name, value in vars(jc).items()
            if name.startswith("OP_") and isinstance(value, int)}


class Z:
    """A zxid, normalised to its rank."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class T:
    """A ctime/mtime with the zxid of the transaction that wrote it."""
    __slots__ = ("value", "zxid")

    def __init__(self, value, zxid):
        self.value = value
        self.zxid = zxid


class S:
    """A session id, normalised to the order of appearance."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def owner(value):
    if value == 0:
        return 0
    if value == CONTAINER_OWNER:
        return "container"
    if (value >> 56) == -1:  # high byte 0xFF: a TTL node
        return f"ttl:{value & 0xFFFFFFFFFF}"
    return S(value)


def stat_obj(stat):
    if stat is None:
        return None
    return {
        "czxid": Z(stat["czxid"]), "mzxid": Z(stat["mzxid"]),
        "ctime": T(stat["ctime"], stat["czxid"]), "mtime": T(stat["mtime"], stat["mzxid"]),
        "version": stat["version"], "cversion": stat["cversion"],
        "aversion": stat["aversion"], "ephemeralOwner": owner(stat["ephemeralOwner"]),
        "dataLength": stat["dataLength"], "numChildren": stat["numChildren"],
        "pzxid": Z(stat["pzxid"]),
    }


def data_obj(data):
    if data is None:
        return None
    if len(data) > 64:
        return f"<{len(data)} bytes sha1={hashlib.sha1(data).hexdigest()[:12]}>"
    return data


def wrap_body(decoded):
    """Mark the zxids, times and sessions in a decoded reply body."""
    out = {}
    for key, value in decoded.items():
        if key == "stat":
            out[key] = stat_obj(value)
        elif key == "data":
            out[key] = data_obj(value)
        elif key == "results":
            out[key] = [wrap_result(r) for r in value]
        else:
            out[key] = value
    return out


def wrap_result(result):
    kind = result[0]
    if kind == "error":
        return ("error", jc.ERR_NAMES.get(result[1], result[1]))
    if kind == "create2":
        return ("create2", result[1], stat_obj(result[2]))
    if kind == "setData":
        return ("setData", stat_obj(result[1]))
    if kind == "getData":
        return ("getData", data_obj(result[1]), stat_obj(result[2]))
    return result


class Session:
    def __init__(self, run, label, address):
        self.run = run
        self.label = label
        self.address = address
        self.client = None
        self.dead = False
        self.closed_cleanly = False
        self.session_id = 0
        self.password = None
        self.handshake = None
        self.timeouts_in_a_row = 0

    def log(self, *parts):
        self.run.log(self.label, *parts)

    # ---- connection ----
    def connect(self, timeout_ms=SESSION_TIMEOUT_MS, session_id=0, password=None,
                read_only=False, send_read_only=True, last_zxid=0, protocol_version=0):
        self.client = jc.JuteClient(self.address, IO_TIMEOUT_S)
        self.dead = False
        try:
            hs = self.client.connect(timeout_ms=timeout_ms, session_id=session_id,
                                     password=password, read_only=read_only,
                                     send_read_only=send_read_only, last_zxid=last_zxid,
                                     protocol_version=protocol_version)
        except (jc.ConnectionClosed, socket.timeout, OSError, jc.ProtocolError) as error:
            self.dead = True
            self.log("connect", {"failed": type(error).__name__})
            return None
        self.handshake = hs
        if hs.session_id:
            self.session_id = hs.session_id
            self.password = hs.password
            self.run.sessions.append(self)
        self.log("connect", {"protocolVersion": hs.protocol_version, "timeout": hs.timeout_ms,
                             "session": S(hs.session_id) if hs.session_id else 0,
                             "passwd": (len(hs.password) if hs.password is not None else None,
                                        hs.password == b"\x00" * 16 if hs.password else None),
                             "readOnly": hs.read_only, "length": hs.length})
        return hs

    def reconnect(self, password=None, timeout_ms=SESSION_TIMEOUT_MS, **kwargs):
        """A new TCP connection resuming this session (as a client does after a
        disconnect). The old connection is dropped first."""
        if self.client is not None:
            self.client.close()
        sid = self.session_id
        pw = self.password if password is None else password
        return self.connect(timeout_ms=timeout_ms, session_id=sid, password=pw, **kwargs)

    def drop(self):
        """Close the TCP connection without closing the session."""
        if self.client is not None:
            self.client.close()
        self.dead = True
        self.log("drop")

    # ---- frames ----
    def _log_frame(self, frame, name):
        if frame.is_notification:
            try:
                event = jc.decode_event(frame.body)
                self.log("event", jc.EVENT_NAMES.get(event["type"], event["type"]),
                         jc.STATE_NAMES.get(event["state"], event["state"]), event["path"],
                         {"zxid": frame.zxid, "err": frame.err})
            except jc.ProtocolError:
                self.log("event-undecodable", frame.body)
            return
        entry = {"xid": frame.xid, "zxid": Z(frame.zxid),
                 "err": jc.ERR_NAMES.get(frame.err, frame.err)}
        if frame.err == 0 or frame.body:
            opcode = self.run.opcode_of_xid.get((self.label, frame.xid))
            try:
                entry.update(wrap_body(jc.decode_reply_body(opcode, frame.body))
                             if frame.err == 0 else {"body": frame.body})
            except jc.ProtocolError as error:
                entry["undecodable"] = str(error)
        self.log("reply", name, entry)

    def req(self, opcode, body=b"", xid=None, name=None, timeout_s=IO_TIMEOUT_S):
        """Send one request and log everything up to and including its reply.
        A request the server never answers logs NO-REPLY (ZooKeeper 3.8.0 does
        not answer a successful standalone check); two in a row end the session."""
        name = name or OP_NAMES.get(opcode, str(opcode))
        if self.dead:
            self.log(name, "DEAD")
            return None
        if xid is None:
            xid = self.client.next_xid
            self.client.next_xid += 1
        self.run.opcode_of_xid[(self.label, xid)] = opcode
        try:
            self.client.send_request(opcode, body, xid)
            deadline = time.monotonic() + timeout_s
            for _ in range(10000):
                frame = self.client.read_frame(max(deadline - time.monotonic(), 0.001))
                self._log_frame(frame, name)
                # A ping is always answered with xid -2, whatever xid it was sent with.
                if frame.xid == xid or (opcode == jc.OP_PING and frame.xid == jc.XID_PING):
                    self.timeouts_in_a_row = 0
                    return frame
        except (jc.ConnectionClosed, ConnectionError):
            # ConnectionError: reset or broken pipe while still sending: a server
            # that closes before reading a whole oversized frame also "closed".
            self.dead = True
            self.log(name, "CLOSED")
        except socket.timeout:
            self.timeouts_in_a_row += 1
            self.dead = self.timeouts_in_a_row >= 2
            self.log(name, "NO-REPLY")
        except (jc.ProtocolError, OSError) as error:
            self.dead = True
            self.log(name, "ERROR", type(error).__name__)
        return None

    def send_raw(self, data, note=None):
        if self.dead:
            self.log("raw", "DEAD")
            return
        self.log("raw", note or len(data))
        try:
            self.client.send_raw(data)
        except OSError:
            pass

    def expect_close(self, timeout_s=CLOSE_WAIT_S):
        """Log every frame until the server closes (or the wait ends). A
        connection the server keeps open stays usable."""
        if self.dead or self.client is None:
            self.log("expect_close", "DEAD")
            return
        closed = False
        deadline = time.monotonic() + timeout_s
        for _ in range(1000):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                break
            try:
                frame = self.client.read_frame(remaining_s)
            except (jc.ConnectionClosed, ConnectionError):
                closed = True
                break
            except socket.timeout:
                break
            except (jc.ProtocolError, OSError) as error:
                self.log("bad-frame", type(error).__name__)
                closed = True
                break
            self._log_frame(frame, "?")
        self.dead = closed
        self.log("connection", "closed" if closed else "still-open")

    def read_raw_until_close(self, timeout_s=CLOSE_WAIT_S):
        """For four-letter words: log the raw bytes the server sends, then
        whether it closed the connection."""
        chunks = []
        closed = False
        deadline = time.monotonic() + timeout_s
        for _ in range(1000):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                break
            self.client.sock.settimeout(remaining_s)
            try:
                chunk = self.client.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        self.dead = True
        self.log("raw-reply", b"".join(chunks), "closed" if closed else "still-open")

    def drain(self):
        """Ping: every notification queued before the ping's reply is logged."""
        return self.req(jc.OP_PING, b"", xid=jc.XID_PING)

    def wait_events(self, count=1, timeout_s=EVENT_WAIT_S):
        """Block until `count` notifications arrived (or the wait ends)."""
        if self.dead:
            self.log("wait_events", "DEAD")
            return
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < count:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                self.log("wait_events", f"timeout after {seen}")
                return
            try:
                frame = self.client.read_frame(remaining_s)
            except socket.timeout:
                self.log("wait_events", f"timeout after {seen}")
                return
            except jc.ConnectionClosed:
                self.dead = True
                self.log("wait_events", "CLOSED")
                return
            self._log_frame(frame, "?")
            if frame.is_notification:
                seen += 1

    def quiet(self, wait_s=0.3):
        """Log anything unexpected that arrives within wait_s (should be nothing)."""
        if self.dead:
            return
        deadline = time.monotonic() + wait_s
        for _ in range(100):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return
            try:
                frame = self.client.read_frame(remaining_s)
            except socket.timeout:
                return
            except jc.ConnectionClosed:
                self.dead = True
                self.log("quiet", "CLOSED")
                return
            self._log_frame(frame, "unexpected")

    # ---- operations ----
    def create(self, path, data=b"", acl=jc.OPEN_ACL, flags=jc.PERSISTENT):
        return self.req(jc.OP_CREATE, jc.encode_create(path, data, acl, flags))

    def create2(self, path, data=b"", acl=jc.OPEN_ACL, flags=jc.PERSISTENT):
        return self.req(jc.OP_CREATE2, jc.encode_create(path, data, acl, flags))

    def create_container(self, path, data=b"", acl=jc.OPEN_ACL, flags=jc.CONTAINER):
        return self.req(jc.OP_CREATE_CONTAINER, jc.encode_create(path, data, acl, flags))

    def create_ttl(self, path, data=b"", acl=jc.OPEN_ACL, flags=jc.PERSISTENT_WITH_TTL,
                   ttl=60000):
        return self.req(jc.OP_CREATE_TTL, jc.encode_create_ttl(path, data, acl, flags, ttl))

    def delete(self, path, version=-1):
        return self.req(jc.OP_DELETE, jc.encode_delete(path, version))

    def exists(self, path, watch=False):
        return self.req(jc.OP_EXISTS, jc.encode_path_watch(path, watch))

    def get_data(self, path, watch=False):
        return self.req(jc.OP_GET_DATA, jc.encode_path_watch(path, watch))

    def set_data(self, path, data, version=-1):
        return self.req(jc.OP_SET_DATA, jc.encode_set_data(path, data, version))

    def get_acl(self, path):
        return self.req(jc.OP_GET_ACL, jc.encode_path(path))

    def set_acl(self, path, acl, version=-1):
        return self.req(jc.OP_SET_ACL, jc.encode_set_acl(path, acl, version))

    def get_children(self, path, watch=False):
        return self.req(jc.OP_GET_CHILDREN, jc.encode_path_watch(path, watch))

    def get_children2(self, path, watch=False):
        return self.req(jc.OP_GET_CHILDREN2, jc.encode_path_watch(path, watch))

    def check(self, path, version):
        """The one deliberate difference from ZooKeeper 3.8.0: a successful
        standalone check gets no reply there (FinalRequestProcessor fails on
        the check's null Stat, so the client waits until it gives up), while
        Cheetah answers OK with the node's Stat. Both outcomes log the same
        line; a failing check is compared as usual. README "Differences"."""
        entries = self.run.entries
        before = len(entries)
        frame = self.req(jc.OP_CHECK, jc.encode_check(path, version), timeout_s=CHECK_WAIT_S)
        last = entries[-1] if len(entries) > before else None
        answered_ok = frame is not None and frame.err == 0
        silent = frame is None and last is not None and last[1:] == ("check", "NO-REPLY")
        if answered_ok or silent:
            # Keep any event that arrived meanwhile; drop only the reply line.
            entries[before:] = [entry for entry in entries[before:] if entry[1] == "event"]
            self.timeouts_in_a_row = 0
            self.dead = False
            self.log("check", "OK (ZooKeeper 3.8.0: no reply; Cheetah: reply with Stat)")
        return frame

    def multi(self, ops):
        return self.req(jc.OP_MULTI, jc.encode_multi(ops))

    def multi_read(self, ops):
        return self.req(jc.OP_MULTI_READ, jc.encode_multi(ops))

    def sync(self, path):
        return self.req(jc.OP_SYNC, jc.encode_path(path))

    def ping(self):
        return self.req(jc.OP_PING, b"", xid=jc.XID_PING)

    def auth(self, scheme, auth):
        return self.req(jc.OP_AUTH, jc.encode_auth(scheme, auth), xid=jc.XID_AUTH)

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        return self.req(jc.OP_SET_WATCHES, jc.encode_set_watches(relative_zxid, data, exist,
                                                                 child),
                        xid=jc.XID_SET_WATCHES)

    def set_watches2(self, relative_zxid, data=(), exist=(), child=(), persistent=(),
                     recursive=()):
        return self.req(jc.OP_SET_WATCHES2,
                        jc.encode_set_watches2(relative_zxid, data, exist, child, persistent,
                                               recursive), xid=jc.XID_SET_WATCHES)

    def add_watch(self, path, mode):
        return self.req(jc.OP_ADD_WATCH, jc.encode_add_watch(path, mode))

    def remove_watches(self, path, watcher_type):
        return self.req(jc.OP_REMOVE_WATCHES, jc.encode_watch_type(path, watcher_type))

    def check_watches(self, path, watcher_type):
        return self.req(jc.OP_CHECK_WATCHES, jc.encode_watch_type(path, watcher_type))

    def get_ephemerals(self, prefix):
        return self.req(jc.OP_GET_EPHEMERALS, jc.encode_path(prefix))

    def get_all_children_number(self, path):
        return self.req(jc.OP_GET_ALL_CHILDREN_NUMBER, jc.encode_path(path))

    def who_am_i(self):
        return self.req(jc.OP_WHO_AM_I, b"")

    def reconfig(self, joining="", leaving="", new_members="", config_id=-1):
        return self.req(jc.OP_RECONFIG, jc.encode_reconfig(joining, leaving, new_members,
                                                           config_id))

    def sasl(self, token):
        return self.req(jc.OP_SASL, jc.encode_sasl(token))

    def close(self):
        """closeSession, then check the server closes the connection."""
        frame = self.req(jc.OP_CLOSE_SESSION, b"")
        if frame is not None:
            self.closed_cleanly = True
            self.expect_close()
        return frame


class Run:
    def __init__(self, address, prefix):
        self.address = address
        self.prefix = prefix
        self.entries = []
        self.sessions = []
        self.opcode_of_xid = {}
        self.labels = iter("abcdefghijklmnopqrstuvwxyz")
        self.wall_start_ms = int(time.time() * 1000)
        self.wall_end_ms = None

    def p(self, *parts):
        """A path under this scenario's prefix: p("a", "b") -> /dNNN/a/b."""
        return "/".join([self.prefix, *parts]) if parts else self.prefix

    def log(self, *parts):
        self.entries.append(parts)

    def note(self, *parts):
        self.entries.append(("note", *parts))

    def session(self, label=None, connect=True, **connect_args):
        session = Session(self, label or next(self.labels), self.address)
        if connect:
            session.connect(**connect_args)
        return session

    def finish(self):
        """Close every session the scenario left open (not logged), so that no
        session expires later in another scenario's history."""
        self.wall_end_ms = int(time.time() * 1000)
        seen = set()
        for session in self.sessions:
            if session.closed_cleanly or session.session_id in seen:
                continue
            seen.add(session.session_id)
            try:
                if session.client is not None and not session.dead:
                    session.client.call(jc.OP_CLOSE_SESSION, b"", timeout_s=2.0)
                else:
                    client = jc.JuteClient(self.address, 2.0)
                    handshake = client.connect(session_id=session.session_id,
                                               password=session.password)
                    if handshake.timeout_ms > 0:
                        client.call(jc.OP_CLOSE_SESSION, b"", timeout_s=2.0)
                    client.close()
            except (jc.ConnectionClosed, socket.timeout, OSError, jc.ProtocolError):
                pass
            finally:
                if session.client is not None:
                    session.client.close()


# ---------------------------------------------------------------- normalise
def _walk(value, visit):
    visit(value)
    if isinstance(value, dict):
        for item in value.values():
            _walk(item, visit)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, visit)


def normalise(run):
    """The run's entries as a list of text lines, normalised (see module doc)."""
    zxids = set()
    times_by_zxid = {}
    session_rank = {}

    def visit(value):
        if isinstance(value, Z) and value.value > 0:
            zxids.add(value.value)
        elif isinstance(value, T):
            times_by_zxid.setdefault(value.zxid, set()).add(value.value)
        elif isinstance(value, S) and value.value not in session_rank:
            session_rank[value.value] = len(session_rank) + 1

    for entry in run.entries:
        _walk(entry, visit)
    rank = {z: i + 1 for i, z in enumerate(sorted(zxids))}

    # Times: one per zxid, non-decreasing with the zxid, inside the run's wall clock.
    bad_time_zxids = set()
    last_time = None
    slack_ms = 5000
    for zxid in sorted(times_by_zxid):
        times = times_by_zxid[zxid]
        if zxid == 0:
            if times != {0}:
                bad_time_zxids.add(zxid)
            continue
        if len(times) != 1:
            bad_time_zxids.add(zxid)
            continue
        (value,) = times
        if last_time is not None and value < last_time:
            bad_time_zxids.add(zxid)
        if not (run.wall_start_ms - slack_ms <= value <= (run.wall_end_ms or value) + slack_ms):
            bad_time_zxids.add(zxid)
        last_time = value

    def render(value):
        if isinstance(value, Z):
            return f"Z{rank[value.value]}" if value.value > 0 else str(value.value)
        if isinstance(value, T):
            if value.zxid in bad_time_zxids:
                return f"TIME?{value.value}@{value.zxid}"
            return f"t@Z{rank[value.zxid]}" if value.zxid > 0 else f"t={value.value}"
        if isinstance(value, S):
            return f"S{session_rank[value.value]}"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(render(v) for v in value) + "]"
        return repr(value)

    lines = []
    for entry in run.entries:
        lines.append(" ".join(str(part) if isinstance(part, str) else render(part)
                              for part in entry))
    return lines


def run_scenario(address, scenario_id, body):
    """Run `body(run)` against the server at `address`; returns the lines."""
    run = Run(address, f"/d{scenario_id:03d}")
    try:
        body(run)
    except Exception as error:  # a harness or scenario bug: visible in the transcript
        run.log("EXCEPTION", f"{type(error).__name__}: {error}")
    finally:
        run.finish()
    return normalise(run)
