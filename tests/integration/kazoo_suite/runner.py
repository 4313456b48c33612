"""Run kazoo's installed test suite against freshly started servers.

    run_suite("zookeeper", 22400, workdir) -> SuiteRun          (one server)
    run_ensemble_suite("zookeeper", workdir) -> SuiteRun        (3-server ensemble)
    /usr/bin/python3 -m kazoo_suite.runner cheetah [port]       (from tests/integration)
    /usr/bin/python3 -m kazoo_suite.runner cheetah-ensemble [base_port]

The suite runs in its own pytest process with kazoo_suite.plugin loaded; the
plugin appends JSON lines (one per test phase) to a results file that this
module folds into one outcome per test. A standalone server is started here;
an ensemble is started by the plugin inside the suite's process (so kazoo's
tests can stop and start its members), from the spec this module passes.
"""

import collections
import dataclasses
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

INTEGRATION_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if INTEGRATION_DIR not in sys.path:
    sys.path.insert(0, INTEGRATION_DIR)

import servers  # noqa: E402

PYTHON = "/usr/bin/python3"
# One whole suite run (ZooKeeper needs ~70 s); $KAZOO_SUITE_DEADLINE_S overrides
# it, e.g. to list every failure of a server that fails many tests slowly.
RUN_DEADLINE_S = int(os.environ.get("KAZOO_SUITE_DEADLINE_S") or 600)
TEST_TIMEOUT_S = 60           # one setup/call/teardown phase; the slowest is ~10 s
ERROR_LINES_MAX = 8
# A second try is for the odd timing flake: more failures than this are real.
RETRY_TESTS_MAX = 10

# What kazoo's own harness gives ZooKeeper >= 3.5 (testing/harness.py and
# common.py), as zoo.cfg keys both servers read. ZooKeeper turns an unknown
# key K into the system property zookeeper.K, which is how kazoo's harness
# passes the superuser digest ("super:test").
SERVER_CONFIG = {
    "maxClientCnxns": "0",
    "reconfigEnabled": "true",
    "DigestAuthenticationProvider.superDigest": "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
}
# kazoo's harness forces UTF-8 so digest credentials decode the same everywhere.
ZOOKEEPER_JVM_FLAGS = ("-Dfile.encoding=UTF-8",)

# Ensemble mode. Member N of an ensemble on base_port serves clients on
# base_port + 10*N (ensemble.py's layout): 23610/20/30 and 23650/60/70.
ENSEMBLE_SIZE = 3
ENSEMBLE_BASE_PORTS = {"zookeeper": 23600, "cheetah": 23640}
# kazoo's own harness runs its ensemble with read-only mode on (the JVM flag
# -Dreadonlymode.enabled=true), which TestReadOnlyMode needs. ensemble.py
# takes no JVM flags, so ZooKeeper's members get theirs through
# JAVA_TOOL_OPTIONS, which every JVM reads; Cheetah reads the same setting
# from zoo.cfg (the key has no effect on ZooKeeper).
ENSEMBLE_ZOOKEEPER_ENV = {
    "JAVA_TOOL_OPTIONS": " ".join(ZOOKEEPER_JVM_FLAGS + ("-Dreadonlymode.enabled=true",)),
}
ENSEMBLE_CHEETAH_CONFIG = {"readonlymode.enabled": "true"}
ENSEMBLE_PORT_FREE_WAIT_S = 20.0

# Environment that would change what kazoo's tests do (TRAVIS_ZK_VERSION
# replaces asking the server for its version).
SCRUBBED_ENV = ("TRAVIS", "ZOOKEEPER_VERSION", "ZOOKEEPER_PATH", "ZOOKEEPER_CLASSPATH",
                "ZOOKEEPER_PORT_OFFSET", "ZOOKEEPER_CLUSTER_SIZE",
                "ZOOKEEPER_OBSERVER_START_ID", "ZOOKEEPER_JAAS_AUTH", "PYTEST_ADDOPTS")


@dataclasses.dataclass
class Outcome:
    status: str        # passed | failed | skipped | unfinished
    when: str          # phase that decided the status
    message: str       # skip reason, or the tail of the failure report

    def error_summary(self):
        """The `E ...` lines of a failure (what pytest shows as the error)."""
        lines = [line for line in self.message.splitlines() if line.startswith("E ")]
        if not lines:
            lines = [line for line in self.message.splitlines() if line.strip()][-3:]
        return "\n".join(lines[:ERROR_LINES_MAX])

    def comparable_error(self):
        """error_summary() without what differs from run to run (object
        addresses such as `<threading.Event at 0x7f...>`)."""
        return re.sub(r"\b0x[0-9a-f]{6,}\b", "0x...", self.error_summary())


