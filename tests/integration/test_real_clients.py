"""The real command-line clients see the same answers from Cheetah as from ZooKeeper.

Two unmodified clients drive the same scripted sessions against Apache
ZooKeeper 3.8 (the reference) and against Cheetah (the subject):

  * the Java shell `zkCli.sh`, reading commands from stdin (it runs them one
    at a time, synchronously);
  * the C client's `cli_mt`, reading commands from stdin (asynchronous: the
    completion of each command is printed later by the completion thread).

Each transcript is normalised (times, session ids, the client port; zxids are
replaced by their rank among the zxids the test saw, so `cZxid == mZxid` or
`pZxid > cZxid` still count) and the two must be equal line for line. Node
names, data, versions, counts, error messages, sequence suffixes and watch
events are compared exactly.

With CHEETAH_CLIENTS_SELF_CHECK=1 the subject is a second ZooKeeper: this
checks that the scripts and the normalisation are deterministic.
"""

import difflib
import os
import re
import subprocess
import threading
import time

import pytest

import servers

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
REFERENCE_PORT = 22310
SUBJECT_PORT = 22311
SELF_CHECK = os.environ.get("CHEETAH_CLIENTS_SELF_CHECK") == "1"
EXPECT_TIMEOUT_S = 20.0      # one command's reply, or one watch event
CLIENT_EXIT_TIMEOUT_S = 15.0
OUTPUT_BYTES_MAX = 4 << 20   # a client printing more than this is broken


@pytest.fixture(scope="module")
def server_pair():
    """(reference ZooKeeper, subject): Cheetah, or ZooKeeper when self-checking."""
    for tool in (ZKCLI, CLI_MT):
        assert os.access(tool, os.X_OK), f"{tool} missing: install zookeeper and zookeeper-bin"
    with servers.zookeeper(REFERENCE_PORT) as reference:
        subject_kind = servers.zookeeper if SELF_CHECK else servers.cheetah
        with subject_kind(SUBJECT_PORT) as subject:
            yield reference, subject


class InteractiveClient:
    """A client process fed line by line on stdin; stdout and stderr are read
    into one buffer by a thread so that `expect` can wait for a pattern."""

    def __init__(self, argv):
        self.argv = argv
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=0)
        self._text = ""
        self._cursor = 0
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self):
        received_bytes = 0
        while received_bytes < OUTPUT_BYTES_MAX:
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                break
            received_bytes += len(chunk)
            with self._changed:
                self._text += chunk.decode(errors="replace")
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def send(self, line):
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def expect(self, pattern, timeout_s=EXPECT_TIMEOUT_S):
        """Waits for `pattern` after what earlier calls consumed; returns
        (text before the match, the match) and consumes both."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                match = regex.search(self._text, self._cursor)
                if match:
                    before = self._text[self._cursor:match.start()]
                    self._cursor = match.end()
                    return before, match
                left_s = deadline - time.monotonic()
                if left_s <= 0 or self._eof:
                    raise AssertionError(
                        f"{os.path.basename(self.argv[0])}: no /{pattern}/ within {timeout_s}s "
                        f"(exited: {self.process.poll()}); output since last match:\n"
                        + self._text[self._cursor:][-3000:])
                self._changed.wait(min(left_s, 0.5))

    def rest(self):
        """Everything not consumed yet (after the process ended)."""
        self._reader.join(timeout=CLIENT_EXIT_TIMEOUT_S)
        with self._changed:
            text = self._text[self._cursor:]
            self._cursor = len(self._text)
            return text

    def finish(self, quit_line="quit"):
        """Sends `quit_line`, closes stdin, waits for the exit; returns the rest."""
        try:
            self.send(quit_line)
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.process.wait(timeout=CLIENT_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[0]} did not exit after '{quit_line}'")
        return self.rest()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=CLIENT_EXIT_TIMEOUT_S)


class ZkCli(InteractiveClient):
    """zkCli.sh on stdin. Each command is followed by a read of a node that
    does not exist; its error line marks the end of the command's output."""

    def __init__(self, address):
        super().__init__([ZKCLI, "-server", address])
        self.sentinel_count = 0
        before, match = self.expect(r"^WatchedEvent state:SyncConnected type:None path:null\n")
        self.banner = before + match.group(0)

    def run(self, command):
        self.sentinel_count += 1
        sentinel = f"/cheetah-sentinel-{self.sentinel_count}"
        self.send(command)
        self.send(f"get {sentinel}")
        before, _ = self.expect(rf"^Node does not exist: {re.escape(sentinel)}\n")
        return f"> {command}\n{before}"

    def wait_event(self, event_type, path):
        before, match = self.expect(
            rf"^WatchedEvent state:SyncConnected type:{event_type} path:{re.escape(path)}\n")
        return f"(event)\n{before}{match.group(0)}"


