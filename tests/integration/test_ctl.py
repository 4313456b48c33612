"""tools/cheetah-ctl beside Apache ZooKeeper's zkServer.sh.

The same sequence of commands (start, start again, status, restart, stop,
status when stopped, stale pid files, ...) is run with Debian's zkServer.sh
and real ZooKeeper 3.8, and with cheetah-ctl and Cheetah, each on its own
port and data directory. Each transcript (command, exit status, stdout with
the server's name, pids, paths and port masked) must be the same, and each
step is also checked on its own (pid file, process alive or gone).

status is also compared on a fake server that answers srvr with any Mode
(leader, follower, observer, not serving), so the ensemble code path is
tested before ensembles exist, and with the client port taken from this
server's server.<myid> line.

zkServer.sh is run through a symlink in a temporary bin/ with a libexec/
zkEnv.sh beside it (zkServer.sh prefers that one): it sources Debian's and
points ZOO_LOG_DIR into the temporary directory, so nothing is written to
/var/log. Every wait is bounded; every server is stopped by its pid.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

CTL_PATH = os.path.join(servers.REPO_ROOT, "tools", "cheetah-ctl")
ZKSERVER_PATH = "/usr/share/zookeeper/bin/zkServer.sh"
ZKENV_PATH = "/usr/share/zookeeper/bin/zkEnv.sh"
PORT_BY_KIND = {"zookeeper": 23120, "cheetah": 23121}
PORT_FAKE_SERVER = 23130
PORT_BUSY = 23131
PORT_BAD_CONFIG = 23132
PORT_SERVER_LINE = 23133
QUORUM_PORTS_SERVER_LINE = (23140, 23141)
COMMAND_TIMEOUT_S = 60
# zkServer.sh stop only sleeps 1 s after the TERM; the JVM may take longer.
PROCESS_EXIT_TIMEOUT_S = 15
ERROR_CONTACTING = "Error contacting service. It is probably not running."
FAKE_ACCEPT_POLL_S = 0.2


def process_alive(pid):
    """True while pid runs (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout_s=PROCESS_EXIT_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return False


def dead_pid():
    """A pid that was just used and has exited (for stale pid files)."""
    process = subprocess.Popen(["true"])
    process.wait(timeout=10)
    return process.pid


class Control:
    """One control script (zkServer.sh or cheetah-ctl) with its own config,
    data directory and pid file in a temporary work directory."""

    def __init__(self, kind, port, workdir, config_lines=None):
        self.kind = kind
        self.port = port
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.pid_file = os.path.join(self.data_dir, "zookeeper_server.pid")
        self.pids_seen = set()
        os.makedirs(self.data_dir, exist_ok=True)
        lines = config_lines if config_lines is not None else [
            "tickTime=2000",
            f"dataDir={self.data_dir}",
            f"clientPort={port}",
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
        ]
        self.config_path = os.path.join(workdir, "zoo.cfg")
        with open(self.config_path, "w") as config:
            config.write("\n".join(lines) + "\n")
        self.env = dict(os.environ)
        for name in ("ZOOCFGDIR", "ZOOCFG", "ZOOPIDFILE", "ZOO_LOG_DIR"):
            self.env.pop(name, None)
        if kind == "zookeeper":
            bin_dir = os.path.join(workdir, "bin")
            libexec_dir = os.path.join(workdir, "libexec")
            os.makedirs(bin_dir, exist_ok=True)
            os.makedirs(libexec_dir, exist_ok=True)
            self.script = os.path.join(bin_dir, "zkServer.sh")
            os.symlink(ZKSERVER_PATH, self.script)
            with open(os.path.join(libexec_dir, "zkEnv.sh"), "w") as env_file:
                env_file.write(f". {ZKENV_PATH}\nZOO_LOG_DIR={workdir}/logs\n")
        else:
            self.script = CTL_PATH
            self.env["CHEETAH_BIN"] = servers.cheetah_binary()

    def run(self, *arguments, env=None, config=True):
        command = [self.script, *arguments]
        if config:
            command.append(self.config_path)
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                env=dict(self.env, **(env or {})), cwd=self.workdir)
        self.note_pid()
        return result

    def pid(self):
        try:
            with open(self.pid_file) as pid_file:
                text = pid_file.read().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def note_pid(self):
        pid = self.pid()
        if pid is not None and process_alive(pid):
            self.pids_seen.add(pid)

    def cleanup(self):
        """Stop every server this control started, by its pid."""
        for pid in self.pids_seen:
            if process_alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_gone(pid):
                    os.kill(pid, signal.SIGKILL)
                    wait_gone(pid)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def normalise(self, text):
        """Mask what differs between the two servers by design."""
        text = text.replace(self.workdir, "WORKDIR")
        text = re.sub(r"\b(zookeeper|cheetah)\b", "SERVER", text)
        text = re.sub(r"process \d+", "process PID", text)
        return text.replace(str(self.port), "PORT")


