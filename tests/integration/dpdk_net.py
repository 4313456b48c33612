"""A Cheetah on the DPDK transport, in a network namespace of its own, reached
over DPDK's tap PMD (net_tap).

    with dpdk_net.dpdk_server(shards=2) as server:
        server.address                   # "10.78.<k>.2:2181": Cheetah's own TCP/IP
        with dpdk_net.inside(server.namespace):
            client = KazooClient(hosts=server.address)   # sockets made here are in it
        subprocess.run([*server.command_prefix, "zkCli.sh", "-server", server.address, ...])
        server.four_letter_word("mntr")
    server.exit_code                     # 0 after a clean SIGTERM stop

Layout (names carry a tag made from our PID so concurrent runs do not
collide; interface names stay under IFNAMSIZ, 15 characters):

    namespace chd<tag>     lo up; cheetah-server runs here (`ip netns exec`),
                           so the tap its EAL makes (net_tap0,iface=chd<tag>t)
                           appears here and nowhere else
    tap chd<tag>t          the kernel's side: 10.78.<k>.1/24, up
    Cheetah's netstack     10.78.<k>.2 on the same tap (DPDK's side)

Why a namespace: every server a test starts listens on loopback or inside a
namespace the test made; the tap and its /24 route vanish with it. The tap
exists only while the server runs (DPDK makes it at start, removes it at
exit). Every process is stopped by its PID before the namespace is deleted,
also when the test fails.

Clients: `inside(namespace)` switches the calling thread's network namespace
(setns); sockets and threads made inside stay in it after the switch back
(a thread inherits its creator's namespace, a socket keeps the one it was
made in), which is how kazoo's connection thread reaches the tap. Other
programs run with `server.command_prefix` (ip netns exec <namespace>).
"""

import contextlib
import ctypes
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import servers
from netns import ip  # noqa: F401 (callers use dpdk_net.ip too)

IP_TIMEOUT_S = 10.0
NAME_PREFIX = "chd"
SUBNET_PREFIX = "10.78"
SUBNETS = 256                       # 10.78.<k>.0/24, k picked from our PID
KERNEL_HOST_OCTET = 1               # the tap's kernel side
SERVER_HOST_OCTET = 2               # cheetah.dpdk.ipv4_address
CLIENT_PORT = 2181
TAP_APPEAR_TIMEOUT_S = 30.0         # EAL start (the tap appears when the port is made)
READY_TIMEOUT_S = 30.0              # srvr answers over DPDK
STOP_TIMEOUT_S = 15.0
LEFTOVER_KILL_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05
# EAL for a tap on a machine without hugepages or PCI devices: 256 MB of
# ordinary memory, main lcore 0 (shard threads are not pinned: Cheetah
# gives the main thread its CPUs back after EAL).
EAL_MEMORY_MB = 256
CLONE_NEWNET = 0x40000000

_instance_counter = itertools.count()
_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """(True, '') when this process may run DPDK over a tap, else (False, why)."""
    if os.geteuid() != 0:
        return False, "DPDK's tap and network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2's ip is not installed"
    if not os.path.exists("/dev/net/tun"):
        return False, "/dev/net/tun is missing (no tun/tap in this kernel)"
    return True, ""


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def inside(namespace):
    """The calling thread is in `namespace` (a name `ip netns` knows) until
    the block ends; then back where it was."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(original)


def four_letter_word(namespace, address, word, timeout_s=5.0):
    """A four-letter word sent from inside `namespace`; the whole reply."""
    with inside(namespace):
        return servers.four_letter_word(address, word, timeout_s=timeout_s)


def mntr_values(text):
    """mntr's "zk_<key>\\t<value>" lines as {key: int or str}."""
    values = {}
    for line in text.splitlines():
        if "\t" not in line:
            continue
        key, value = line.split("\t", 1)
        try:
            values[key] = int(value)
        except ValueError:
            values[key] = value
    return values