class CliMt(InteractiveClient):
    """cli_mt on stdin. Its commands are asynchronous; a `sync` after each one
    completes after it (one session's replies come in order), so the sync's
    completion marks the end of the command's output."""

    SYNC_PATH = "/zookeeper"

    def __init__(self, address):
        super().__init__([CLI_MT, address])
        before, match = self.expect(r"^Got a new session id: 0x[0-9a-f]+\n")
        self.banner = before + match.group(0)

    def run(self, command):
        self.send(command)
        self.send(f"sync {self.SYNC_PATH}")
        marker = re.escape(f"[{self.SYNC_PATH}]: rc = 0\n\tname = {self.SYNC_PATH}\n")
        before, _ = self.expect(rf"^{marker}")
        return f"> {command}\n{before}"

    def wait_event(self, event_name, path):
        before, match = self.expect(
            rf"^Watcher {event_name} state = CONNECTED_STATE for path {re.escape(path)}\n")
        return f"(event)\n{before}{match.group(0)}"


# --- normalisation ----------------------------------------------------------

DROPPED_LINES = [
    re.compile(r"^SLF4J: "),
    re.compile(r"^Connecting to "),
    re.compile(r"^Welcome to ZooKeeper!$"),
    re.compile(r"^JLine support is disabled$"),
    re.compile(r"^time = -?\d+ msec$"),          # cli_mt's timings
]
TIME_LINE = re.compile(r"^(\t?)(ctime|mtime)( ?= ?).*$")
JAVA_ZXID = re.compile(r"^(cZxid|mZxid|pZxid) = 0x([0-9a-f]+)$")
C_ZXID = re.compile(r"^\t(czxid|mzxid)=([0-9a-f]+)$")
JAVA_OWNER = re.compile(r"^ephemeralOwner = 0x([0-9a-f]+)$")
C_OWNER = re.compile(r"^\tephemeralOwner = ([0-9a-f]+)$")
C_SESSION = re.compile(r"^Got a new session id: 0x([0-9a-f]+)$")
C_CHILD = re.compile(r"^\t[^\s=]+$")             # one child name in cli_mt's ls


def _zxids(lines):
    for line in lines:
        for regex in (JAVA_ZXID, C_ZXID):
            match = regex.match(line)
            if match:
                yield int(match.group(2), 16)


def normalise(transcripts, ports, sort_children=True):
    """One server's transcripts (a list of strings) -> one comparable text.
    Zxids become Z<rank> among all zxids in the transcripts; session ids
    become S<n> in order of first appearance; times and ports are masked.
    cli_mt prints children in the server's hash order: with sort_children
    each run of child lines is sorted (the order is checked on its own)."""
    lines = "\n".join(transcripts).split("\n")
    lines = [line for line in lines if not any(regex.search(line) for regex in DROPPED_LINES)]
    zxid_rank = {zxid: rank for rank, zxid in enumerate(sorted(set(_zxids(lines))), 1)}
    session_names = {}

    def session(hex_id):
        session_id = int(hex_id, 16)
        if session_id == 0:
            return "0"
        return session_names.setdefault(session_id, f"S{len(session_names) + 1}")

    out = []
    for line in lines:
        for port in ports:
            line = line.replace(f"127.0.0.1:{port}", "127.0.0.1:<port>")
        if match := TIME_LINE.match(line):
            line = f"{match.group(1)}{match.group(2)}{match.group(3)}<time>"
        elif match := JAVA_ZXID.match(line):
            line = f"{match.group(1)} = Z{zxid_rank[int(match.group(2), 16)]}"
        elif match := C_ZXID.match(line):
            line = f"\t{match.group(1)}=Z{zxid_rank[int(match.group(2), 16)]}"
        elif match := JAVA_OWNER.match(line):
            line = f"ephemeralOwner = {session(match.group(1))}"
        elif match := C_OWNER.match(line):
            line = f"\tephemeralOwner = {session(match.group(1))}"
        elif match := C_SESSION.match(line):
            line = f"Got a new session id: {session(match.group(1))}"
        out.append(line)
    if sort_children:
        sorted_out, run = [], []
        for line in out + [None]:
            if line is not None and C_CHILD.match(line):
                run.append(line)
                continue
            sorted_out.extend(sorted(run))
            run = []
            if line is not None:
                sorted_out.append(line)
        out = sorted_out
    return "\n".join(out) + "\n"


