"""The stubs match the extension (mypy's stubtest) and the examples type-check
against them."""

import ast
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


def test_examples_type_check():
    # Every Python example, as CI's mypy step checks them (scripts/test.sh).
    files = sorted(os.path.join(ROOT, "examples", f)
                   for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
    assert files
    out = mypy("mypy", "--config-file", "pyproject.toml", "--check-untyped-defs", *files)
    assert out.returncode == 0, out.stdout + out.stderr


def check(tmp_path, name, code):
    path = tmp_path / name
    path.write_text(code)
    return mypy("mypy", "--config-file", "pyproject.toml", "--strict", str(path))


def test_a_type_checker_checks_encodings_and_metadata(tmp_path):
    good = check(tmp_path, "good.py", """
from typing import Literal
import numpy as np
from horus import Image

img = Image(2, 2, "rgb8")
Image(2, 2, "RGB8")
Image(2, 2, "gray")
Image.from_numpy(np.zeros((2, 2), np.uint8), encoding="mono8")
enc: Literal["mono8", "mono16", "rgb8", "bgr8", "rgba8", "bgra8", "yuv422", "mono32f",
             "rgb32f", "bayer_rggb8", "depth16"] = img.encoding
img.frame_id = "camera_front"
img.timestamp_ns = 5
name: str = img.frame_id
""")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = check(tmp_path, "bad.py", """
from horus import Image

img = Image(2, 2, "rgb9")
img.frame_id = 3
img.timestamp_ns = "now"
""")
    errors = [line for line in bad.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["4", "5", "6"], bad.stdout


def test_stubs_document_every_public_name():
    """Hover text: every public class, method and property in the stubs has
    a docstring (constructors are documented by their class)."""
    import horus

    missing = []
    for stub in ("_horus.pyi", "__init__.pyi"):
        with open(os.path.join(os.path.dirname(horus.__file__), stub)) as f:
            tree = ast.parse(f.read())
        if ast.get_docstring(tree) is None:
            missing.append(stub)
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            if ast.get_docstring(cls) is None:
                missing.append(cls.name)
            for fn in ast.walk(cls):
                if not isinstance(fn, ast.FunctionDef) or fn.name == "__init__":
                    continue
                if any(isinstance(d, ast.Attribute) and d.attr == "setter"
                       for d in fn.decorator_list):
                    continue
                if ast.get_docstring(fn) is None:
                    missing.append(f"{cls.name}.{fn.name}")
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            if ast.get_docstring(fn) is None:
                missing.append(fn.name)
    assert not missing, missing
