"""How cheetah-server starts: with no file, with a zoo.cfg, with a bad one."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

PORT_UNKNOWN_KEY = 22550
PORT_BUSY = 22551
START_WAIT_S = 10.0


def run_until_exit(arguments, cwd, timeout_s=10):
    return subprocess.run([servers.cheetah_binary(), *arguments], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def wait_serving(address, process):
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if "Mode: standalone" in servers.four_letter_word(address, "srvr", timeout_s=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing served on {address}")


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def test_no_file_serves_loopback_2181_with_data_in_dot_data():
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen([servers.cheetah_binary()], cwd=workdir,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True)
        try:
            wait_serving("127.0.0.1:2181", process)
            assert os.path.isdir(os.path.join(workdir, "data"))
            # ZooKeeper's default whitelist (srvr only) applies without a file.
            assert "not in the whitelist" in servers.four_letter_word("127.0.0.1:2181", "conf")
        finally:
            stop(process)
        assert process.returncode == 0


def test_bad_value_stops_startup_naming_the_key():
    with tempfile.TemporaryDirectory() as workdir:
        with open(os.path.join(workdir, "zoo.cfg"), "w") as config:
            config.write(f"dataDir={workdir}/data\nclientPort=22552\ntickTime=abc\n")
        result = run_until_exit(["zoo.cfg"], workdir)
        assert result.returncode != 0
        assert "tickTime" in result.stderr and "abc" in result.stderr


def test_missing_file_is_reported():
    with tempfile.TemporaryDirectory() as workdir:
        result = run_until_exit(["no-such.cfg"], workdir)
        assert result.returncode != 0
        assert "no-such.cfg" in result.stderr


def test_unknown_key_is_logged_and_the_server_starts():
    with servers.cheetah(PORT_UNKNOWN_KEY, {"someFutureKey": "1"}) as server:
        assert "someFutureKey" in server.log_text()


def test_busy_port_stops_startup_with_a_clear_message():
    with servers.cheetah(PORT_BUSY) as server:
        with tempfile.TemporaryDirectory() as workdir:
            with open(os.path.join(workdir, "zoo.cfg"), "w") as config:
                config.write(f"dataDir={workdir}/data\nclientPort={PORT_BUSY}\n"
                             "clientPortAddress=127.0.0.1\n")
            result = run_until_exit(["zoo.cfg"], workdir)
        assert result.returncode != 0
        assert "Address already in use" in result.stderr
        # The first server still answers alone.
        assert "Mode: standalone" in servers.four_letter_word(server.address, "srvr")


PORT_RESTART = 22553


def test_restart_right_after_sigkill_serves_again():
    """After a crash the kernel releases the io_uring's listening socket a
    little after the process is gone; a restart waits for it (bounded)
    instead of failing with "Address already in use"."""
    import jute_client as jc
    crashed = servers.start("cheetah", PORT_RESTART)
    client = jc.JuteClient(crashed.address)
    client.connect()
    crashed.kill()
    client.close()
    try:
        with servers.cheetah(PORT_RESTART) as restarted:
            assert "Mode: standalone" in servers.four_letter_word(restarted.address, "srvr")
    finally:
        shutil.rmtree(crashed.workdir, ignore_errors=True)