def assert_same(reference_text, subject_text, what):
    if reference_text == subject_text:
        return
    diff = "".join(difflib.unified_diff(
        reference_text.splitlines(True), subject_text.splitlines(True),
        fromfile=f"{what}: zookeeper", tofile=f"{what}: {'zookeeper (self-check)' if SELF_CHECK else 'cheetah'}"))
    raise AssertionError(f"{what}: output differs from ZooKeeper's:\n{diff}")


def compare(server_pair, scenario, what, sort_children=True):
    """Runs scenario(address) -> [transcript] on both servers, compares."""
    reference, subject = server_pair
    ports = [reference.port, subject.port]
    reference_text = normalise(scenario(reference.address), ports, sort_children)
    subject_text = normalise(scenario(subject.address), ports, sort_children)
    assert "Exception" not in reference_text, reference_text
    assert_same(reference_text, subject_text, what)
    return reference_text


# --- zkCli.sh (Java) ----------------------------------------------------------

def zkcli_basic_scenario(address):
    """One session: create (plain, -s, -e, -s -e), stat, get -s, ls -s, set,
    the common errors, delete, deleteall; the ephemerals go with the session."""
    client = ZkCli(address)
    try:
        transcript = [client.banner]
        for command in [
            "ls /zookeeper",
            "create /zkcli",
            "create /zkcli/p data-1",
            "create -s /zkcli/p/seq- a",
            "create -s /zkcli/p/seq- b",
            "create /zkcli/p/plain c",
            "create -s /zkcli/p/seq- d",
            "create -e /zkcli/eph e",
            "create -s -e /zkcli/p/eseq- f",
            "create -e /zkcli/eph again",            # NodeExists
            "create /zkcli/missing/child x",         # NoNode (no parent)
            "create /zkcli/eph/child x",             # ephemerals have no children
            "stat /zkcli/p",
            "stat /zkcli/eph",
            "stat /zkcli/none",
            "get /zkcli/p",
            "get -s /zkcli/p/seq-0000000000",
            "ls /zkcli/p",
            "ls -s /zkcli/p",
            "ls -R /zkcli",
            "set /zkcli/p data-2",
            "set -s /zkcli/p data-3",
            "set -v 7 /zkcli/p data-4",              # BadVersion
            "set -s -v 2 /zkcli/p data-5",
            "get -s /zkcli/p",
            "delete /zkcli/p",                       # NotEmpty
            "delete -v 9 /zkcli/p/plain",            # BadVersion
            "delete /zkcli/p/plain",
            "delete /zkcli/p/plain",                 # NoNode
            "create -s /zkcli/p/seq- after-delete",  # the suffix keeps counting
            "ls /zkcli/p",
            "stat /zkcli/p",
            "deleteall /zkcli/p",
            "ls /zkcli",
            "stat /zkcli",
        ]:
            transcript.append(client.run(command))
        transcript.append(client.finish())
    finally:
        client.kill()
    # After the session closed its ephemeral node is gone.
    checker = ZkCli(address)
    try:
        transcript.append(checker.run("ls /zkcli"))
        transcript.append(checker.run("stat /zkcli"))
        transcript.append(checker.run("deleteall /zkcli"))
        transcript.append(checker.finish())
    finally:
        checker.kill()
    return transcript


def test_zkcli_commands_match_zookeeper(server_pair):
    text = compare(server_pair, zkcli_basic_scenario, "zkCli.sh basic session")
    # The reference itself did what the scenario means (guards the script).
    assert "Created /zkcli/p/seq-0000000000" in text
    assert "Created /zkcli/p/eseq-0000000004" in text
    assert "Created /zkcli/p/seq-0000000005" in text  # ZooKeeper's own count
    assert "Node already exists: /zkcli/eph" in text
    assert "Node not empty: /zkcli/p" in text
    assert "version No is not valid : /zkcli/p" in text


