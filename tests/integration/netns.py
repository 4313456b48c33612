"""Network namespaces for partition tests: every server in a namespace of its
own, and the links between servers cut and healed on demand.

    with netns.network(3) as net, netns.namespace_ensemble("zookeeper", net) as group:
        group.start_all(); leader = group.wait_for_leader()
        net.partition([leader])      # the leader alone on one side
        ...
        net.heal()

Layout (all names carry a tag made from our PID, so concurrent runs do not
collide; interface names stay under IFNAMSIZ, 15 characters):

    namespace chp<tag>b          two bridges, "peers" and "clients", plus a
                                 third, "island", for the cut-off side
    namespace chp<tag>s<N>       server N: lo up, "peer"   10.231.<k>.<N>/24
                                              "client" 10.231.<k+1>.<N>/24
    root namespace               chp<tag>r     10.231.<k+1>.254/24 (the test's
                                 kazoo clients and four-letter words)

Why two networks: a partition cuts the servers from each other (quorum and
election traffic on 10.231.<k>.0/24), not the test from the servers, so the
test can still ask the cut-off server `srvr` and try a write through it, as a
client on the minority side would. Why the bridges live in a namespace of
their own: the root namespace only gains one veth and its connected /24
route, both gone at the end. A partition moves the cut-off members' bridge
ports from "peers" to "island": they still reach each other, not the rest.

Every process in a namespace is stopped by its PID before the namespace is
deleted; every namespace, veth and bridge is removed at the end, also when
the test fails.
"""

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time

import ensemble

IP_TIMEOUT_S = 10.0
NAME_PREFIX = "chp"
SUBNET_FIRST_OCTET = "10.231"
# k is even, the client subnet is k + 1; tried in order from a PID-derived start.
SUBNET_PAIRS_MAX = 120
ROOT_HOST_OCTET = 254
CLIENT_PORT = 2181
QUORUM_PORT = 2888
ELECTION_PORT = 3888
NAMESPACE_MEMBERS_MAX = 9      # "s<N>" suffix and "p<N>"/"c<N>" port names stay short
LEFTOVER_KILL_TIMEOUT_S = 5.0

_instance_counter = itertools.count()


def ip(*args, check=True):
    """Runs `ip ARGS`; raises with ip's own error text when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr.strip()}")
    return done


def available():
    """(True, '') when this process may make network namespaces, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2's ip is not installed"
    return True, ""


def _subnets_in_use():
    """Third octets of 10.231.x.0/24 routes in the root namespace."""
    text = ip("-4", "route", "show").stdout
    used = set()
    for line in text.splitlines():
        destination = line.split(" ", 1)[0]
        if destination.startswith(SUBNET_FIRST_OCTET + "."):
            used.add(int(destination.split(".")[2]))
    return used


def _pick_subnet_pair():
    used = _subnets_in_use()
    start = os.getpid() % SUBNET_PAIRS_MAX
    for step in range(SUBNET_PAIRS_MAX):
        peer_octet = 2 * ((start + step) % SUBNET_PAIRS_MAX)
        if peer_octet not in used and peer_octet + 1 not in used:
            return peer_octet
    raise RuntimeError(f"every {SUBNET_FIRST_OCTET}.k.0/24 pair is in use")


