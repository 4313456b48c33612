"""pytest plugin: run kazoo's own test suite against one external server.

Loaded into a pytest process that collects the installed, unmodified kazoo
suite (`python3 -m pytest --pyargs kazoo.tests -p kazoo_suite.plugin`). It:

* points kazoo's test harness at the server named by $KAZOO_SUITE_SERVER
  ("127.0.0.1:port") instead of the 3-server Java ensemble kazoo would launch
  itself, by replacing kazoo.testing.harness.get_global_cluster;
* skips, with a reason starting "kazoo-suite:", the few tests that stop or
  restart servers (a single external server cannot do that) and the SASL
  tests. ExternalServer.stop()/run() fail loudly, so a test that restarts
  servers and is missing from the list shows up as a failure, not a hang;
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
import signal
import sys
import types
import unittest.mock

import pytest

SERVER_ENV = "KAZOO_SUITE_SERVER"
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


_install_missing_test_modules()
_ADDRESS = os.environ.get(SERVER_ENV)
if not _ADDRESS:
    raise RuntimeError(f"kazoo_suite.plugin needs ${SERVER_ENV}=host:port")
_CLUSTER = ExternalCluster(_ADDRESS)

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
    reason = SERVER_RESTART_TESTS.get(f"{module}.{qualname}")
    if reason:
        return "server restart: " + reason
    return None


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