def zkcli_watch_scenario(address):
    """Client A sets watches (get -w, ls -w, stat -w); client B changes the
    nodes; A prints each WATCHER event."""
    setup = ZkCli(address)
    watcher = changer = None
    try:
        transcript = [setup.run("create /zkw"), setup.run("create /zkw/data v1"), setup.finish()]
        watcher = ZkCli(address)
        changer = ZkCli(address)
        transcript.append(watcher.run("get -w /zkw/data"))
        transcript.append(changer.run("set /zkw/data v2"))
        transcript.append(watcher.wait_event("NodeDataChanged", "/zkw/data"))
        transcript.append(watcher.run("ls -w /zkw"))
        transcript.append(changer.run("create /zkw/child x"))
        transcript.append(watcher.wait_event("NodeChildrenChanged", "/zkw"))
        transcript.append(watcher.run("stat -w /zkw/later"))
        transcript.append(changer.run("create /zkw/later y"))
        transcript.append(watcher.wait_event("NodeCreated", "/zkw/later"))
        transcript.append(watcher.run("get -w /zkw/child"))
        transcript.append(changer.run("delete /zkw/child"))
        transcript.append(watcher.wait_event("NodeDeleted", "/zkw/child"))
        # A watch fires once: a second change prints nothing more.
        transcript.append(changer.run("set /zkw/data v3"))
        transcript.append(watcher.run("get /zkw/data"))
        transcript.append(changer.run("deleteall /zkw"))
        transcript.append(changer.finish())
        transcript.append(watcher.finish())
    finally:
        for client in (setup, watcher, changer):
            if client:
                client.kill()
    return transcript


def test_zkcli_watches_match_zookeeper(server_pair):
    text = compare(server_pair, zkcli_watch_scenario, "zkCli.sh watches")
    for event in ["type:NodeDataChanged path:/zkw/data", "type:NodeChildrenChanged path:/zkw",
                  "type:NodeCreated path:/zkw/later", "type:NodeDeleted path:/zkw/child"]:
        assert text.count(event) == 1, event


def test_zkcli_one_command_on_the_command_line(server_pair):
    """zkCli.sh with the command as arguments (how scripts use it)."""
    def scenario(address):
        transcript = []
        for command in (["create", "/zkone", "hello"], ["get", "/zkone"],
                        ["stat", "/zkone"], ["delete", "/zkone"], ["ls", "/zkone"]):
            done = subprocess.run([ZKCLI, "-server", address, *command],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=60)
            transcript.append(f"> {' '.join(command)} (exit {done.returncode})\n"
                              + done.stdout.decode(errors="replace"))
        return transcript
    text = compare(server_pair, scenario, "zkCli.sh one-shot commands")
    assert "hello" in text and "Node does not exist: /zkone" in text


# --- cli_mt (C client) --------------------------------------------------------

def cli_mt_basic_scenario(address):
    """One C-client session: create (plain, +s, +e, +es, create2), get (which
    also sets a watch: the session's own set fires it), set, ls, ls2, exists,
    delete and errors. Then a second session sees the ephemerals gone."""
    client = CliMt(address)
    try:
        transcript = [client.banner]
        for command in [
            "create /climt",
            "create /climt/p",
            "create +s /climt/p/seq-",
            "create +s /climt/p/seq-",
            "create +e /climt/eph",
            "create +es /climt/p/eseq-",
            "create2 /climt/p/two",
            "create2 +s /climt/p/seq-",
            "create2 +e /climt/eph2",         # ephemeralOwner = the session
            "create /climt/p",                 # NodeExists (-110)
            "create /climt/none/child",        # NoNode (-101)
            "create /climt/eph/child",         # NoChildrenForEphemerals (-108)
            "get /climt/p",                    # data watch on /climt/p
            "set /climt/p hello",              # fires it (own session)
            "get /climt/p",
            "set /climt/none x",               # NoNode
            "ls /climt/p",                     # child watch on /climt/p
            "create /climt/p/late",            # fires it
            "ls2 /climt/p",
            "ls /climt/none",
            "exists /climt/p",
            "exists /climt/none",
            "delete /climt/p",                 # NotEmpty (-111)
            "delete /climt/p/two",
            "delete /climt/p/two",             # NoNode
            "ls2 /climt",
        ]:
            transcript.append(client.run(command))
        transcript.append(client.finish())
    finally:
        client.kill()
    checker = CliMt(address)
    try:
        transcript.append(checker.banner)
        for command in ["ls /climt", "ls /climt/p", "ls2 /climt/p"]:
            transcript.append(checker.run(command))
        # Clean up (no deleteall in cli_mt): children first.
        listing = checker.run("ls /climt/p")
        for name in re.findall(r"^\t([^\s=]+)$", listing, re.MULTILINE):
            checker.run(f"delete /climt/p/{name}")
        checker.run("delete /climt/p")
        transcript.append(checker.run("delete /climt"))
        transcript.append(checker.finish())
    finally:
        checker.kill()
    return transcript


