"""pytest plugin: run kazoo's own test suite against external servers.

Loaded into a pytest process that collects the installed, unmodified kazoo
suite (`python3 -m pytest --pyargs kazoo.tests -p kazoo_suite.plugin`). It
works in one of two modes:

standalone ($KAZOO_SUITE_SERVER="127.0.0.1:port"): one server started by the
  caller. It
* points kazoo's test harness at that server instead of the 3-server Java
  ensemble kazoo would launch itself, by replacing
  kazoo.testing.harness.get_global_cluster;
* skips, with a reason starting "kazoo-suite:", the few tests that stop or
  restart servers (a single external server cannot do that) and the SASL
  tests. ExternalServer.stop()/run() fail loudly, so a test that restarts
  servers and is missing from the list shows up as a failure, not a hang;

ensemble ($KAZOO_SUITE_ENSEMBLE, a JSON object: kind, size, base_port,
  config, env, logs_dir): this process starts the ensemble itself with
  tests/integration/ensemble.py (so kazoo's tests can stop and start single
  members, as they do against kazoo's own harness, and every member dies
  with this process group if the caller kills it), waits for a leader, and
  gives the harness a cluster whose connection string lists every member.
  cluster[i].stop()/run() stop and start member i+1 by its PID (run() does
  not wait, like kazoo's ManagedZooKeeper.run). After a test that stopped or
  started a member, teardown starts any member still stopped and waits until
  all serve under one leader, so the next test begins with the whole
  ensemble. Only the SASL tests are skipped. The members' logs are copied to
  logs_dir when the run ends (a restarted member's earlier log is kept as
  server<N>-run<K>.log). Events (started, leader, member stop/start) are
  recorded as "ensemble" JSON lines;

in both modes it also
* bounds every setup/call/teardown phase by $KAZOO_SUITE_TEST_TIMEOUT_S with
  SIGALRM, so one hung test cannot stall the run (pytest-timeout is not a
  dependency);
* appends one JSON line per test phase to $KAZOO_SUITE_RESULTS as it goes, so
  even a run killed from outside leaves the outcomes reached so far;
* supplies the test-only modules kazoo's tests import when Debian's packages
  for them are absent: `mock` is the standard library's unittest.mock, and
  `objgraph.count` (used by one cache leak test) counts gc-tracked objects by
  type name, which is what objgraph's own count does.
"""

import gc
import json
import os
import shutil
import signal
import sys
import types
import unittest.mock

import pytest

SERVER_ENV = "KAZOO_SUITE_SERVER"
ENSEMBLE_ENV = "KAZOO_SUITE_ENSEMBLE"
RESULTS_ENV = "KAZOO_SUITE_RESULTS"
TIMEOUT_ENV = "KAZOO_SUITE_TEST_TIMEOUT_S"
TEST_TIMEOUT_DEFAULT_S = 120
MESSAGE_CHARS_MAX = 3000

SKIP_PREFIX = "kazoo-suite: "

# Tests that stop, restart or need more than one server, by the module and
# qualified name of the test function (inherited copies in the gevent and
# eventlet modules carry the defining class's name, so they match too).
SERVER_RESTART_TESTS = {
    "kazoo.tests.test_client.TestClient.test_update_host_list":
        "stops cluster[0] of a 3-server ensemble and restarts it",
    "kazoo.tests.test_client.TestClient.test_request_queuing_session_recovered":
        "stops and restarts the server with its data kept",
    "kazoo.tests.test_client.TestClient.test_request_queuing_session_expired":
        "stops and restarts the server with its data kept",
    "kazoo.tests.test_connection.TestReadOnlyMode.test_read_only":
        "stops 2 of 3 servers to force read-only mode",
}
SASL_MODULES = {"kazoo.tests.test_sasl"}


class ServerRestartNotSupported(Exception):
    """A test tried to stop or start the single external server."""


class KazooSuiteTimeout(Exception):
    """A test phase ran longer than the per-test limit."""


def _install_missing_test_modules():
    try:
        import mock  # noqa: F401
    except ImportError:
        sys.modules["mock"] = unittest.mock
    try:
        import objgraph  # noqa: F401
    except ImportError:
        shim = types.ModuleType("objgraph")

        def count(typename, objects=None):
            if objects is None:
                objects = gc.get_objects()
            return sum(1 for obj in objects if type(obj).__name__ == typename)

        shim.count = count
        sys.modules["objgraph"] = shim


