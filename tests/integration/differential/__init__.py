"""Differential tests: the same scripted request sequences against Apache
ZooKeeper 3.8 and Cheetah, compared after normalisation.

- runner.py: runs one scenario against one server and returns its normalised
  transcript (zxids -> ranks, times -> the zxid that wrote them, session ids ->
  order of appearance; events and replies in arrival order per session).
- scenarios.py: the scenarios (SCENARIOS), each under its own /dNNN prefix.
- dump.py: prints transcripts, e.g.
  `cd tests/integration && /usr/bin/python3 -m differential.dump watch_`.

Run: `cd tests/integration && /usr/bin/python3 -m pytest -q test_differential.py`
(CHEETAH_SERVER=path to test another binary; CHEETAH_DIFF_SELF_CHECK=1 compares
ZooKeeper with ZooKeeper; CHEETAH_DIFF_ONLY=substring selects scenarios).
"""
