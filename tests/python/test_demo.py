"""The main job: `python -m horus demo` runs the two-process pipeline."""

import os
import re
import select
import signal
import subprocess
import sys

import numpy as np
import pytest


def test_demo_runs_and_leaks_nothing():
    proc = subprocess.run([sys.executable, "-m", "horus", "demo", "--seconds", "3"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fps = [float(x) for x in re.findall(r"\[model\]\s+([\d.]+) fps", proc.stdout)]
    assert fps and max(fps) > 0, proc.stdout
    total = re.search(r"total (\d+) frames", proc.stdout)
    assert total and int(total.group(1)) > 0
    assert "pool bytes leaked: 0" in proc.stdout
    # With PyTorch installed (make demo installs the [torch] extra) the model
    # is the real CNN, fed by to_torch(); the NumPy stand-in only without it.
    try:
        import torch  # noqa: F401
        model = "torch CNN"
    except ImportError:
        model = "numpy (PyTorch not installed)"
    assert f"running {model}" in proc.stdout, proc.stdout


def test_demo_leaves_the_callers_namespace_alone():
    """The demo runs in a namespace of its own and removes only that."""
    import horus
    from horus import Image, Topic

    t = Topic(Image, "not.the.demos")
    t.send(Image(2, 2, "mono8"))
    before = horus.global_pool_stats()
    proc = subprocess.run([sys.executable, "-m", "horus", "demo", "--seconds", "1"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not.the.demos" in [x["name"] for x in horus.topics()]
    assert os.path.exists(before["path"])


@pytest.mark.smoke
def test_demo_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "horus", "demo", "--seconds", "-1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--seconds" in proc.stderr


SHM_USER = os.path.join(os.environ.get("HORUS_SHM_DIR") or "/dev/shm", f"horus-{os.geteuid()}")


class Demo:
    """`python -m horus demo` with its output read line by line."""

    def __init__(self, seconds="60"):
        self.p = subprocess.Popen([sys.executable, "-m", "horus", "demo", "--seconds", seconds],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = []

    def line(self, pattern):
        for line in self.p.stdout:
            self.out.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"demo ended before {pattern!r}: {''.join(self.out)}"
                             f"{self.p.stderr.read()}")

    def rest(self):
        self.out.extend(self.p.stdout)
        return "".join(self.out)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


def test_banner_latency_label_and_annotated_frame():
    d = Demo("2")
    try:
        ns = d.line(r"in namespace (demo-\d+)").group(1)
        assert d.line(r"horus --namespace (\S+) topic hz image").group(1) == ns
        assert d.line(r"horus --namespace (\S+) view").group(1) == ns
        assert d.p.wait(timeout=180) == 0, d.rest() + d.p.stderr.read()
        out = d.rest()
    finally:
        d.close()
    assert "synthetic" in out and "capture->inference done median" in out
    reports = [line for line in out.splitlines() if " fps | " in line]
    # every report covers a full second except the last, which says so
    assert all("partial" not in line for line in reports[:-1])
    png = re.search(r"the model's last frame, annotated: (\S+\.png)", out).group(1)
    try:
        PIL = pytest.importorskip("PIL.Image")
        pixels = np.asarray(PIL.open(png))
        assert pixels.shape == (480, 640, 3)
        assert ((pixels == [0, 255, 0]).all(axis=-1)).sum() > 100  # the box drawn
    finally:
        os.unlink(png)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_to_the_launcher_stops_both_and_removes_the_namespace(sig, code):
    d = Demo()
    try:
        ns = d.line(r"in namespace (demo-\d+)").group(1)
        pids = d.line(r"camera pid (\d+), model pid (\d+)")
        d.line(r" fps \| ")
        d.p.send_signal(sig)
        assert d.p.wait(timeout=120) == code, d.rest()
        out = d.rest()
    finally:
        d.close()
    assert f"stopped by {signal.Signals(sig).name}" in out
    assert not os.path.exists(os.path.join(SHM_USER, ns))
    for pid in pids.groups():
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    png = re.search(r"annotated: (\S+\.png)", out)
    if png:
        os.unlink(png.group(1))


def test_killed_launcher_children_exit_and_leave_only_what_clean_removes():
    d = Demo()
    try:
        ns = d.line(r"in namespace (demo-\d+)").group(1)
        pids = [int(x) for x in d.line(r"camera pid (\d+), model pid (\d+)").groups()]
        fds = [os.pidfd_open(pid) for pid in pids]
        d.line(r" fps \| ")
        d.p.kill()
        d.p.wait()
        for fd in fds:  # readable once the process has exited
            assert select.select([fd], [], [], 120)[0] == [fd]
            os.close(fd)
    finally:
        d.close()
    # clean() (stale segments only) in the demo's namespace leaves nothing
    code = ("import os, horus; horus.clean(); d = os.path.join(os.environ['SHM_USER'], "
            "os.environ['HORUS_NAMESPACE']); print(sorted(os.listdir(d)) if os.path.isdir(d) "
            "else []); horus.clean(all=True)")
    left = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, HORUS_NAMESPACE=ns, SHM_USER=SHM_USER),
                          timeout=120)
    assert left.returncode == 0, left.stderr
    assert left.stdout.strip() == "[]"
    png = os.path.join(__import__("tempfile").gettempdir(), f"horus-demo-{ns[5:]}.png")
    if os.path.exists(png):  # the model, stopped by SIGTERM, still saves its frame
        os.unlink(png)
