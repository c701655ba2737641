"""Test-session setup: a private namespace, cleanup of /dev/shm, and the
guarantees CI relies on (frameworks present, at least one test collected)."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

# A namespace of our own, set before horus opens anything, so tests never
# touch a user's real pools and cleanup is a single directory.
NAMESPACE = f"pytest-{os.getpid()}"
os.environ["HORUS_NAMESPACE"] = NAMESPACE
os.environ.setdefault("HORUS_POOL_MB", "512")
SHM_BASE = os.environ.get("HORUS_SHM_DIR") or "/dev/shm"
USER_DIR = os.path.join(SHM_BASE, f"horus-{os.geteuid()}")
NS_DIR = os.path.join(USER_DIR, NAMESPACE)


# A command prefix that runs a process in a PID namespace of its own, as in a
# container sharing /dev/shm: its PIDs mean nothing to us.  A shell is the
# namespace's init (init ignores a SIGKILL sent from inside, which fault
# points use), the process its child, reported as 137 when killed;
# --kill-child takes the namespace down when unshare is killed.
PIDNS = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c",
         '"$0" "$@"; exit $?']


def pidns_available():
    try:
        return subprocess.run(PIDNS + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def kill_innermost(proc):
    """SIGKILL the process at the bottom of proc's chain of children (the
    actor inside a PIDNS wrapper), so that proc exits only after it is dead:
    killing unshare instead would tear the namespace down asynchronously."""
    pid = proc.pid
    try:
        while True:
            children = []
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    children += [int(c) for c in f.read().split()]
            if not children:
                break
            pid = children[0]
        os.kill(pid, 9)
    except (FileNotFoundError, ProcessLookupError):
        pass  # already gone


def pytest_configure(config):
    if os.environ.get("HORUS_REQUIRE_FRAMEWORKS"):
        missing = []
        for name in ("torch", "jax"):
            try:
                __import__(name)
            except ImportError:
                missing.append(name)
        if missing:
            raise pytest.UsageError(
                f"HORUS_REQUIRE_FRAMEWORKS is set but {', '.join(missing)} "
                "cannot be imported: the framework tests would be skipped")


def pytest_collection_finish(session):
    if not session.items:
        raise pytest.UsageError("no tests were collected")


# Numbers the crash, soak and bridge tests measure, printed after the run so
# they reach the CI log without -s (see the `numbers` fixture).
NUMBERS = []


@pytest.fixture
def numbers():
    """Record a line for the "horus numbers" section of the test summary."""
    return NUMBERS.append


def pytest_terminal_summary(terminalreporter):
    if NUMBERS:
        terminalreporter.section("horus numbers")
        for line in NUMBERS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    try:  # node files of the children the tests killed (their locks are free)
        import horus

        horus.clean()
    except Exception:  # noqa: BLE001 - cleanup must not hide the run's result
        pass
    shutil.rmtree(NS_DIR, ignore_errors=True)
    try:
        os.rmdir(USER_DIR)  # only succeeds when no other namespace is left
    except OSError:
        pass


@pytest.fixture
def run_child():
    """Run a Python snippet in a fresh interpreter of the same namespace and
    return the CompletedProcess (stdout/stderr as text)."""

    def run(code, timeout=60, env=None, check=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True, text=True, timeout=timeout, env=full_env)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"child exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                f"stderr:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def spawn_child():
    """Start a Python snippet in the background; yields a function returning
    the Popen (text mode, stdout piped).  Every child is killed at teardown."""
    procs = []

    def spawn(code, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream and not stream.closed:
                stream.close()