@dataclasses.dataclass
class SuiteRun:
    kind: str
    outcomes: dict                   # nodeid -> Outcome
    collected: int
    collect_errors: list             # (nodeid, message)
    elapsed_s: float
    deadline_hit: bool
    returncode: int
    log_path: str

    def with_status(self, status):
        return sorted(n for n, o in self.outcomes.items() if o.status == status)

    def counts(self):
        return collections.Counter(o.status for o in self.outcomes.values())

    def summary(self):
        counts = self.counts()
        text = (f"{self.kind}: {self.collected} collected, {counts['passed']} passed, "
                f"{counts['failed']} failed, {counts['skipped']} skipped, "
                f"{counts['unfinished']} unfinished, "
                f"{self.collected - len(self.outcomes)} not reached, "
                f"{len(self.collect_errors)} collection errors in {self.elapsed_s:.0f} s")
        if self.deadline_hit:
            text += f" (stopped at the {RUN_DEADLINE_S} s deadline)"
        return text + f"; log {self.log_path}"


def free_port(ports):
    """First port of `ports` that a listener can bind without SO_REUSEADDR.

    A server that closed connections on a port leaves them in TIME_WAIT for
    a minute; a server that does not set SO_REUSEADDR cannot listen there
    until then, so back-to-back runs move to the next port of the range.
    """
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {ports}")


def kazoo_tests_dir():
    spec = importlib.util.find_spec("kazoo.tests")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kazoo.tests not found: install Debian's python3-kazoo")
    return list(spec.submodule_search_locations)[0]


def fold_results(path):
    """Fold the plugin's JSON lines into (collected, outcomes, collect_errors)."""
    collected = 0
    phases = collections.defaultdict(list)
    collect_errors = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as results:
            for line in results:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue   # a line cut short by a killed run
                if entry["event"] == "collected":
                    collected = entry["count"]
                elif entry["event"] == "start":
                    phases[entry["nodeid"]]
                elif entry["event"] == "phase":
                    phases[entry["nodeid"]].append(entry)
                elif entry["event"] == "collect_error":
                    collect_errors.append((entry["nodeid"], entry["message"]))
    outcomes = {nodeid: _fold_phases(reports) for nodeid, reports in phases.items()}
    return collected, outcomes, collect_errors


def _fold_phases(reports):
    for report in reports:
        if report["outcome"] == "failed":
            return Outcome("failed", report["when"], report["message"])
    for report in reports:
        if report["outcome"] == "skipped":
            return Outcome("skipped", report["when"], report["message"])
    whens = {report["when"] for report in reports}
    if {"call", "teardown"} <= whens:
        return Outcome("passed", "call", "")
    return Outcome("unfinished", max(whens, default="start"),
                   "the run ended (deadline or crash) before this test finished")


