"""libhorus as a C user installs it: `cmake --install` into a prefix, a C
program (the README's C quick start, tests/install/quickstart.c) built
against it with pkg-config and with find_package(horus), and a Python
subscriber receiving what it publishes."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from horus import Image, Topic

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "install")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    build = os.environ.get("HORUS_BUILD_DIR")
    if not build or not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        if os.environ.get("CI"):
            pytest.fail("HORUS_BUILD_DIR must name the CMake build directory in CI")
        pytest.skip("set HORUS_BUILD_DIR to a CMake build directory to run this test")
    dest = tmp_path_factory.mktemp("prefix")
    subprocess.run(["cmake", "--install", build, "--prefix", str(dest)], check=True,
                   capture_output=True)
    return dest


def receive_from(exe, env, name):
    topic = Topic(Image, name)  # open before the publisher starts: it sees every frame
    out = subprocess.run([exe, name, "3"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("libhorus ")
    for i in range(3):
        img = topic.recv(timeout=10)
        assert img is not None and img.frame_id == "installed"
        assert (img.width, img.height, img.encoding) == (640, 480, "rgb8")
        px = np.asarray(img.to_numpy())
        assert px.min() == i and px.max() == i


def test_pkg_config_build(prefix, tmp_path):
    if not shutil.which("pkg-config"):
        pytest.skip("pkg-config is not installed")
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "horus"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    exe = str(tmp_path / "quickstart")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", os.path.join(SRC, "quickstart.c"),
                    "-o", exe, *flags], check=True)
    env["LD_LIBRARY_PATH"] = str(prefix / "lib")  # the shared libhorus.so
    receive_from(exe, env, "install.pkgconfig")


def test_find_package_build(prefix, tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", SRC, "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    receive_from(str(build / "quickstart"), dict(os.environ), "install.cmake")
