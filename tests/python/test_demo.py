"""The main job: `python -m horus demo` runs the two-process pipeline."""

import os
import re
import subprocess
import sys

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