@pytest.fixture
def make_control():
    controls = []

    def make(kind, port=None, config_lines=None, workdir=None):
        workdir = workdir or tempfile.mkdtemp(prefix=f"ctl-{kind}-")
        control = Control(kind, port or PORT_BY_KIND[kind], workdir, config_lines)
        controls.append(control)
        return control

    yield make
    for control in controls:
        control.cleanup()


def lifecycle_transcript(control):
    """The sequence a script user relies on; asserts each step and returns
    the (step, exit status, normalised stdout) list to compare."""
    transcript = []

    def step(name, *arguments):
        result = control.run(*arguments)
        assert "Using config: " + control.config_path in result.stderr, result.stderr
        transcript.append((name, result.returncode, control.normalise(result.stdout)))
        return result

    result = step("status before start", "status")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == ERROR_CONTACTING

    result = step("stop before start", "stop")
    assert result.returncode == 0
    assert f"to stop (could not find file {control.pid_file})" in result.stdout

    result = step("start", "start")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("STARTED")
    first_pid = control.pid()
    assert first_pid is not None and process_alive(first_pid)

    result = step("start again", "start")
    assert result.returncode == 1
    assert result.stdout.rstrip().endswith(f"already running as process {first_pid}.")
    assert control.pid() == first_pid

    status_lines = [
        f"Client port found: {control.port}. Client address: 127.0.0.1. Client SSL: false.",
        "Mode: standalone",
    ]
    result = wait_for_mode(control, step)
    assert result.returncode == 0
    assert result.stdout.splitlines() == status_lines

    result = step("restart running", "restart")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].endswith("STOPPED")
    assert result.stdout.rstrip().endswith("STARTED")
    second_pid = control.pid()
    assert second_pid is not None and second_pid != first_pid
    assert process_alive(second_pid)
    assert wait_gone(first_pid)

    result = wait_for_mode(control, step)
    assert result.stdout.splitlines() == status_lines

    result = step("stop", "stop")
    assert result.returncode == 0
    assert result.stdout.rstrip().endswith("STOPPED")
    assert not os.path.exists(control.pid_file)
    if control.kind == "cheetah":
        # cheetah-ctl returns only once the process has exited.
        assert not process_alive(second_pid)
    assert wait_gone(second_pid)

    result = step("status stopped", "status")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [status_lines[0], ERROR_CONTACTING]

    with open(control.pid_file, "w") as pid_file:
        pid_file.write(str(dead_pid()))
    result = step("start over a stale pid file", "start")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("STARTED")
    third_pid = control.pid()
    assert process_alive(third_pid)
    result = step("stop after stale start", "stop")
    assert result.returncode == 0 and result.stdout.rstrip().endswith("STOPPED")
    assert wait_gone(third_pid)

    with open(control.pid_file, "w") as pid_file:
        pid_file.write(str(dead_pid()))
    result = step("stop with a stale pid file", "stop")
    assert result.returncode == 0 and result.stdout.rstrip().endswith("STOPPED")
    assert not os.path.exists(control.pid_file)

    result = step("restart stopped", "restart")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "to stop (could not find file" in result.stdout
    assert result.stdout.rstrip().endswith("STARTED")
    fourth_pid = control.pid()
    result = wait_for_mode(control, step)
    assert result.stdout.splitlines() == status_lines
    result = step("final stop", "stop")
    assert result.returncode == 0 and result.stdout.rstrip().endswith("STOPPED")
    assert wait_gone(fourth_pid)
    return transcript


def wait_for_mode(control, step):
    """status until it shows a Mode line: zkServer.sh's STARTED only means the
    JVM is alive, it may not serve yet. cheetah-ctl must serve at once."""
    deadline = time.monotonic() + servers.START_TIMEOUT_S
    while True:
        result = control.run("status")
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        assert control.kind == "zookeeper", "cheetah-ctl said STARTED before it served:\n" + \
            result.stdout
        time.sleep(0.2)
    return step("status", "status")


def test_lifecycle_matches_zkserver_sh(make_control):
    transcripts = {kind: lifecycle_transcript(make_control(kind)) for kind in PORT_BY_KIND}
    assert transcripts["cheetah"] == transcripts["zookeeper"]


