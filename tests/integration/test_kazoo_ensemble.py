"""kazoo's own test suite against a 3-server Cheetah ensemble, compared with a
3-server Apache ZooKeeper 3.8 ensemble (issue 5).

How it works
------------
As test_kazoo_suite.py (read its docstring), but each run gets a fresh
3-server ensemble with every member in the connection string, the way
kazoo's own harness runs the suite:

  1. Apache ZooKeeper 3.8 (QuorumPeerMain), clients on 127.0.0.1:23610/20/30,
  2. Cheetah ($CHEETAH_SERVER, else build/dataplane/cheetah-server), clients
     on 127.0.0.1:23650/60/70

(ensemble.py's layout: member N on base_port + 10*N, its quorum and election
ports on the next two). The ensemble is started by kazoo_suite.plugin inside
the suite's own pytest process, from the spec runner.run_ensemble_suite
passes, so that kazoo's tests can stop and start single members
(`self.cluster[i].stop()/run()`); after such a test the plugin starts any
member still stopped and waits for one leader before the next test. Every
member gets the zoo.cfg keys of the standalone comparison (maxClientCnxns=0,
reconfigEnabled=true, the "super:test" superDigest) and, as kazoo's own
harness gives its ensemble, read-only mode (ZooKeeper: the JVM flag
-Dreadonlymode.enabled=true through JAVA_TOOL_OPTIONS, with
-Dfile.encoding=UTF-8; Cheetah: readonlymode.enabled=true in zoo.cfg).

Only the SASL tests are skipped (identically for both). The tests that
restart members run: test_update_host_list and the two
test_request_queuing_* tests (x3: threading, gevent, eventlet), and
TestReadOnlyMode.test_read_only, which stops 2 of 3 members.

Known outcomes (observed on this machine)
-----------------------------------------
ZooKeeper: 479 collected, 471 passed, 7 skipped (6 SASL, test_build's
Travis-only check), 1 failed, in about 115 s. The failure is
TestReadOnlyMode.test_read_only: kazoo 2.8 expects its session to be carried
over to the partitioned member's read-only server, and ZooKeeper 3.8's
ReadOnlyZooKeeperServer refuses that ("Refusing global session reconnection
in RO mode"), so the client never reaches CONNECTED_RO within the test's 6 s.
Cheetah fails the same assertion for another reason: its partitioned member
does not serve at all (no read-only mode yet; srvr has no Mode line), where
ZooKeeper's answers "Mode: read-only". It fails on both and is not compared.
The Cheetah ensemble: 471 passed, the same 7 skipped, 1 failed (the same
test_read_only) in about 90 s; the whole file takes about 200 s.

TestReconfig (3 tests: no super auth -> NoAuthError, an observer added on
ports nothing listens on and removed again, a from_config in the future ->
BadVersionError, a malformed joiner -> BadArgumentsError) runs on both
ensembles (reconfigEnabled=true with a quorum) and is compared like every
other test. Until dynamic reconfiguration existed it was a known difference
(Cheetah answered UNIMPLEMENTED); test_reconfig_passes_on_both keeps it
from quietly becoming one again.

The assertions:
  * the ZooKeeper run collected the whole suite, passed > 400 tests and
    really ran the member-restart tests (and they passed there),
  * both runs skipped exactly the same tests, all for an allowed reason,
    and none for a server restart,
  * every test that passed on ZooKeeper passed on Cheetah, except the listed
    known differences (printed every run),
  * the known differences ended as recorded.

Run one side by hand, from tests/integration:
    /usr/bin/python3 -m kazoo_suite.runner cheetah-ensemble   (or zookeeper-ensemble)
"""

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:   # also under --import-mode=importlib
    sys.path.insert(0, HERE)

from kazoo_suite import runner  # noqa: E402

COLLECTED_MIN = 450       # kazoo 2.8.0 has 479
ZOOKEEPER_PASSED_MIN = 400

OWN_SKIP_PREFIX = "kazoo-suite: "
# In ensemble mode the plugin skips only SASL.
OWN_SKIPS_ALLOWED = {"kazoo-suite: SASL tests are not compared "
                     "(SASL is out of scope for both servers)"}
ALLOWED_KAZOO_SKIPS = {
    "gevent not available.",
    "eventlet handler not available.",
    "PureSASL not available.",
    "Only run build config tests on Travis.",   # test_build: needs $TRAVIS
}

# The tests that stop and start members, by the function name kazoo gives
# them in every handler's copy of the class.
MEMBER_RESTART_TEST_NAMES = (
    "test_update_host_list",
    "test_request_queuing_session_recovered",
    "test_request_queuing_session_expired",
)
READ_ONLY_TEST = "test_connection.py::TestReadOnlyMode::test_read_only"

RECONFIG_TESTS = (
    "test_client.py::TestReconfig::test_add_remove_observer",
    "test_client.py::TestReconfig::test_bad_input",
    "test_client.py::TestReconfig::test_no_super_auth",
)
# Tests that pass on ZooKeeper and are known not to on Cheetah, with why.
KNOWN_DIFFERENCES = {}


@pytest.fixture(scope="module")
def workdir():
    return tempfile.mkdtemp(prefix="kazoo-ensemble-")


@pytest.fixture(scope="module")
def zookeeper_run(workdir):
    run, _ = runner.run_ensemble_suite("zookeeper", workdir)
    print(run.summary())
    print("failing on ZooKeeper too (not compared):\n  "
          + "\n  ".join(run.with_status("failed")))
    return run