def _suite_env(address, results_path, ensemble_spec=None):
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    if ensemble_spec is not None:
        env["KAZOO_SUITE_ENSEMBLE"] = json.dumps(ensemble_spec)
    else:
        env["KAZOO_SUITE_SERVER"] = address
    env.update({
        "KAZOO_SUITE_RESULTS": results_path,
        "KAZOO_SUITE_TEST_TIMEOUT_S": str(TEST_TIMEOUT_S),
        "PYTHONPATH": os.pathsep.join(
            [INTEGRATION_DIR] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_pytest(address, workdir, label, selection=None, ensemble_spec=None, command_prefix=()):
    """Run the kazoo suite (or `selection`, node ids) against `address`, or
    against an ensemble the plugin starts from `ensemble_spec`. command_prefix
    (e.g. `ip netns exec NS`) runs the suite's process inside a namespace."""
    tests_dir = kazoo_tests_dir()
    results_path = os.path.join(workdir, f"{label}.jsonl")
    log_path = os.path.join(workdir, f"{label}.log")
    targets = ([os.path.join(tests_dir, nodeid) for nodeid in selection]
               if selection else ["--pyargs", "kazoo.tests"])
    command = [*command_prefix, PYTHON, "-m", "pytest", "-p", "kazoo_suite.plugin", "-p", "no:cacheprovider",
               "-c", os.devnull, "--rootdir", tests_dir, "-q", "-rfEs", *targets]
    started = time.monotonic()
    deadline_hit = False
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir,
                                   env=_suite_env(address, results_path, ensemble_spec),
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=RUN_DEADLINE_S)
        except subprocess.TimeoutExpired:
            deadline_hit = True
            os.killpg(process.pid, signal.SIGKILL)   # its own session, started above
            returncode = process.wait(timeout=30)
    elapsed_s = time.monotonic() - started
    collected, outcomes, collect_errors = fold_results(results_path)
    return SuiteRun(label, outcomes, collected, collect_errors, elapsed_s, deadline_hit,
                    returncode, log_path)


def run_suite(kind, port, workdir, retry_failures_of=None):
    """Start `kind` fresh on `port`, run the whole suite against it.

    With retry_failures_of (a SuiteRun), tests that passed there and failed
    here are, if there are at most RETRY_TESTS_MAX of them, run once more
    against the same server; the second outcome is kept and the names of
    those that then passed are returned as `flaky`.
    """
    extra = {"extra_jvm_flags": ZOOKEEPER_JVM_FLAGS} if kind == "zookeeper" else {}
    with servers.running(kind, port, dict(SERVER_CONFIG), **extra) as server:
        return run_suite_against(server.address, workdir, kind, retry_failures_of)


def run_suite_against(address, workdir, label, retry_failures_of=None, command_prefix=()):
    """The whole suite against a server someone else started (run_suite's
    retry rule); command_prefix as in run_pytest."""
    flaky = []
    run = run_pytest(address, workdir, label, command_prefix=command_prefix)
    if retry_failures_of is not None:
        retry = [n for n in retry_failures_of.with_status("passed")
                 if n in run.outcomes and run.outcomes[n].status == "failed"]
        if 0 < len(retry) <= RETRY_TESTS_MAX:
            again = run_pytest(address, workdir, label + "-retry", retry,
                               command_prefix=command_prefix)
            for nodeid in retry:
                outcome = again.outcomes.get(nodeid)
                if outcome is not None and outcome.status == "passed":
                    run.outcomes[nodeid] = outcome
                    flaky.append(nodeid)
    return run, flaky


def ensemble_spec(kind, base_port, label, logs_dir):
    """What the plugin needs to start an ensemble (the $KAZOO_SUITE_ENSEMBLE JSON)."""
    config = dict(SERVER_CONFIG)
    env = {}
    if kind == "zookeeper":
        env.update(ENSEMBLE_ZOOKEEPER_ENV)
    else:
        config.update(ENSEMBLE_CHEETAH_CONFIG)
    return {"kind": kind, "size": ENSEMBLE_SIZE, "base_port": base_port,
            "config": config, "env": env, "label": label, "logs_dir": logs_dir}


def ensemble_ports(base_port):
    """Every port an ensemble on base_port listens on (ensemble.py's layout)."""
    return [base_port + 10 * server_id + offset
            for server_id in range(1, ENSEMBLE_SIZE + 1) for offset in (0, 1, 2)]


def _has_listener(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_ensemble_ports_free(base_port):
    """The ensemble's ports are fixed: refuse to start over a leftover listener
    (TIME_WAIT is no obstacle, both servers set SO_REUSEADDR)."""
    deadline = time.monotonic() + ENSEMBLE_PORT_FREE_WAIT_S
    while True:
        busy = [port for port in ensemble_ports(base_port) if _has_listener(port)]
        if not busy:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"ports {busy} of the ensemble on {base_port} are in use")
        time.sleep(0.5)


def run_ensemble_suite(kind, workdir, base_port=None, retry_failures_of=None):
    """Run the whole suite against a fresh 3-server ensemble of `kind`.

    retry_failures_of works as in run_suite, except that the second try gets
    a fresh ensemble on the same ports (the first one ends with its run)."""
    base_port = ENSEMBLE_BASE_PORTS[kind] if base_port is None else base_port
    label = f"{kind}-ensemble"
    wait_ensemble_ports_free(base_port)
    run = run_pytest(None, workdir, label,
                     ensemble_spec=ensemble_spec(kind, base_port, label, workdir))
    flaky = []
    if retry_failures_of is not None:
        retry = [n for n in retry_failures_of.with_status("passed")
                 if n in run.outcomes and run.outcomes[n].status == "failed"]
        if 0 < len(retry) <= RETRY_TESTS_MAX:
            wait_ensemble_ports_free(base_port)
            again = run_pytest(None, workdir, label + "-retry", retry,
                               ensemble_spec=ensemble_spec(kind, base_port, label + "-retry",
                                                           workdir))
            for nodeid in retry:
                outcome = again.outcomes.get(nodeid)
                if outcome is not None and outcome.status == "passed":
                    run.outcomes[nodeid] = outcome
                    flaky.append(nodeid)
    return run, flaky


def regressions(reference, candidate):
    """Tests that passed in `reference` and did not pass in `candidate`."""
    lost = {}
    for nodeid in reference.with_status("passed"):
        outcome = candidate.outcomes.get(nodeid)
        if outcome is None:
            outcome = Outcome("not reached", "", "never started (run ended early?)")
        if outcome.status != "passed":
            lost[nodeid] = outcome
    return lost


def format_regressions(lost):
    parts = []
    for nodeid, outcome in sorted(lost.items()):
        parts.append(f"- {nodeid} [{outcome.status} in {outcome.when or '-'}]\n"
                     + "\n".join("    " + line
                                 for line in outcome.error_summary().splitlines()))
    return "\n".join(parts)


def main(argv):
    kind = argv[1] if len(argv) > 1 else "cheetah"
    workdir = tempfile.mkdtemp(prefix=f"kazoo-suite-{kind}-")
    if kind.endswith("-ensemble"):
        base_port = int(argv[2]) if len(argv) > 2 else None
        run, _ = run_ensemble_suite(kind[:-len("-ensemble")], workdir, base_port)
    else:
        port = int(argv[2]) if len(argv) > 2 else free_port(range(22420, 22430))
        run, _ = run_suite(kind, port, workdir)
    print(run.summary())
    for nodeid, message in run.collect_errors:
        print(f"- collection error {nodeid}:\n    " + message.replace("\n", "\n    "))
    for status in ("failed", "unfinished"):
        for nodeid in run.with_status(status):
            print(f"- {nodeid} [{status} in {run.outcomes[nodeid].when}]")
            for line in run.outcomes[nodeid].error_summary().splitlines():
                print("    " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
