"""Start and stop the servers that integration tests talk to.

Both Apache ZooKeeper 3.8 (Debian's `zookeeper`, the reference) and Cheetah
are started on loopback with a zoo.cfg written by the test, in a fresh
temporary data directory, and stopped by their PID. Every wait is bounded.

    with servers.zookeeper(port=21810) as zk: ...
    with servers.cheetah(port=21811) as ch: ...
    server.address -> "127.0.0.1:21811"
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
ZOOKEEPER_CLASSPATH = ("/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:"
                       "/usr/share/java/slf4j-simple.jar")


def cheetah_binary():
    """The server binary under test: $CHEETAH_SERVER, else build/."""
    path = os.environ.get("CHEETAH_SERVER") or os.path.join(
        REPO_ROOT, "build", "dataplane", "cheetah-server")
    if not os.path.exists(path):
        raise RuntimeError(
            f"cheetah-server not found at {path}: build it (scripts/test.sh does) "
            "or set CHEETAH_SERVER")
    return path


def four_letter_word(address, word, timeout_s=2.0):
    """Send a four-letter word and return the whole reply as text."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(word.encode())
        chunks = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")


class Server:
    """A running server process with its config and data directory."""

    def __init__(self, kind, port, process, workdir, log_path, command=None, env=None):
        self.kind = kind
        self.command = command
        self.env = env
        self.port = port
        self.process = process
        self.workdir = workdir
        self.log_path = log_path
        self.address = f"127.0.0.1:{port}"

    @property
    def pid(self):
        return self.process.pid

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.process.returncode} at start:\n"
                    + self.log_text()[-4000:])
            try:
                if "Mode:" in four_letter_word(self.address, "srvr", timeout_s=1.0):
                    return
            except OSError as error:
                last_error = error
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} on {self.address} not ready in {START_TIMEOUT_S}s "
                           f"({last_error}):\n" + self.log_text()[-4000:])

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)


def _write_config(workdir, port, extra):
    data_dir = os.path.join(workdir, "data")
    os.makedirs(data_dir, exist_ok=True)
    lines = {
        "tickTime": "2000",
        "dataDir": data_dir,
        "clientPort": str(port),
        "clientPortAddress": "127.0.0.1",
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "*",
    }
    lines.update(extra or {})
    path = os.path.join(workdir, "zoo.cfg")
    with open(path, "w") as config:
        for key, value in lines.items():
            config.write(f"{key}={value}\n")
    return path


ZOOKEEPER_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
# zkServer.sh's entry point: it also runs autopurge (DatadirCleanupManager).
ZOOKEEPER_QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def start(kind, port, extra_config=None, extra_jvm_flags=(), env=None, workdir=None,
          log_name="server.log", wait=True, zookeeper_main=ZOOKEEPER_MAIN, command_prefix=()):
    """Start `kind` ('zookeeper' or 'cheetah') on 127.0.0.1:port; returns a Server.

    workdir: reuse an existing work directory (its data/ is kept, zoo.cfg is
    rewritten) instead of a fresh temporary one. log_name: the log file in
    workdir (a restart can keep the earlier run's log). wait=False returns
    as soon as the process is started (for servers expected to fail).
    zookeeper_main: the Java main class (ZOOKEEPER_QUORUM_MAIN for autopurge).
    command_prefix: words run before the command, which must exec it (so the
    PID is the server's), e.g. ["ip", "netns", "exec", NS]."""
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix=f"{kind}-{port}-")
    config_path = _write_config(workdir, port, extra_config)
    log_path = os.path.join(workdir, log_name)
    if kind == "zookeeper":
        command = ["java", "-Xmx512m", f"-Dzookeeper.log.dir={workdir}",
                   "-Dzookeeper.root.logger=INFO,CONSOLE", *extra_jvm_flags,
                   "-cp", ZOOKEEPER_CLASSPATH,
                   zookeeper_main, config_path]
    elif kind == "cheetah":
        command = [cheetah_binary(), config_path]
    else:
        raise ValueError(kind)
    command = [*command_prefix, *command]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir,
                                   env=dict(os.environ, **(env or {})))
    env = dict(env or {})
    server = Server(kind, port, process, workdir, log_path, command, env)
    if wait:
        server.wait_ready()
    return server


def restart(server, log_name=None, env=None, wait=True):
    """Start the same kind of server again with the same command on the same
    work directory and data (after server.kill() or server.stop()); returns
    the new Server. env replaces the environment additions of the first start."""
    assert server.process.poll() is not None, "restart of a running server"
    log_path = os.path.join(server.workdir, log_name) if log_name else server.log_path
    with open(log_path, "w") as log:
        process = subprocess.Popen(server.command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=server.workdir,
                                   env=dict(os.environ, **(server.env if env is None else env)))
    restarted = Server(server.kind, server.port, process, server.workdir, log_path,
                       server.command, server.env if env is None else env)
    if wait:
        restarted.wait_ready()
    return restarted


@contextlib.contextmanager
def running(kind, port, extra_config=None, **kwargs):
    server = start(kind, port, extra_config, **kwargs)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def zookeeper(port, extra_config=None, **kwargs):
    return running("zookeeper", port, extra_config, **kwargs)


def cheetah(port, extra_config=None, **kwargs):
    return running("cheetah", port, extra_config, **kwargs)