def test_missing_config_is_a_clear_error(make_control):
    missing = "/nonexistent/dir/zoo.cfg"
    for kind in PORT_BY_KIND:
        control = make_control(kind)
        # zkServer.sh would put its pid file in / when it finds no dataDir.
        env = {"ZOOPIDFILE": os.path.join(control.workdir, "stray.pid")}
        result = control.run("status", missing, env=env, config=False)
        assert result.returncode == 1, (kind, result.stdout, result.stderr)
        assert ERROR_CONTACTING not in result.stdout
        assert f"Using config: {missing}" in result.stderr
    # Started nothing, said why, named the file. (zkServer.sh starts a JVM
    # that dies of it, then says FAILED TO START if that took under 1 s.)
    control = make_control("cheetah")
    for command in ("start", "stop", "restart", "status"):
        result = control.run(command, missing, config=False)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert f"config file not found: {missing}" in result.stderr
        assert "STARTED" not in result.stdout
        assert control.pid() is None


def test_server_that_fails_prints_failed_to_start_and_its_log(make_control):
    control = make_control("cheetah", PORT_BAD_CONFIG, workdir=None)
    with open(control.config_path, "a") as config:
        config.write("maxClientCnxns=abc\n")
    result = control.run("start")
    assert result.returncode == 1
    assert result.stdout.rstrip().endswith("FAILED TO START")
    assert "maxClientCnxns" in result.stderr  # the server's own reason
    assert os.path.join(control.data_dir, "cheetah.out") in result.stderr
    assert not os.path.exists(control.pid_file)


def test_start_refuses_a_port_another_server_answers(make_control):
    with FakeServer(PORT_BUSY, "standalone"):
        control = make_control("cheetah", PORT_BUSY)
        result = control.run("start")
        assert result.returncode == 1
        assert "FAILED TO START" in result.stdout
        assert f"already answers on 127.0.0.1:{PORT_BUSY}" in result.stderr
        assert control.pid() is None