class DpdkServer:
    """Cheetah with cheetah.dataplane=dpdk in namespace chd<tag>."""

    def __init__(self, shards=1, mtu=None, extra_config=None):
        self.shards = shards
        self.mtu = mtu
        self.extra_config = dict(extra_config or {})
        self.tag = f"{os.getpid() % 100000:05d}{next(_instance_counter) % 100:02d}"
        self.namespace = f"{NAME_PREFIX}{self.tag}"
        self.tap = f"{NAME_PREFIX}{self.tag}t"
        assert len(self.tap) <= 15, self.tap
        octet = (os.getpid() + int(self.tag[-2:])) % SUBNETS
        self.kernel_ip = f"{SUBNET_PREFIX}.{octet}.{KERNEL_HOST_OCTET}"
        self.server_ip = f"{SUBNET_PREFIX}.{octet}.{SERVER_HOST_OCTET}"
        self.address = f"{self.server_ip}:{CLIENT_PORT}"
        self.command_prefix = ["ip", "netns", "exec", self.namespace]
        self.server = None
        self.exit_code = None
        self._made_namespace = False

    # -- config ------------------------------------------------------------------
    def eal_args(self):
        return (f"--no-huge --no-pci -m {EAL_MEMORY_MB} "
                f"--vdev=net_tap0,iface={self.tap} -l 0")

    def config(self):
        config = {
            "cheetah.dataplane": "dpdk",
            "cheetah.shards": str(self.shards),
            "cheetah.dpdk.eal_args": self.eal_args(),
            "cheetah.dpdk.ipv4_address": self.server_ip,
            "cheetah.dpdk.netmask": "255.255.255.0",
        }
        if self.mtu is not None:
            config["cheetah.dpdk.mtu"] = str(self.mtu)
        config.update(self.extra_config)
        return config

    # -- life --------------------------------------------------------------------
    def create_namespace(self):
        if self.namespace in ip("netns", "list").stdout.split():
            raise RuntimeError(f"network namespace {self.namespace} already exists (a leftover?)")
        ip("netns", "add", self.namespace)
        self._made_namespace = True
        ip("-n", self.namespace, "link", "set", "lo", "up")

    def start(self, wait=True):
        """Starts the server in the namespace; with wait, also gives the tap's
        kernel side its address and waits until srvr answers over DPDK."""
        self.server = servers.start("cheetah", CLIENT_PORT, self.config(), wait=False,
                                    command_prefix=self.command_prefix)
        if wait:
            self.wait_tap()
            self.configure_tap()
            self.wait_ready()
        return self

    def _check_running(self, what):
        if self.server.process.poll() is not None:
            raise RuntimeError(f"cheetah-server exited with {self.server.process.returncode} "
                               f"{what}:\n" + self.server.log_text()[-4000:])

    def wait_tap(self):
        deadline = time.monotonic() + TAP_APPEAR_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_running(f"before its tap {self.tap} appeared")
            if ip("-n", self.namespace, "link", "show", self.tap, check=False).returncode == 0:
                return
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(f"tap {self.tap} did not appear in {TAP_APPEAR_TIMEOUT_S}s:\n"
                           + self.server.log_text()[-4000:])

    def configure_tap(self):
        ip("-n", self.namespace, "addr", "add", f"{self.kernel_ip}/24", "dev", self.tap)
        ip("-n", self.namespace, "link", "set", self.tap, "up")

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        last_error = None
        while time.monotonic() < deadline:
            self._check_running("before it answered srvr over DPDK")
            try:
                if "Mode:" in self.four_letter_word("srvr", timeout_s=1.0):
                    return
            except OSError as error:
                last_error = error
            time.sleep(0.1)
        raise RuntimeError(f"cheetah over DPDK on {self.address} not ready in "
                           f"{READY_TIMEOUT_S}s ({last_error}):\n"
                           + self.server.log_text()[-4000:])

    def four_letter_word(self, word, timeout_s=5.0):
        return four_letter_word(self.namespace, self.address, word, timeout_s)

    def mntr(self):
        return mntr_values(self.four_letter_word("mntr"))

    def log_text(self):
        return self.server.log_text() if self.server else ""

    def tap_link(self):
        """`ip -d link show` of the tap (its MTU, MAC, ...)."""
        return ip("-n", self.namespace, "-d", "link", "show", self.tap).stdout

    def neighbour_mac(self, address=None):
        """The MAC the kernel's ARP table holds for `address` (the server's), or None."""
        text = ip("-n", self.namespace, "neigh", "show", address or self.server_ip).stdout
        match = re.search(r"lladdr ([0-9a-f:]{17})", text)
        return match.group(1) if match else None

    def stop(self):
        """SIGTERM by PID, then wait; records exit_code (SIGKILL after
        STOP_TIMEOUT_S: exit_code is then negative)."""
        if self.server is None:
            return
        process = self.server.process
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
        self.exit_code = process.returncode

    def _kill_leftovers(self):
        pids = [int(pid) for pid in
                ip("netns", "pids", self.namespace, check=False).stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + LEFTOVER_KILL_TIMEOUT_S
        while pids and time.monotonic() < deadline:
            if not ip("netns", "pids", self.namespace, check=False).stdout.split():
                break
            time.sleep(POLL_INTERVAL_S)
        return pids

    def destroy(self):
        """Stops the server, kills anything left in the namespace (returned:
        a test bug when not empty), deletes the namespace and the work dir."""
        leftovers = []
        try:
            self.stop()
        finally:
            if self._made_namespace:
                leftovers = self._kill_leftovers()
                ip("netns", "del", self.namespace, check=False)
                self._made_namespace = False
            if self.server is not None:
                shutil.rmtree(self.server.workdir, ignore_errors=True)
        return leftovers


@contextlib.contextmanager
def dpdk_server(shards=1, mtu=None, extra_config=None, wait=True):
    """A started DpdkServer (wait=False: only started; the caller waits)."""
    server = DpdkServer(shards, mtu, extra_config)
    try:
        server.create_namespace()
        server.start(wait=wait)
        yield server
    finally:
        leftovers = server.destroy()
        assert not leftovers, f"processes left in {server.namespace} were killed: {leftovers}"


def run_failing_server(extra_config, timeout_s=READY_TIMEOUT_S):
    """Runs a Cheetah that is expected to refuse to start, in a namespace of
    its own; returns (exit code, log text)."""
    namespace = f"{NAME_PREFIX}{os.getpid() % 100000:05d}{next(_instance_counter) % 100:02d}"
    workdir = tempfile.mkdtemp(prefix="cheetah-dpdk-")
    ip("netns", "add", namespace)
    try:
        server = servers.start("cheetah", CLIENT_PORT, extra_config, wait=False,
                               workdir=workdir,
                               command_prefix=["ip", "netns", "exec", namespace])
        try:
            code = server.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        return code, server.log_text()
    finally:
        pids = ip("netns", "pids", namespace, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        ip("netns", "del", namespace, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def connect_tcp(namespace, address, timeout_s=5.0):
    """A plain TCP socket to `address` made inside `namespace`."""
    host, port = address.rsplit(":", 1)
    with inside(namespace):
        return socket.create_connection((host, int(port)), timeout=timeout_s)


# ---- impairment: a userspace netem between the kernel and the DPDK tap -------
#
# This kernel has no netem (no qdisc modules), so impair_relay.py does its
# work: the DPDK tap loses its address and ARP (it becomes a bare wire), and
# the relay makes a second tap, chd<tag>k, that carries the kernel's address.
#
#     kernel TCP -- chd<tag>k 10.78.<k>.1 -- impair_relay.py -- chd<tag>t -- DPDK
#                   (relay's tap)             loss/delay/dup/     (AF_PACKET,
#                                             reorder             no address)
IMPAIR_RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "impair_relay.py")
RELAY_READY_TIMEOUT_S = 10.0


class ImpairedDpdkServer(DpdkServer):
    """A DpdkServer whose clients reach it through impair_relay.py."""

    def __init__(self, impairment, shards=1, mtu=None, extra_config=None, seed=1):
        super().__init__(shards, mtu, extra_config)
        self.impairment = dict(impairment)
        self.seed = seed
        self.relay_tap = f"{NAME_PREFIX}{self.tag}k"
        assert len(self.relay_tap) <= 15, self.relay_tap
        self.relay = None
        self.relay_stats_path = None

    def configure_tap(self):
        # The DPDK tap: up, no address, no ARP answers from the kernel, no
        # IPv6 chatter; only the relay's frames cross it.
        ip("-n", self.namespace, "link", "set", self.tap, "up", "arp", "off")
        subprocess.run([*self.command_prefix, "sysctl", "-q", "-w",
                        f"net.ipv6.conf.{self.tap}.disable_ipv6=1"],
                       capture_output=True, timeout=IP_TIMEOUT_S)
        workdir = self.server.workdir
        ready_path = os.path.join(workdir, "relay.ready")
        self.relay_stats_path = os.path.join(workdir, "relay-stats.json")
        arguments = [f"--{key.replace('_', '-')}={value}"
                     for key, value in sorted(self.impairment.items())]
        log = open(os.path.join(workdir, "relay.log"), "w")
        self.relay = subprocess.Popen(
            [*self.command_prefix, "/usr/bin/python3", IMPAIR_RELAY, "--tap", self.relay_tap,
             "--interface", self.tap, f"--seed={self.seed}", "--stats", self.relay_stats_path,
             "--ready", ready_path, *arguments],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + RELAY_READY_TIMEOUT_S
        while not os.path.exists(ready_path):
            if self.relay.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("impair_relay.py did not start:\n"
                                   + open(os.path.join(workdir, "relay.log")).read()[-2000:])
            time.sleep(POLL_INTERVAL_S)
        ip("-n", self.namespace, "addr", "add", f"{self.kernel_ip}/24", "dev", self.relay_tap)
        ip("-n", self.namespace, "link", "set", self.relay_tap, "up")

    def stop_relay(self):
        """Stops the relay by its PID; returns its counters ({} if none)."""
        if self.relay is None:
            return {}
        if self.relay.poll() is None:
            self.relay.send_signal(signal.SIGTERM)
            try:
                self.relay.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait(timeout=STOP_TIMEOUT_S)
        self.relay = None
        try:
            with open(self.relay_stats_path) as stats:
                return json.load(stats)
        except (OSError, ValueError):
            return {}

    def destroy(self):
        try:
            self.stop_relay()
        finally:
            leftovers = super().destroy()
        return leftovers


@contextlib.contextmanager
def impaired_dpdk_server(impairment, shards=1, mtu=None, extra_config=None, seed=1):
    """A started DpdkServer reached through impair_relay.py with `impairment`
    (impair_relay's options as keys: loss, delay_ms, jitter_ms, duplicate,
    reorder)."""
    server = ImpairedDpdkServer(impairment, shards, mtu, extra_config, seed)
    try:
        server.create_namespace()
        server.start(wait=True)
        yield server
    finally:
        leftovers = server.destroy()
        assert not leftovers, f"processes left in {server.namespace} were killed: {leftovers}"
