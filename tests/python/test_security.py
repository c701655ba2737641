"""Segments are private: another user cannot open them, and a directory or
segment planted by another user under the expected name is refused, not
trusted.  Needs root to act as a second user (setpriv), as CI has."""

import os
import shutil
import subprocess
import sys

import pytest

import horus
from horus import Image, TensorPool

NOBODY = 65534


def as_nobody(code, env=None):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        if os.environ.get("CI"):
            pytest.fail("CI must run as root with setpriv to test a second user")
        pytest.skip("needs root and setpriv to act as a second user")
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env or dict(os.environ))


def test_another_user_cannot_open_our_segments():
    Image(2, 2, "mono8")  # the global pool exists
    path = horus.global_pool_stats()["path"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    out = as_nobody(f"open({path!r}, 'rb')")
    assert out.returncode != 0 and "PermissionError" in out.stderr


@pytest.fixture
def shared_dir():
    """A directory anyone may create entries in, like /dev/shm."""
    import pathlib
    import tempfile

    d = pathlib.Path(tempfile.mkdtemp(prefix="planted-", dir="/tmp"))
    os.chmod(d, 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_planted_directory_is_refused(shared_dir):
    shm = shared_dir
    planted = shm / f"horus-{os.geteuid()}"
    out = as_nobody(f"import os; os.makedirs({str(planted / 'default')!r}, mode=0o700)")
    assert out.returncode == 0, out.stderr
    env = dict(os.environ, HORUS_SHM_DIR=str(shm), HORUS_NAMESPACE="default")
    proc = subprocess.run([sys.executable, "-c",
                           "import horus\ntry:\n horus.TensorPool(pool_id=1, size_mb=1, max_slots=4)\n"
                           "except PermissionError as e:\n print('refused:', e)"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert "refused:" in proc.stdout and str(planted) in proc.stdout
    assert "belongs to uid 65534" in proc.stdout


def test_planted_segment_with_open_mode_is_refused(tmp_path):
    pool = TensorPool(pool_id=60, size_mb=1, max_slots=4)
    path = pool.path
    del pool
    import gc

    gc.collect()
    os.unlink(path)
    with open(path, "wb") as f:  # a look-alike with the expected name
        f.write(b"\0" * 4096)
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="refusing to trust"):
        TensorPool(pool_id=60, size_mb=1, max_slots=4)
    os.unlink(path)


VICTIM = 65533


def as_user(uid, code, env):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        if os.environ.get("CI"):
            pytest.fail("CI must run as root with setpriv to test a second user")
        pytest.skip("needs root and setpriv to act as a second user")
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)


def test_squatted_user_directory_cannot_lock_a_user_out():
    """Another user who creates /dev/shm/horus-<victim uid> first makes the
    victim's segments go to its private runtime directory, with a warning
    naming the squatter; the victim's work goes on."""
    import pathlib
    import tempfile

    squat = f"/dev/shm/horus-{VICTIM}"
    runtime = pathlib.Path(tempfile.mkdtemp(prefix="run-user-", dir="/tmp"))
    try:
        out = as_nobody(f"import os; os.makedirs({squat + '/default'!r}, mode=0o700)")
        assert out.returncode == 0, out.stderr
        os.chown(runtime, VICTIM, VICTIM)
        env = {k: v for k, v in os.environ.items() if k != "HORUS_SHM_DIR"}
        env.update(XDG_RUNTIME_DIR=str(runtime), HORUS_NAMESPACE="squat-test", HOME=str(runtime))
        code = ("import numpy as np, horus\n"
                "t = horus.Topic(horus.Image, 'cam')\n"
                "img = horus.Image(4, 4, 'mono8'); img.to_numpy()[:] = 7\n"
                "t.send(img)\n"
                "got = horus.Topic(horus.Image, 'cam')\n"
                "print('pool at', horus.global_pool_stats()['path'])\n"
                "print('sum', int(np.asarray(img.to_numpy()).sum()))\n")
        proc = as_user(VICTIM, code, env)
        assert proc.returncode == 0, proc.stderr
        assert f"pool at {runtime}/horus-{VICTIM}/squat-test/pool.0" in proc.stdout
        assert "sum 112" in proc.stdout
        assert squat in proc.stderr and "belongs to uid 65534" in proc.stderr
        # Nothing of the victim's went into the squatter's directory.
        assert os.listdir(squat) == ["default"]
    finally:
        shutil.rmtree(squat, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
