"""tools/cheetah-tcp-rtt: the loopback round trip the benchmarks compare
one-connection latency with must be measured, not made up."""

import json
import os
import subprocess

import servers

TOOL = os.path.join(servers.REPO_ROOT, "build", "tools", "cheetah-tcp-rtt")


def test_measures_round_trips_with_ordered_percentiles():
    assert os.path.exists(TOOL), f"{TOOL} is missing: build it (scripts/test.sh does)"
    done = subprocess.run([TOOL, "--seconds", "1", "--bytes", "32"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bytes"] == 32
    # A loopback round trip takes at least a microsecond and far less than a
    # second, so one second holds many of them.
    assert result["round_trips"] > 100
    assert 0 < result["p50_us"] <= result["p90_us"] <= result["p99_us"] <= result["p999_us"]
    assert result["p999_us"] <= result["max_us"] + 0.1


def test_bad_arguments_are_refused_with_a_message():
    assert os.path.exists(TOOL), f"{TOOL} is missing: build it (scripts/test.sh does)"
    done = subprocess.run([TOOL, "--seconds", "0"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--seconds must be a whole number" in done.stderr