def test_cli_mt_commands_match_zookeeper(server_pair):
    text = compare(server_pair, cli_mt_basic_scenario, "cli_mt basic session")
    assert "\tname = /climt/p/seq-0000000000" in text
    assert "\tname = /climt/p/eseq-0000000002" in text
    assert "\tname = /climt/p/seq-0000000004" in text
    assert "[/climt/p]: rc = -110" in text
    assert "[/climt/eph/child]: rc = -108" in text
    assert "Watcher CHANGED_EVENT state = CONNECTED_STATE for path /climt/p" in text
    assert "Watcher CHILD_EVENT state = CONNECTED_STATE for path /climt/p" in text
    assert "/climt/p: rc = -111" in text


def test_cli_mt_children_order_matches_zookeeper(server_pair):
    """cli_mt prints getChildren's list as the server sends it: ZooKeeper's
    order is its HashSet's. Same order = same reply bytes."""
    def scenario(address):
        client = CliMt(address)
        try:
            transcript = [client.run("create /order")]
            for name in ["zz", "b1", "aa", "m", "node-10", "node-2", "x" * 40, "0"]:
                client.run(f"create /order/{name}")
            client.run("create +s /order/q-")
            transcript.append(client.run("ls /order"))
            for name in ["zz", "b1", "aa", "m", "node-10", "node-2", "x" * 40, "0",
                         "q-0000000008"]:
                client.run(f"delete /order/{name}")
            client.run("delete /order")
            transcript.append(client.finish())
        finally:
            client.kill()
        return transcript
    compare(server_pair, scenario, "cli_mt children order", sort_children=False)


def cli_mt_watch_scenario(address):
    """Client A sets watches; client B (another cli_mt) changes the nodes."""
    watcher = changer = None
    try:
        changer = CliMt(address)
        watcher = CliMt(address)
        transcript = [changer.banner, watcher.banner]
        transcript.append(changer.run("create /cmw"))
        transcript.append(changer.run("create /cmw/data"))
        transcript.append(watcher.run("get /cmw/data"))
        transcript.append(changer.run("set /cmw/data v2"))
        transcript.append(watcher.wait_event("CHANGED_EVENT", "/cmw/data"))
        transcript.append(watcher.run("ls /cmw"))
        transcript.append(changer.run("create /cmw/child"))
        transcript.append(watcher.wait_event("CHILD_EVENT", "/cmw"))
        transcript.append(watcher.run("wexists /cmw/later"))
        transcript.append(changer.run("create /cmw/later"))
        transcript.append(watcher.wait_event("CREATED_EVENT", "/cmw/later"))
        transcript.append(watcher.run("get /cmw/child"))
        transcript.append(changer.run("delete /cmw/child"))
        transcript.append(watcher.wait_event("DELETED_EVENT", "/cmw/child"))
        for path in ["/cmw/data", "/cmw/later", "/cmw"]:
            transcript.append(changer.run(f"delete {path}"))
        transcript.append(watcher.run("ls /cmw"))
        transcript.append(changer.finish())
        transcript.append(watcher.finish())
    finally:
        for client in (watcher, changer):
            if client:
                client.kill()
    return transcript


def test_cli_mt_watches_match_zookeeper(server_pair):
    text = compare(server_pair, cli_mt_watch_scenario, "cli_mt watches")
    for event in ["CHANGED_EVENT state = CONNECTED_STATE for path /cmw/data",
                  "CHILD_EVENT state = CONNECTED_STATE for path /cmw\n",
                  "CREATED_EVENT state = CONNECTED_STATE for path /cmw/later",
                  "DELETED_EVENT state = CONNECTED_STATE for path /cmw/child"]:
        assert event in text, event