class ExternalServer:
    """What kazoo's tests use of a ManagedZooKeeper, for a server run elsewhere."""

    def __init__(self, address):
        self.address = address
        self.host, port = address.rsplit(":", 1)
        self.client_port = int(port)
        self.running = True

    def _refuse(self, *_args, **_kwargs):
        raise ServerRestartNotSupported(
            f"kazoo-suite: this test stops or starts the server {self.address}; "
            "add it to SERVER_RESTART_TESTS in tests/integration/kazoo_suite/plugin.py")

    run = stop = reset = destroy = _refuse


class ExternalCluster:
    """What kazoo's tests use of a ZookeeperCluster: one external server."""

    def __init__(self, address):
        self._servers = [ExternalServer(address)]

    def __getitem__(self, index):
        return self._servers[index]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self):
        return len(self._servers)

    def start(self):
        # setup_zookeeper() calls this only if a server is not running.
        self._servers[0]._refuse()

    stop = terminate = reset = start


class EnsembleMember:
    """What kazoo's tests use of a ManagedZooKeeper, for one ensemble member.

    stop() stops the member by its PID (SIGTERM, then SIGKILL after
    ensemble.py's bound) keeping its data; run() starts it again on the same
    data and returns without waiting, as kazoo's ManagedZooKeeper.run does
    (kazoo's tests wait for the client to reconnect themselves)."""

    def __init__(self, cluster, server_id):
        self._cluster = cluster
        self.server_id = server_id
        self.address = cluster.group.address(server_id)
        self.host = "127.0.0.1"
        self.client_port = cluster.group.client_port(server_id)
        self.starts = 0

    @property
    def running(self):
        return self._cluster.group.servers.get(self.server_id) is not None

    def run(self):
        if self.running:
            return
        self._cluster.start_member(self.server_id)

    def stop(self):
        if not self.running:
            return
        self._cluster.stop_member(self.server_id)

    def _refuse(self, *_args, **_kwargs):
        raise ServerRestartNotSupported(
            f"kazoo-suite: this test wipes the data of ensemble member {self.address}; "
            "not supported by tests/integration/kazoo_suite/plugin.py")

    reset = destroy = _refuse


class EnsembleCluster:
    """What kazoo's tests use of a ZookeeperCluster: an ensemble.Ensemble of
    `size` members started by this process, listed in member order."""

    def __init__(self, spec):
        import ensemble   # tests/integration, on PYTHONPATH (set by runner.py)
        self.spec = spec
        self.env = dict(spec.get("env") or {})
        self.group = ensemble.Ensemble(spec["kind"], int(spec["size"]),
                                       int(spec["base_port"]),
                                       extra_config=dict(spec.get("config") or {}))
        self._members = [EnsembleMember(self, i) for i in range(1, self.group.size + 1)]
        self.membership_changed = False

    def __getitem__(self, index):
        return self._members[index]

    def __iter__(self):
        return iter(self._members)

    def __len__(self):
        return len(self._members)

    def _log_path(self, server_id):
        return os.path.join(self.group.workdir(server_id), f"server{server_id}.log")

    def start_member(self, server_id):
        member = self._members[server_id - 1]
        log_path = self._log_path(server_id)
        if member.starts and os.path.exists(log_path):
            # ensemble.py rewrites server<N>.log on every start: keep the earlier run's.
            os.replace(log_path, os.path.join(self.group.workdir(server_id),
                                              f"server{server_id}-run{member.starts}.log"))
        self.group.start(server_id, env=self.env)
        member.starts += 1
        self.membership_changed = True
        _record({"event": "ensemble", "what": "start", "server": server_id})

    def stop_member(self, server_id):
        self.group.stop(server_id)
        self.membership_changed = True
        _record({"event": "ensemble", "what": "stop", "server": server_id})

    def start(self):
        """Starts the members not running and waits until all serve under one
        leader (setup_zookeeper() calls this when a member is not running)."""
        for member in self._members:
            if not member.running:
                self.start_member(member.server_id)
        self.wait_whole()

    def wait_whole(self):
        leader = self.group.wait_for_leader(list(range(1, self.group.size + 1)))
        self.membership_changed = False
        _record({"event": "ensemble", "what": "leader", "server": leader,
                 "modes": {str(k): v for k, v in self.group.modes().items()}})
        return leader

    def restore(self):
        """After a test that stopped or started members: the whole ensemble again."""
        if self.membership_changed or not all(m.running for m in self._members):
            self.start()

    def shutdown(self):
        self.group.stop_all()
        logs_dir = self.spec.get("logs_dir")
        for server_id in range(1, self.group.size + 1):
            workdir = self.group.workdir(server_id)
            if not logs_dir or not os.path.isdir(workdir):
                continue
            for name in sorted(os.listdir(workdir)):
                if name.startswith("server") and name.endswith(".log"):
                    shutil.copyfile(os.path.join(workdir, name),
                                    os.path.join(logs_dir, f"{self.spec['label']}-{name}"))
        shutil.rmtree(self.group.root, ignore_errors=True)

    def terminate(self, *_args, **_kwargs):
        raise ServerRestartNotSupported(
            "kazoo-suite: stopping or wiping the whole ensemble is not supported")

    stop = reset = terminate


