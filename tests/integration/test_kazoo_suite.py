"""kazoo's own test suite against Cheetah, compared with Apache ZooKeeper 3.8.

How it works
------------
Debian's python3-kazoo ships kazoo's test suite (kazoo/tests, 479 tests). Its
harness normally launches a 3-server Java ensemble itself. Here the suite is
run, unmodified and from the installed package, twice, each time in its own
`/usr/bin/python3 -m pytest --pyargs kazoo.tests -p kazoo_suite.plugin`
process against one server started fresh by servers.py:

  1. standalone Apache ZooKeeper 3.8 on 127.0.0.1:22400-22409 (the reference),
  2. standalone Cheetah (build/dataplane/cheetah-server) on 127.0.0.1:22410-22419
     (the first port of the range that is free, TIME_WAIT included),

both with the zoo.cfg keys kazoo's harness uses (maxClientCnxns=0,
reconfigEnabled=true, the "super:test" superDigest).

kazoo_suite/plugin.py replaces kazoo.testing.harness.get_global_cluster with
a one-server cluster object for the external server. Everything else in the
harness is kazoo's own: clients, chroots, and expire_session/lose_connection,
which break the client's connection from the client side and need only the
wire protocol. The plugin skips the 4 test functions (9 tests counting the
gevent and eventlet copies) that stop or restart servers and the SASL tests
(test_sasl.py), identically for both servers; any other attempt to stop the
server fails the test. It bounds each test phase to 60 s and records every
outcome as a JSON line; each whole run is cut at 600 s (ZooKeeper needs about
70 s). kazoo's tests import `mock` and `objgraph`; without Debian's packages
the plugin supplies unittest.mock and a gc-based objgraph.count.

When at most 10 tests pass on ZooKeeper and then fail on Cheetah, those are
run once more against the same Cheetah (kazoo's tests are timing-based); a
test that passes the second time counts as passed and is printed as flaky.
More failures than that are taken as they are. The assertions:

  * the ZooKeeper run collected the whole suite and passed > 400 tests,
  * both runs skipped exactly the same tests, all for an allowed reason,
  * every test that passed on ZooKeeper passed on Cheetah (the failures are
    listed by name with their error lines).

On this 2-core machine the ZooKeeper run takes about 70 s: 479 collected,
459 passed, 17 skipped (9 server restart, 6 SASL, test_build's Travis-only
check), 3 failed. The 3 are TestReconfig: standalone ZooKeeper answers
reconfig with UNIMPLEMENTED, so they are not compared (servers.py starts
ZooKeeperServerMain, not a one-member quorum).

Run one side by hand, from tests/integration:
    /usr/bin/python3 -m kazoo_suite.runner cheetah      (or zookeeper)
"""

import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:   # also under --import-mode=importlib
    sys.path.insert(0, HERE)

from kazoo_suite import runner  # noqa: E402

ZOOKEEPER_PORTS = range(22400, 22410)   # the first one free is used
CHEETAH_PORTS = range(22410, 22420)
COLLECTED_MIN = 450       # kazoo 2.8.0 has 479
ZOOKEEPER_PASSED_MIN = 400

# kazoo-suite's own skips carry this prefix; the others are kazoo's own skips
# that do not depend on the server.
OWN_SKIP_PREFIX = "kazoo-suite: "
ALLOWED_KAZOO_SKIPS = {
    "gevent not available.",
    "eventlet handler not available.",
    "PureSASL not available.",
    "Only run build config tests on Travis.",   # test_build: needs $TRAVIS
}


@pytest.fixture(scope="module")
def workdir():
    return tempfile.mkdtemp(prefix="kazoo-suite-")


@pytest.fixture(scope="module")
def zookeeper_run(workdir):
    run, _ = runner.run_suite("zookeeper", runner.free_port(ZOOKEEPER_PORTS), workdir)
    print(run.summary())
    print("failing on ZooKeeper too (not compared):\n  "
          + "\n  ".join(run.with_status("failed")))
    return run


@pytest.fixture(scope="module")
def cheetah_run(workdir, zookeeper_run):
    run, flaky = runner.run_suite("cheetah", runner.free_port(CHEETAH_PORTS), workdir,
                                  retry_failures_of=zookeeper_run)
    print(run.summary())
    if flaky:
        print("passed only on the second try on Cheetah:\n  " + "\n  ".join(flaky))
    for nodeid in sorted(set(run.with_status("failed")) & set(zookeeper_run.with_status("failed"))):
        zookeeper_error = zookeeper_run.outcomes[nodeid].error_summary()
        cheetah_error = run.outcomes[nodeid].error_summary()
        if zookeeper_error != cheetah_error:   # informational: not compared
            print(f"fails on both, differently: {nodeid}\n  ZooKeeper: {zookeeper_error}"
                  f"\n  Cheetah:   {cheetah_error}")
    return run


def test_zookeeper_run_is_substantial(zookeeper_run):
    run = zookeeper_run
    assert not run.collect_errors, "kazoo suite failed to import:\n" + "\n".join(
        f"{nodeid}: {message}" for nodeid, message in run.collect_errors)
    assert not run.deadline_hit, run.summary()
    assert run.collected >= COLLECTED_MIN, run.summary()
    assert len(run.with_status("passed")) > ZOOKEEPER_PASSED_MIN, run.summary()


def _disallowed_skips(run):
    return {nodeid: run.outcomes[nodeid].message for nodeid in run.with_status("skipped")
            if not run.outcomes[nodeid].message.startswith(OWN_SKIP_PREFIX)
            and run.outcomes[nodeid].message not in ALLOWED_KAZOO_SKIPS}


def test_skips_are_identical_and_allowed(zookeeper_run, cheetah_run):
    for run in (zookeeper_run, cheetah_run):
        bad = _disallowed_skips(run)
        if bad:
            pytest.fail(f"{run.kind} skipped tests for other reasons:\n" + "\n".join(
                f"- {nodeid}: {reason}" for nodeid, reason in sorted(bad.items())),
                pytrace=False)
    # Compared over the tests both runs reached: a test the Cheetah run never
    # got to (deadline) fails the regression test below if it passed on ZooKeeper.
    reached_by_both = set(zookeeper_run.outcomes) & set(cheetah_run.outcomes)
    zookeeper_skips = set(zookeeper_run.with_status("skipped")) & reached_by_both
    cheetah_skips = set(cheetah_run.with_status("skipped")) & reached_by_both
    if zookeeper_skips != cheetah_skips:
        pytest.fail(f"skipped only on ZooKeeper: {sorted(zookeeper_skips - cheetah_skips)}\n"
                    f"skipped only on Cheetah: {sorted(cheetah_skips - zookeeper_skips)}",
                    pytrace=False)


def test_every_zookeeper_pass_passes_on_cheetah(zookeeper_run, cheetah_run):
    assert not cheetah_run.collect_errors, cheetah_run.collect_errors
    lost = runner.regressions(zookeeper_run, cheetah_run)
    if lost:
        pytest.fail(f"{len(lost)} kazoo tests pass on ZooKeeper and not on Cheetah\n"
                    f"{zookeeper_run.summary()}\n{cheetah_run.summary()}\n"
                    + runner.format_regressions(lost), pytrace=False)
