"""Start and stop whole ensembles (Cheetah or Apache ZooKeeper 3.8) on loopback.

    with ensemble.running("cheetah", size=3, base_port=23300) as group:
        group.start_all(); group.wait_for_leader()
        group.mode(1) -> "leader" / "follower" / "observer" / None (not serving)

Server N (1-based) listens for clients on base_port + 10*N, its quorum port
on base_port + 10*N + 1 and its election port on base_port + 10*N + 2, all
on 127.0.0.1. Every server has its own work directory with data/myid; every
process is stopped by its PID and every wait is bounded.
"""

import contextlib
import os
import shutil
import tempfile
import time

import servers

TICK_MS = 500
INIT_LIMIT_TICKS = 10
SYNC_LIMIT_TICKS = 5
WAIT_TIMEOUT_S = 30.0


class Ensemble:
    def __init__(self, kind, size, base_port, observers=(), extra_config=None):
        self.kind = kind
        self.size = size
        self.base_port = base_port
        self.observers = set(observers)
        self.extra_config = dict(extra_config or {})
        self.root = tempfile.mkdtemp(prefix=f"{kind}-ensemble-{base_port}-")
        self.servers = {}  # id -> servers.Server (None when stopped)

    # -- layout ----------------------------------------------------------------
    def client_port(self, server_id):
        return self.base_port + 10 * server_id

    def address(self, server_id):
        return f"127.0.0.1:{self.client_port(server_id)}"

    def connect_string(self, ids=None):
        return ",".join(self.address(i) for i in (ids or range(1, self.size + 1)))

    def workdir(self, server_id):
        return os.path.join(self.root, f"server{server_id}")

    def server_line(self, server_id):
        """host:quorumPort:electionPort of server.N."""
        return (f"127.0.0.1:{self.client_port(server_id) + 1}:"
                f"{self.client_port(server_id) + 2}")

    def launch_prefix(self, server_id):
        """Words that exec the server (a subclass runs it elsewhere)."""
        return ()

    def config(self, server_id):
        lines = {
            "tickTime": str(TICK_MS),
            "initLimit": str(INIT_LIMIT_TICKS),
            "syncLimit": str(SYNC_LIMIT_TICKS),
        }
        for other in range(1, self.size + 1):
            role = ":observer" if other in self.observers else ""
            lines[f"server.{other}"] = self.server_line(other) + role
        if server_id in self.observers:
            lines["peerType"] = "observer"
        lines.update(self.extra_config)
        return lines

    # -- processes -------------------------------------------------------------
    def start(self, server_id, env=None):
        workdir = self.workdir(server_id)
        data = os.path.join(workdir, "data")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "myid"), "w") as myid:
            myid.write(f"{server_id}\n")
        server = servers.start(self.kind, self.client_port(server_id),
                               self.config(server_id), workdir=workdir,
                               log_name=f"server{server_id}.log", wait=False, env=env,
                               zookeeper_main=servers.ZOOKEEPER_QUORUM_MAIN,
                               command_prefix=self.launch_prefix(server_id))
        server.address = self.address(server_id)
        self.servers[server_id] = server
        return server

    def start_all(self):
        for server_id in range(1, self.size + 1):
            self.start(server_id)

    def kill(self, server_id):
        server = self.servers.get(server_id)
        if server:
            server.kill()
        self.servers[server_id] = None

    def stop(self, server_id):
        server = self.servers.get(server_id)
        if server:
            server.stop()
        self.servers[server_id] = None

    def stop_all(self):
        for server_id in list(self.servers):
            self.stop(server_id)

    def log(self, server_id):
        server = self.servers.get(server_id)
        path = os.path.join(self.workdir(server_id), f"server{server_id}.log")
        if server:
            return server.log_text()
        try:
            with open(path, errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def logs(self):
        return "\n".join(f"--- server {i} ---\n{self.log(i)[-3000:]}"
                         for i in range(1, self.size + 1))

    # -- state -----------------------------------------------------------------
    def srvr(self, server_id):
        try:
            return servers.four_letter_word(self.address(server_id), "srvr", timeout_s=1.0)
        except OSError:
            return ""

    def mode(self, server_id):
        """'leader', 'follower', 'observer', 'standalone', or None (not serving)."""
        for line in self.srvr(server_id).splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):].strip()
        return None

    def modes(self, ids=None):
        return {i: self.mode(i) for i in (ids or range(1, self.size + 1))}

    def wait_for(self, predicate, what, timeout_s=WAIT_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for server_id, server in self.servers.items():
                if server and server.process.poll() is not None:
                    raise AssertionError(f"server {server_id} exited with "
                                         f"{server.process.returncode}\n{self.logs()}")
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: modes {self.modes()}\n"
                             f"{self.logs()}")

    def wait_for_leader(self, ids=None, timeout_s=WAIT_TIMEOUT_S):
        """Waits until every server in `ids` serves and exactly one leads;
        returns the leader's id."""
        ids = ids or [i for i, s in self.servers.items() if s]

        def settled():
            modes = self.modes(ids)
            leaders = [i for i, m in modes.items() if m == "leader"]
            if len(leaders) == 1 and all(m in ("leader", "follower", "observer")
                                         for m in modes.values()):
                return leaders[0]
            return None
        return self.wait_for(settled, f"one leader among {ids}", timeout_s)


@contextlib.contextmanager
def running(kind, size, base_port, **kwargs):
    group = Ensemble(kind, size, base_port, **kwargs)
    try:
        yield group
    finally:
        group.stop_all()
        shutil.rmtree(group.root, ignore_errors=True)