@pytest.fixture(scope="module")
def cheetah_run(workdir, zookeeper_run):
    run, flaky = runner.run_ensemble_suite("cheetah", workdir,
                                           retry_failures_of=zookeeper_run)
    print(run.summary())
    if flaky:
        print("passed only on the second try on Cheetah:\n  " + "\n  ".join(flaky))
    for nodeid, reason in sorted(KNOWN_DIFFERENCES.items()):
        outcome = run.outcomes.get(nodeid)
        status = outcome.status if outcome else "not reached"
        print(f"known difference: {nodeid}: {status} on Cheetah ({reason})")
    for nodeid in sorted(set(run.with_status("failed")) & set(zookeeper_run.with_status("failed"))):
        zookeeper_error = zookeeper_run.outcomes[nodeid].comparable_error()
        cheetah_error = run.outcomes[nodeid].comparable_error()
        if zookeeper_error != cheetah_error:   # informational: not compared
            print(f"fails on both, differently: {nodeid}\n  ZooKeeper: {zookeeper_error}"
                  f"\n  Cheetah:   {cheetah_error}")
    return run


def _member_restart_tests(run):
    return sorted(nodeid for nodeid in run.outcomes
                  if nodeid.rsplit("::", 1)[-1] in MEMBER_RESTART_TEST_NAMES)


def test_zookeeper_run_is_substantial(zookeeper_run):
    run = zookeeper_run
    assert not run.collect_errors, "kazoo suite failed to import or the ensemble to start:\n" + (
        "\n".join(f"{nodeid}: {message}" for nodeid, message in run.collect_errors))
    assert not run.deadline_hit, run.summary()
    assert run.collected >= COLLECTED_MIN, run.summary()
    assert len(run.with_status("passed")) > ZOOKEEPER_PASSED_MIN, run.summary()


def test_member_restart_tests_ran(zookeeper_run, cheetah_run):
    """The ensemble is what lets these run at all: standalone they are skipped."""
    restarts = _member_restart_tests(zookeeper_run)
    # threading, plus gevent and eventlet copies when those handlers are there
    assert len(restarts) >= len(MEMBER_RESTART_TEST_NAMES), restarts
    statuses = {n: zookeeper_run.outcomes[n].status for n in restarts}
    # Each needs a restarted JVM to serve again within kazoo's 5 s, which a
    # loaded machine can miss now and then: one pass per test name is enough
    # to show that stopping and starting members works (a miss on ZooKeeper
    # only leaves that copy out of the comparison).
    for name in MEMBER_RESTART_TEST_NAMES:
        assert any(status == "passed" for nodeid, status in statuses.items()
                   if nodeid.endswith("::" + name)), (
            f"{name} passed in no handler's copy on ZooKeeper: {statuses}")
    for run in (zookeeper_run, cheetah_run):
        outcome = run.outcomes.get(READ_ONLY_TEST)
        assert outcome is not None and outcome.status in ("passed", "failed"), (
            f"{run.kind}: {READ_ONLY_TEST} did not run: {outcome}")
    skipped = [n for n in _member_restart_tests(cheetah_run)
               if cheetah_run.outcomes[n].status == "skipped"]
    assert not skipped, skipped


def _disallowed_skips(run):
    return {nodeid: run.outcomes[nodeid].message for nodeid in run.with_status("skipped")
            if run.outcomes[nodeid].message not in OWN_SKIPS_ALLOWED
            and run.outcomes[nodeid].message not in ALLOWED_KAZOO_SKIPS}


def test_skips_are_identical_and_allowed(zookeeper_run, cheetah_run):
    for run in (zookeeper_run, cheetah_run):
        bad = _disallowed_skips(run)
        if bad:
            pytest.fail(f"{run.kind} skipped tests for other reasons:\n" + "\n".join(
                f"- {nodeid}: {reason}" for nodeid, reason in sorted(bad.items())),
                pytrace=False)
    reached_by_both = set(zookeeper_run.outcomes) & set(cheetah_run.outcomes)
    zookeeper_skips = set(zookeeper_run.with_status("skipped")) & reached_by_both
    cheetah_skips = set(cheetah_run.with_status("skipped")) & reached_by_both
    if zookeeper_skips != cheetah_skips:
        pytest.fail(f"skipped only on ZooKeeper: {sorted(zookeeper_skips - cheetah_skips)}\n"
                    f"skipped only on Cheetah: {sorted(cheetah_skips - zookeeper_skips)}",
                    pytrace=False)


def test_every_zookeeper_pass_passes_on_cheetah(zookeeper_run, cheetah_run):
    assert not cheetah_run.collect_errors, (
        "kazoo suite failed to import or the Cheetah ensemble to start:\n" + "\n".join(
            f"{nodeid}: {message}" for nodeid, message in cheetah_run.collect_errors))
    lost = {nodeid: outcome
            for nodeid, outcome in runner.regressions(zookeeper_run, cheetah_run).items()
            if nodeid not in KNOWN_DIFFERENCES}
    if lost:
        pytest.fail(f"{len(lost)} kazoo tests pass on a ZooKeeper ensemble and not on a "
                    f"Cheetah ensemble\n{zookeeper_run.summary()}\n{cheetah_run.summary()}\n"
                    + runner.format_regressions(lost), pytrace=False)


def test_reconfig_passes_on_both(zookeeper_run, cheetah_run):
    """Dynamic reconfiguration: kazoo's TestReconfig passes on the ZooKeeper
    ensemble (so reconfigEnabled and the superDigest reached it) and on the
    Cheetah ensemble."""
    for run in (zookeeper_run, cheetah_run):
        for nodeid in RECONFIG_TESTS:
            outcome = run.outcomes.get(nodeid)
            assert outcome is not None and outcome.status == "passed", (
                f"{run.kind} ensemble: {nodeid}: "
                f"{outcome.error_summary() if outcome else 'not reached'}")
