"""Run Debian's unmodified kazoo test suite against an externally started server.

plugin.py is the pytest plugin loaded into the kazoo suite's own pytest process;
results.py reads what it records. test_kazoo_suite.py (one level up) drives both.
"""
