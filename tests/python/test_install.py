"""Installing and testing where users are: the fuzz step asks before it
installs Debian packages, `make demo` uses a virtual environment, the
messages name the distribution we publish (horus-shm, not PyPI's unrelated
"horus"), and the per-Python install check skips interpreters a machine
lacks.  (The installs themselves, on each Python, are scripts/pythons.sh.)"""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def fake_bin(tmp_path, name, body):
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    exe = d / name
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return d


def run_fuzz_sh(tmp_path, **env):
    """scripts/fuzz.sh on a machine without clang (CLANG names nothing), with
    an apt-get that only records that it ran."""
    marker = tmp_path / "apt-get-ran"
    bindir = fake_bin(tmp_path, "apt-get",
                      f'echo "$@" >> "{marker}"\n[ "$1" = update ] && exit 0\nexit 1\n')
    full = {k: v for k, v in os.environ.items()
            if k not in ("CI", "HORUS_FUZZ_OPTIONAL", "HORUS_INSTALL_DEPS")}
    full.update(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
                CLANG=str(tmp_path / "no-clang-here"), **env)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fuzz.sh"), "1"],
                          capture_output=True, text=True, timeout=120, env=full)
    return proc, marker


def test_fuzz_step_outside_ci_installs_nothing_and_says_how(tmp_path):
    # As scripts/test.sh runs it on a person's machine: skipped, not failed.
    proc, marker = run_fuzz_sh(tmp_path, HORUS_FUZZ_OPTIONAL="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert not marker.exists(), "apt-get ran outside CI"
    assert "SKIPPED" in out and "apt-get install clang" in out and "scripts/fuzz.sh" in out
    # Run directly: an error naming the packages, still nothing installed.
    proc, marker = run_fuzz_sh(tmp_path)
    assert proc.returncode != 0 and not marker.exists()
    assert "apt-get install clang" in proc.stderr


def test_fuzz_step_in_ci_installs_clang(tmp_path):
    proc, marker = run_fuzz_sh(tmp_path, CI="true")
    assert proc.returncode != 0  # the fake apt-get install fails
    if os.geteuid() == 0:
        assert "install -y -qq clang" in marker.read_text(), proc.stdout + proc.stderr
    else:
        assert not marker.exists() and "cannot be installed here" in proc.stderr


def test_test_sh_makes_the_fuzz_step_optional_outside_ci_only():
    with open(os.path.join(ROOT, "scripts", "test.sh")) as f:
        script = f.read()
    assert re.search(r'\[ "\$\{CI:-\}" = true \] \|\| export HORUS_FUZZ_OPTIONAL=1\n'
                     r'scripts/fuzz.sh', script)
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        assert "export CI=${CI:-true}" in f.read()


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_demo_needs_a_venv_and_says_how_to_get_one(tmp_path):
    """Without a usable `python -m venv` (Debian without python3-venv), make
    demo stops with the package to install; it never falls back to pip
    installing into the system Python."""
    bindir = fake_bin(tmp_path, "python-without-venv",
                      'echo "ensurepip is not available" >&2\nexit 1\n')
    marker = tmp_path / "pip-ran"
    fake_bin(tmp_path, "pip", f'touch "{marker}"\n')
    fake_bin(tmp_path, "pip3", f'touch "{marker}"\n')
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        ["make", "-C", ROOT, "--no-print-directory", "demo",
         f"PYTHON={bindir / 'python-without-venv'}", f"VENV={tmp_path / 'venv'}"],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode != 0
    assert "apt-get install python3-venv" in proc.stderr, proc.stderr
    assert not marker.exists()


def test_pyproject_names_the_distribution_and_pythons():
    tomllib = pytest.importorskip("tomllib")  # 3.11+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == "horus-shm"
    assert project["requires-python"] == ">=3.10"
    for v in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {v}" in project["classifiers"]
    assert "torch" in project["optional-dependencies"]
    assert os.path.exists(os.path.join(ROOT, "LICENSE"))


# `pip install horus`, `pip install 'horus[bridge]'`: PyPI's unrelated project.
WRONG_NAME = re.compile(r"""pip install\s+['"]?horus(?![-\w])""")


def test_no_message_tells_users_to_install_pypis_horus():
    bad = []
    for top in ("src", "tools", "docs", "examples", "scripts", "README.md", "Makefile"):
        path = os.path.join(ROOT, top)
        files = ([path] if os.path.isfile(path) else
                 [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs])
        for name in files:
            if not name.endswith((".py", ".pyi", ".c", ".h", ".md", ".sh", "Makefile")):
                continue
            with open(name, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if WRONG_NAME.search(line):
                        bad.append(f"{os.path.relpath(name, ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
    assert WRONG_NAME.search("pip install 'horus[bridge]'")
    assert not WRONG_NAME.search("pip install 'horus-shm[bridge]'")


def test_bridge_install_hint_names_installable_packages():
    from horus import bridge

    assert "pip install eclipse-zenoh" in bridge.INSTALL_HINT
    assert "horus-shm[bridge]" in bridge.INSTALL_HINT


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".git")) and
                    not os.path.isfile(os.path.join(ROOT, ".git")),
                    reason="needs a git checkout")
def test_pythons_sh_skips_interpreters_this_machine_lacks():
    env = dict(os.environ, HORUS_PYTHONS="3.99", HORUS_SMOKE_TORCH="")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "pythons.sh")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Python 3.99: SKIPPED" in proc.stdout
    assert "skipped (not on this machine): 3.99" in proc.stdout


def test_this_interpreter_is_supported():
    # requires-python says 3.10+; the compat shim in src/python/module.c is
    # what makes 3.10 import (scripts/pythons.sh installs on each).
    import horus

    assert sys.version_info >= (3, 10)
    assert horus.Image(2, 2, "mono8").to_numpy().shape == (2, 2)
