"""The server built with AddressSanitizer and UndefinedBehaviorSanitizer
(build-asan, which scripts/test.sh builds) runs a chosen set of the
integration tests: every test must pass, and the sanitizers must report
nothing (no use after free, overflow, undefined behaviour or leak at exit).

The unit tests run under the sanitizers already; this covers the threads
and paths only a whole server has (the core, the log writer, the snapshot
thread, recovery, shutdown with transactions still pending).

    CHEETAH_ASAN_SERVER=build-asan/dataplane/cheetah-server \\
        /usr/bin/python3 -m pytest tests/integration/test_sanitized_server.py
"""

import os
import subprocess
import sys
import tempfile

import pytest

import servers

HERE = os.path.dirname(os.path.abspath(__file__))
# Each file's tests run once more, against the sanitized server. Chosen for
# the code they drive: durability (log, snapshots, recovery, faults, exit
# paths), startup and config, bad input, the watch/read guarantees,
# ensembles, and the DPDK transport with its own TCP/IP (bad frames too).
SANITIZED_TEST_FILES = [
    "test_durability_config.py",
    "test_durability_faults.py",
    "test_durability_interchange.py",
    "test_durability_crash.py",
    "test_startup.py",
    "test_bad_input.py",
    "test_guarantees.py",
    "test_ensemble.py",
    "test_ensemble_partition.py",
    "test_reconfig.py",
    "test_dpdk.py",
    "test_dpdk_bad_input.py",
]
RUN_TIMEOUT_S = 900


def asan_server():
    path = os.environ.get("CHEETAH_ASAN_SERVER") or os.path.join(
        servers.REPO_ROOT, "build-asan", "dataplane", "cheetah-server")
    if not os.path.exists(path):
        raise RuntimeError(
            f"the sanitized server is not at {path}: build it (scripts/test.sh builds "
            "build-asan) or set CHEETAH_ASAN_SERVER")
    return path


@pytest.mark.parametrize("test_file", SANITIZED_TEST_FILES)
def test_sanitized_server_passes_and_reports_nothing(test_file):
    report_dir = tempfile.mkdtemp(prefix="cheetah-sanitizer-")
    try:
        environment = dict(
            os.environ,
            CHEETAH_SERVER=asan_server(),
            # Reports go to files (the server's stderr is its log, which
            # tests read); one file per process that reported.
            ASAN_OPTIONS=f"log_path={report_dir}/asan:detect_leaks=1:abort_on_error=0",
            UBSAN_OPTIONS=f"log_path={report_dir}/ubsan:print_stacktrace=1",
        )
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                   os.path.join(HERE, test_file)]
        run = subprocess.run(command, env=environment, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
        reports = sorted(os.listdir(report_dir))
        texts = []
        for name in reports:
            with open(os.path.join(report_dir, name), errors="replace") as report:
                texts.append(f"--- {name}\n" + report.read()[:6000])
        assert run.returncode == 0, (
            f"{test_file} failed against the sanitized server:\n"
            + run.stdout[-6000:] + run.stderr[-2000:])
        assert not reports, "sanitizer reports:\n" + "\n".join(texts)
    finally:
        for name in os.listdir(report_dir):
            os.unlink(os.path.join(report_dir, name))
        os.rmdir(report_dir)