class Network:
    """N server namespaces joined by bridges in a namespace of their own."""

    def __init__(self, size):
        assert 1 <= size <= NAMESPACE_MEMBERS_MAX, size
        self.size = size
        self.tag = f"{os.getpid() % 100000:05d}{next(_instance_counter) % 10}"
        self.bridge_namespace = f"{NAME_PREFIX}{self.tag}b"
        self.root_interface = f"{NAME_PREFIX}{self.tag}r"
        assert len(self.root_interface) <= 15
        self.peer_octet = _pick_subnet_pair()
        self.isolated = frozenset()
        self._made_namespaces = []
        self._made_root_interface = False

    # -- names and addresses ----------------------------------------------------
    def namespace(self, member):
        return f"{NAME_PREFIX}{self.tag}s{member}"

    def peer_ip(self, member):
        return f"{SUBNET_FIRST_OCTET}.{self.peer_octet}.{member}"

    def client_ip(self, member):
        return f"{SUBNET_FIRST_OCTET}.{self.peer_octet + 1}.{member}"

    def members(self):
        return range(1, self.size + 1)

    # -- making and removing -----------------------------------------------------
    def _add_namespace(self, name):
        existing = ip("netns", "list").stdout.split()
        if name in existing:
            raise RuntimeError(f"network namespace {name} already exists (a leftover?)")
        ip("netns", "add", name)
        self._made_namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def _add_bridge(self, name):
        bridge = self.bridge_namespace
        ip("-n", bridge, "link", "add", name, "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        ip("-n", bridge, "link", "set", name, "up")

    def _add_member_link(self, member, bridge_port, inside_name, bridge, address):
        """A veth from the bridge namespace (port `bridge_port` of `bridge`)
        into member's namespace (named `inside_name`, with `address`/24)."""
        inside_ns = self.namespace(member)
        ip("-n", self.bridge_namespace, "link", "add", bridge_port, "type", "veth",
           "peer", "name", inside_name, "netns", inside_ns)
        ip("-n", self.bridge_namespace, "link", "set", bridge_port, "master", bridge)
        ip("-n", self.bridge_namespace, "link", "set", bridge_port, "up")
        ip("-n", inside_ns, "addr", "add", f"{address}/24", "dev", inside_name)
        ip("-n", inside_ns, "link", "set", inside_name, "up")

    def create(self):
        self._add_namespace(self.bridge_namespace)
        for bridge in ("peers", "clients", "island"):
            self._add_bridge(bridge)
        for member in self.members():
            self._add_namespace(self.namespace(member))
            self._add_member_link(member, f"p{member}", "peer", "peers", self.peer_ip(member))
            self._add_member_link(member, f"c{member}", "client", "clients",
                                  self.client_ip(member))
        ip("link", "add", self.root_interface, "type", "veth", "peer", "name", "root",
           "netns", self.bridge_namespace)
        self._made_root_interface = True
        ip("-n", self.bridge_namespace, "link", "set", "root", "master", "clients")
        ip("-n", self.bridge_namespace, "link", "set", "root", "up")
        root_address = f"{SUBNET_FIRST_OCTET}.{self.peer_octet + 1}.{ROOT_HOST_OCTET}/24"
        ip("addr", "add", root_address, "dev", self.root_interface)
        ip("link", "set", self.root_interface, "up")

    def _kill_leftovers(self, name):
        """Processes still in one of our namespaces were started by this test
        (a server the test did not stop): SIGKILL them one by one by PID."""
        pids = [int(pid) for pid in ip("netns", "pids", name, check=False).stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + LEFTOVER_KILL_TIMEOUT_S
        while pids and time.monotonic() < deadline:
            if not ip("netns", "pids", name, check=False).stdout.split():
                break
            time.sleep(0.05)
        return pids

    def destroy(self):
        """Removes everything create() made; deleting a namespace deletes its
        veth ends, and with them their peers. Returns the PIDs that had to be
        killed (a test bug when not empty)."""
        leftovers = []
        for name in reversed(self._made_namespaces):
            leftovers += self._kill_leftovers(name)
            ip("netns", "del", name, check=False)
        self._made_namespaces = []
        if self._made_root_interface:
            # Normally gone with the bridge namespace; removed here otherwise.
            if ip("link", "show", self.root_interface, check=False).returncode == 0:
                ip("link", "del", self.root_interface, check=False)
            self._made_root_interface = False
        return leftovers

    # -- partitions --------------------------------------------------------------
    def partition(self, isolated):
        """Cuts the members in `isolated` from the others on the peer network
        (they still reach each other, and the test still reaches everyone)."""
        isolated = frozenset(isolated)
        assert isolated <= set(self.members()), isolated
        assert not self.isolated, "heal() before the next partition"
        for member in sorted(isolated):
            ip("-n", self.bridge_namespace, "link", "set", f"p{member}", "master", "island")
        self.isolated = isolated

    def heal(self):
        for member in sorted(self.isolated):
            ip("-n", self.bridge_namespace, "link", "set", f"p{member}", "master", "peers")
        self.isolated = frozenset()

    def bridge_of(self, member):
        """The bridge member's peer port is on now ('peers' or 'island')."""
        text = ip("-n", self.bridge_namespace, "-o", "link", "show", f"p{member}").stdout
        words = text.split()
        return words[words.index("master") + 1]


@contextlib.contextmanager
def network(size):
    net = Network(size)
    try:
        net.create()
        yield net
    finally:
        leftovers = net.destroy()
        assert not leftovers, f"processes left in the namespaces were killed: {leftovers}"


class NamespaceEnsemble(ensemble.Ensemble):
    """ensemble.Ensemble with server N in namespace N of `net`: quorum and
    election on its peer address, clients on its client address, ports
    2181/2888/3888 (each namespace has its own ports)."""

    def __init__(self, kind, net, extra_config=None):
        super().__init__(kind, net.size, CLIENT_PORT - 10, extra_config=extra_config)
        self.net = net

    def client_port(self, server_id):
        return CLIENT_PORT

    def address(self, server_id):
        return f"{self.net.client_ip(server_id)}:{CLIENT_PORT}"

    def server_line(self, server_id):
        return f"{self.net.peer_ip(server_id)}:{QUORUM_PORT}:{ELECTION_PORT}"

    def config(self, server_id):
        lines = super().config(server_id)
        lines["clientPortAddress"] = self.net.client_ip(server_id)
        return lines

    def launch_prefix(self, server_id):
        # `ip netns exec` execs the server, so the PID we hold is the server's.
        return ("ip", "netns", "exec", self.net.namespace(server_id))


@contextlib.contextmanager
def namespace_ensemble(kind, net, **kwargs):
    group = NamespaceEnsemble(kind, net, **kwargs)
    try:
        yield group
    finally:
        group.stop_all()
        shutil.rmtree(group.root, ignore_errors=True)