def test_log_dir_and_pid_file_from_the_environment(make_control):
    control = make_control("cheetah", PORT_BY_KIND["cheetah"])
    log_dir = os.path.join(control.workdir, "logs")
    pid_file = os.path.join(control.workdir, "run", "cheetah.pid")
    env = {"ZOO_LOG_DIR": log_dir, "ZOOPIDFILE": pid_file}
    result = control.run("start", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    control.pid_file = pid_file
    pid = control.pid()
    assert pid is not None and process_alive(pid)
    control.pids_seen.add(pid)
    assert "serving ZooKeeper clients" in open(os.path.join(log_dir, "cheetah.out")).read()
    assert not os.path.exists(os.path.join(control.data_dir, "zookeeper_server.pid"))
    result = control.run("stop", env=env)
    assert result.returncode == 0 and "STOPPED" in result.stdout
    assert not os.path.exists(pid_file) and not process_alive(pid)


def test_config_found_through_zoocfgdir_zoocfg_and_config_option(make_control):
    control = make_control("cheetah", PORT_FAKE_SERVER)
    config_dir = control.workdir
    expected = f"Client port found: {PORT_FAKE_SERVER}."
    cases = [
        (["status"], {"ZOOCFGDIR": config_dir}),
        (["status", "zoo.cfg"], {"ZOOCFGDIR": config_dir}),
        (["--config", config_dir, "status"], {}),
        (["status"], {"ZOOCFGDIR": "/nonexistent", "ZOOCFG": control.config_path}),
    ]
    with FakeServer(PORT_FAKE_SERVER, "standalone"):
        for arguments, env in cases:
            result = control.run(*arguments, env=env, config=False)
            assert result.returncode == 0, (arguments, result.stdout, result.stderr)
            assert f"Using config: {control.config_path}" in result.stderr.replace("//", "/")
            assert result.stdout.startswith(expected), (arguments, result.stdout)
    # A bare name is looked up in ZOOCFGDIR, not the current directory.
    result = control.run("status", "zoo.cfg", env={"ZOOCFGDIR": "/nonexistent"}, config=False)
    assert result.returncode == 1
    assert "config file not found: /nonexistent/zoo.cfg" in result.stderr


def test_usage_and_version(make_control):
    control = make_control("cheetah")
    result = control.run("frobnicate", config=False)
    assert result.returncode == 2
    assert "Usage:" in result.stderr and "start|start-foreground|stop" in result.stderr
    result = control.run("version", config=False)
    assert result.returncode == 0
    assert re.fullmatch(r"Cheetah, version \S+ \(ZooKeeper 3\.8\.\d+ compatible\).*\n",
                        result.stdout), result.stdout
    result = control.run("print-cmd")
    assert result.returncode == 0
    assert f'"{servers.cheetah_binary()}" "{control.config_path}"' in result.stdout


def test_start_foreground_is_the_server_itself(make_control):
    control = make_control("cheetah")
    process = subprocess.Popen([CTL_PATH, "start-foreground", control.config_path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=control.env, text=True)
    control.pids_seen.add(process.pid)
    try:
        deadline = time.monotonic() + servers.START_TIMEOUT_S
        while "Mode: standalone" not in fourlw_or_empty(control.port):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "start-foreground never served"
            time.sleep(0.1)
        # exec'd: the pid a supervisor sees is the server's, and its signals reach it.
        assert os.path.realpath(f"/proc/{process.pid}/exe") == \
            os.path.realpath(servers.cheetah_binary())
        assert not os.path.exists(control.pid_file)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PROCESS_EXIT_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=PROCESS_EXIT_TIMEOUT_S)
        process.stdout.close()


def fourlw_or_empty(port):
    try:
        return servers.four_letter_word(f"127.0.0.1:{port}", "srvr", timeout_s=1.0)
    except OSError:
        return ""


class FakeServer:
    """Answers srvr on 127.0.0.1:port the way a server in `mode` would, so
    status's ensemble path (leader/follower/observer) is tested now."""

    def __init__(self, port, mode):
        self.port = port
        self.mode = mode
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.listener.settimeout(FAKE_ACCEPT_POLL_S)
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def reply(self):
        if self.mode is None:
            return b"This ZooKeeper instance is not currently serving requests\n"
        return ("Zookeeper version: 3.8.0-fake, built on 01/01/2026 00:00 GMT\n"
                "Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\n"
                f"Outstanding: 0\nZxid: 0x100000000\nMode: {self.mode}\nNode count: 5\n"
                ).encode()

    def serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    if connection.recv(4) == b"srvr":
                        connection.sendall(self.reply())
                except OSError:
                    pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


def server_line_config(data_dir):
    quorum, election = QUORUM_PORTS_SERVER_LINE
    return [
        "tickTime=2000",
        f"dataDir={data_dir}",
        f"server.1=127.0.0.1:{quorum}:{election};127.0.0.1:{PORT_FAKE_SERVER}",
        f"server.2=127.0.0.2:{quorum}:{election};127.0.0.2:{PORT_FAKE_SERVER}",
    ]


@pytest.mark.parametrize("mode", ["leader", "follower", "observer", None])
def test_status_reads_every_mode_and_the_server_line_port(make_control, mode):
    outputs = {}
    for kind in PORT_BY_KIND:
        workdir = tempfile.mkdtemp(prefix=f"ctl-{kind}-")
        data_dir = os.path.join(workdir, "data")
        control = make_control(kind, PORT_FAKE_SERVER, server_line_config(data_dir), workdir)
        with open(os.path.join(data_dir, "myid"), "w") as myid:
            myid.write("1\n")
        with FakeServer(PORT_FAKE_SERVER, mode):
            result = control.run("status")
        outputs[kind] = (result.returncode, result.stdout)
    expected_port_line = (f"Client port found: {PORT_FAKE_SERVER}. Client address: 127.0.0.1. "
                          "Client SSL: false.")
    if mode is None:
        assert outputs["cheetah"] == (1, f"{expected_port_line}\n{ERROR_CONTACTING}\n")
    else:
        assert outputs["cheetah"] == (0, f"{expected_port_line}\nMode: {mode}\n")
    assert outputs["cheetah"] == outputs["zookeeper"]


def test_status_without_myid_says_what_zkserver_sh_says(make_control):
    outputs = {}
    for kind in PORT_BY_KIND:
        workdir = tempfile.mkdtemp(prefix=f"ctl-{kind}-")
        control = make_control(kind, PORT_FAKE_SERVER,
                               server_line_config(os.path.join(workdir, "data")), workdir)
        result = control.run("status")
        outputs[kind] = (result.returncode, result.stdout)
    assert outputs["cheetah"][0] == 1
    assert "myid could not be determined" in outputs["cheetah"][1]
    assert outputs["cheetah"] == outputs["zookeeper"]


def test_cheetah_serves_on_its_server_line_client_port(make_control):
    workdir = tempfile.mkdtemp(prefix="ctl-cheetah-")
    data_dir = os.path.join(workdir, "data")
    quorum, election = QUORUM_PORTS_SERVER_LINE
    control = make_control("cheetah", PORT_SERVER_LINE, [
        "tickTime=2000", f"dataDir={data_dir}",
        f"server.1=127.0.0.1:{quorum}:{election};127.0.0.1:{PORT_SERVER_LINE}",
    ], workdir)
    with open(os.path.join(data_dir, "myid"), "w") as myid:
        myid.write("1\n")
    result = control.run("start", env={"CHEETAH_START_TIMEOUT_S": "5"})
    assert result.returncode == 0
    result = control.run("status")
    control.run("stop")
    assert result.stdout.splitlines()[-1] == "Mode: standalone"
