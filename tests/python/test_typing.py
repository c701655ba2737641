"""The stubs match the extension (mypy's stubtest) and the examples type-check
against them."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def mypy(*args):
    pytest.importorskip("mypy")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_stubtest_agrees_with_the_extension():
    out = mypy("mypy.stubtest", "horus")
    assert out.returncode == 0, out.stdout + out.stderr


def test_examples_type_check():
    files = [os.path.join(ROOT, "examples", f) for f in ("ml_pipeline.py", "topic_subscriber.py")]
    out = mypy("mypy", "--check-untyped-defs", "--ignore-missing-imports", *files)
    assert out.returncode == 0, out.stdout + out.stderr
