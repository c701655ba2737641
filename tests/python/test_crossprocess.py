"""Pools across processes: a child maps the parent's block from a
descriptor; a child killed with SIGKILL leaves nothing behind."""

import gc
import signal

import numpy as np
import pytest

from horus import TensorPool


@pytest.mark.smoke
def test_child_sees_and_writes_parents_block(run_child):
    pool = TensorPool(pool_id=5, size_mb=16, max_slots=64)
    t = pool.alloc([64, 64], dtype="float32")
    a = t.numpy()
    a[:] = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    proc = run_child(
        f"""
        import numpy as np
        from horus import TensorHandle, TensorPool
        pool = TensorPool(pool_id=5, size_mb=16, max_slots=64)
        t = TensorHandle.from_descriptor(bytes.fromhex("{t.descriptor().hex()}"))
        a = t.numpy()
        print(float(a.sum()), t.refcount)
        a[0, 0] = -1.0   # the parent sees this: same memory
        """)
    total, refs = proc.stdout.split()
    assert float(total) == float(np.arange(64 * 64, dtype=np.float64).sum())
    assert int(refs) == 4  # parent handle + parent view + child handle + child view
    assert a[0, 0] == -1.0
    gc.collect()
    assert t.refcount == 2  # the child's references went with it


def test_killed_child_leaks_nothing(spawn_child):
    pool = TensorPool(pool_id=6, size_mb=32, max_slots=64)
    gc.collect()
    base = pool.stats()
    child = spawn_child(
        """
        import sys, time
        from horus import TensorPool
        pool = TensorPool(pool_id=6, size_mb=32, max_slots=64)
        held = [pool.alloc([1 << 20], dtype="uint8") for _ in range(5)]
        views = [h.numpy() for h in held] + [h.torch() for h in held]
        print("ready", flush=True)
        time.sleep(120)
        """)
    assert child.stdout.readline().strip() == "ready"
    during = pool.stats()
    assert during["used_bytes"] == base["used_bytes"] + 5 * (1 << 20)
    assert during["holders"] == base["holders"] + 1
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert pool.reclaim() == 5
    after = pool.stats()
    assert after["used_bytes"] == base["used_bytes"]
    assert after["total_refs"] == base["total_refs"]
    assert after["holders"] == base["holders"]


@pytest.mark.smoke
def test_dead_childs_references_are_reclaimed_on_attach(spawn_child, run_child):
    pool = TensorPool(pool_id=7, size_mb=16, max_slots=16)
    child = spawn_child(
        """
        import time
        from horus import TensorPool
        pool = TensorPool(pool_id=7, size_mb=16, max_slots=16)
        held = [pool.alloc([1 << 20], dtype="uint8") for _ in range(3)]
        print("ready", flush=True)
        time.sleep(120)
        """)
    assert child.stdout.readline().strip() == "ready"
    child.kill()
    child.wait(timeout=30)
    # A new process attaching sweeps the dead one's references.
    proc = run_child(
        """
        from horus import TensorPool
        print(TensorPool(pool_id=7, size_mb=16, max_slots=16).stats()["used_bytes"])
        """)
    assert int(proc.stdout) == 0
    assert pool.stats()["used_bytes"] == 0


def test_killed_inside_the_allocator_lock(run_child):
    pool = TensorPool(pool_id=8, size_mb=16, max_slots=16)
    proc = run_child(
        """
        from horus import TensorPool
        pool = TensorPool(pool_id=8, size_mb=16, max_slots=16)
        pool.alloc([1 << 20], dtype="uint8")
        """,
        env={"HORUS_FAULT": "alloc_locked"}, check=False)
    assert proc.returncode == -signal.SIGKILL
    # The lock is not wedged and nothing is lost.
    t = pool.alloc([15 << 20], dtype="uint8")
    assert t.nbytes == 15 << 20
    del t
    gc.collect()
    assert pool.stats()["used_bytes"] == 0
