"""Run Debian's unmodified kazoo test suite against one server or a 3-server ensemble.

plugin.py is the pytest plugin loaded into the kazoo suite's own pytest process;
runner.py starts that process and reads what the plugin records.
test_kazoo_suite.py (standalone) and test_kazoo_ensemble.py (ensembles), one
level up, drive both.
"""
