"""The main job: `python -m horus demo` runs the two-process pipeline."""

import re
import subprocess
import sys


def test_demo_runs_and_leaks_nothing():
    proc = subprocess.run([sys.executable, "-m", "horus", "demo", "--seconds", "3"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fps = [float(x) for x in re.findall(r"\[model\]\s+([\d.]+) fps", proc.stdout)]
    assert fps and max(fps) > 0, proc.stdout
    total = re.search(r"total (\d+) frames", proc.stdout)
    assert total and int(total.group(1)) > 0
    assert "pool bytes leaked: 0" in proc.stdout


def test_demo_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "horus", "demo", "--seconds", "-1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--seconds" in proc.stderr
