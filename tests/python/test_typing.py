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


@pytest.mark.smoke
def test_stubtest_agrees_with_the_extension():
    # pyproject.toml tells mypy that torch, JAX and Zenoh are optional: the
    # stubs must check on a machine without them.
    out = mypy("mypy.stubtest", "horus", "--mypy-config-file", "pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.smoke
def test_examples_type_check():
    # Every Python example, as CI's mypy step checks them (scripts/test.sh).
    files = sorted(os.path.join(ROOT, "examples", f)
                   for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
    assert files
    out = mypy("mypy", "--config-file", "pyproject.toml", "--check-untyped-defs", *files)
    assert out.returncode == 0, out.stdout + out.stderr