_install_missing_test_modules()
_ADDRESS = os.environ.get(SERVER_ENV)
_ENSEMBLE_SPEC = os.environ.get(ENSEMBLE_ENV)
if bool(_ADDRESS) == bool(_ENSEMBLE_SPEC):
    raise RuntimeError(f"kazoo_suite.plugin needs either ${SERVER_ENV}=host:port "
                       f"or ${ENSEMBLE_ENV}=<json>")
if _ADDRESS:
    _CLUSTER = ExternalCluster(_ADDRESS)
else:
    _CLUSTER = EnsembleCluster(json.loads(_ENSEMBLE_SPEC))
_ENSEMBLE_MODE = isinstance(_CLUSTER, EnsembleCluster)

import kazoo.testing.harness as _harness  # noqa: E402

_harness.get_global_cluster = lambda: _CLUSTER
_results_file = None


def _record(entry):
    global _results_file
    if _results_file is None:
        _results_file = open(os.environ[RESULTS_ENV], "a", encoding="utf-8")
    _results_file.write(json.dumps(entry) + "\n")
    _results_file.flush()


def _skip_reason(item):
    function = getattr(item, "obj", None)
    module = getattr(function, "__module__", "") or ""
    qualname = getattr(function, "__qualname__", "") or ""
    if module in SASL_MODULES:
        return "SASL tests are not compared (SASL is out of scope for both servers)"
    reason = None if _ENSEMBLE_MODE else SERVER_RESTART_TESTS.get(f"{module}.{qualname}")
    if reason:
        return "server restart: " + reason
    return None


def pytest_configure(config):
    if not _ENSEMBLE_MODE:
        return
    try:
        for member in _CLUSTER:
            _CLUSTER.start_member(member.server_id)
        _CLUSTER.wait_whole()
    except BaseException as error:
        text = f"{type(error).__name__}: {error}"
        if len(text) > MESSAGE_CHARS_MAX:   # the first line says what, the tail has the logs
            first, _, rest = text.partition("\n")
            text = first[:MESSAGE_CHARS_MAX // 4] + "\n...\n" + rest[-MESSAGE_CHARS_MAX // 2:]
        _record({"event": "collect_error", "nodeid": "<ensemble start>", "message": text})
        _CLUSTER.shutdown()
        raise pytest.UsageError(f"kazoo-suite: the ensemble did not start: {error}")
    config.pluginmanager.register(_EnsembleRestorer(), "kazoo_suite_ensemble_restorer")


class _EnsembleRestorer:
    """A second teardown hook (a module cannot hold two functions of one name)."""

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item, nextitem):
        # After the test's own tearDown (trylast), inside the bounded phase:
        # a failure to get the whole ensemble back is a teardown error of the
        # test that stopped a member.
        _CLUSTER.restore()


def pytest_unconfigure(config):
    if _ENSEMBLE_MODE:
        _CLUSTER.shutdown()


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        reason = _skip_reason(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=SKIP_PREFIX + reason))
    _record({"event": "collected", "count": len(items)})


def pytest_collectreport(report):
    if report.failed:
        _record({"event": "collect_error", "nodeid": report.nodeid,
                 "message": report.longreprtext[-MESSAGE_CHARS_MAX:]})


def _test_timeout_s():
    return float(os.environ.get(TIMEOUT_ENV) or TEST_TIMEOUT_DEFAULT_S)


def _on_alarm(_signum, _frame):
    raise KazooSuiteTimeout(f"kazoo-suite: test phase exceeded {_test_timeout_s()} s")


def _bounded_phase():
    """Run one test phase under a SIGALRM deadline (generator for hookwrappers)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _test_timeout_s())
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _record({"event": "start", "nodeid": item.nodeid})
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _bounded_phase()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _bounded_phase()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield from _bounded_phase()



def _message(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    if report.failed:
        return report.longreprtext[-MESSAGE_CHARS_MAX:]
    return ""


def pytest_runtest_logreport(report):
    _record({"event": "phase", "nodeid": report.nodeid, "when": report.when,
             "outcome": report.outcome, "duration_s": round(report.duration, 3),
             "message": _message(report)})
