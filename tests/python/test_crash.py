"""The crash matrix: a process killed with SIGKILL inside each critical
section (test-only fault points: HORUS_FAULT=<point>), and a publisher and
a subscriber killed wherever they happen to be.  After each, nothing hangs,
the pool's used bytes return to baseline after reclamation, a restarted
process works, and cleaning leaves the namespace as it was."""

import gc
import os
import signal
import subprocess
import sys

import pytest

import horus
from conftest import PIDNS, kill_innermost, pidns_available
from horus import TensorHandle, TensorPool, Topic

POOL = 40
ACTOR = """
import sys, horus
from horus import TensorHandle, TensorPool, Topic
op = sys.argv[1]
pool = TensorPool(pool_id=%d, size_mb=16, max_slots=64)
topic = Topic(TensorHandle, "crash.matrix")
if op == "alloc":
    held = pool.alloc([1 << 20], dtype="uint8")
elif op in ("release", "zero"):  # zero: killed as the block's last holder, before it is freed
    t = pool.alloc([1 << 20], dtype="uint8")
    t.to_numpy()[:] = 0xA5
    t.release()
elif op == "send":
    topic.send(pool.alloc([1 << 20], dtype="uint8"))
elif op == "overwrite":  # fills the ring, then overwrites its oldest entries
    for _ in range(64):
        topic.send(pool.alloc([1 << 16], dtype="uint8"))
elif op == "recv":
    print("ready", flush=True)
    msg = topic.recv(timeout=20)
elif op == "publisher":  # streams until killed
    i = 0
    while True:
        topic.send(pool.alloc([1 << 16], dtype="uint8"))
        i += 1
        if i == 200:
            print("running", flush=True)
elif op == "subscriber":  # killed while holding what it received
    print("ready", flush=True)
    held = [topic.recv(timeout=20) for _ in range(3)]
    print("holding", sum(h is not None for h in held), flush=True)
    import time
    time.sleep(60)
print("survived", flush=True)
""" % POOL

# (what the actor does, where it dies).  The *_bit points lie between the two
# atomics of a lock-free retain or release (the holder's bit in the block's
# mask set or cleared, its ledger cell not yet): a process's own references
# (recv, release) and a topic ring's (send, overwrite).  "recover" dies
# inside the journal recovery of a publisher that died before it.
CASES = [("alloc", "alloc_locked"), ("release", "release_locked"), ("zero", "zeroing"),
         ("release", "release_bit"), ("send", "send_locked"), ("send", "send_stamped"),
         ("send", "ring_retain_bit"),
         ("overwrite", "ring_release_bit"), ("recover", "recover_step"),
         ("recv", "recv_retained"), ("recv", "retain_bit"),
         ("publisher", None), ("subscriber", None)]


def test_a_send_killed_after_its_stamp_reaches_every_subscriber():
    """Subscribers go by an entry's stamp alone, so a message stamped just
    before its publisher died may already be received by one of them; the
    next publisher's recovery must then finish that send, not turn the
    entry into a hole that the other subscribers count as dropped."""
    pool = TensorPool(pool_id=POOL, size_mb=16, max_slots=64)
    gc.collect()
    horus.clean()
    pool.reclaim()
    base_used = pool.stats()["used_bytes"]
    early, late = Topic(TensorHandle, "crash.matrix"), Topic(TensorHandle, "crash.matrix")
    assert early.recv() is None and late.recv() is None  # both subscribed, nothing yet
    proc = actor("send", "send_stamped")
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    got = early.recv(timeout=0)  # stamped before the kill: there already
    assert got is not None and got.nbytes == 1 << 20
    probe = pool.alloc([4 << 20], dtype="uint8")
    early.send(probe)  # takes the publish lock: recovers the dead send first
    seen = [m.nbytes for m in late.recv_all()]
    assert seen == [1 << 20, 4 << 20]
    assert late.stats()["dropped"] == 0 and early.stats()["sent"] == 2
    del got, probe
    early.close()
    late.close()
    horus.clean()
    pool.reclaim()
    gc.collect()
    assert pool.stats()["used_bytes"] == base_used


def actor(op, fault, pidns=False):
    env = dict(os.environ)
    if fault:
        env["HORUS_FAULT"] = fault
    cmd = [sys.executable, "-c", ACTOR, op]
    return subprocess.Popen(PIDNS + cmd if pidns else cmd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def files():
    return sorted(os.listdir(os.path.dirname(horus.global_pool_stats()["path"])))


@pytest.mark.parametrize("pidns", [False, True], ids=["same-pidns", "own-pidns"])
@pytest.mark.parametrize("op,point", CASES, ids=[f"{op}-{pt}" if pt else op for op, pt in CASES])
def test_killed_inside_critical_section(op, point, pidns, numbers):
    if pidns and not pidns_available():
        pytest.skip("unshare --pid --fork --mount-proc is not permitted here (needs root)")
    pool = TensorPool(pool_id=POOL, size_mb=16, max_slots=64)
    gc.collect()
    horus.clean()  # start from a namespace without stale segments
    pool.reclaim()
    before_files = files()
    base_used = pool.stats()["used_bytes"]
    topic = Topic(TensorHandle, "crash.matrix")
    label = op
    if op == "recover":
        # A publisher dies inside its ring's retain; the next publisher dies
        # while recovering from that; this process recovers from both.
        first = actor("send", "ring_retain_bit", pidns)
        first.wait(timeout=30)
        assert first.returncode != 0, first.stderr.read()
        first.stdout.close()
        first.stderr.close()
        op = "send"
    proc = actor(op, point, pidns)
    if op in ("recv", "subscriber"):
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(1 if op == "recv" else 3):
            topic.send(pool.alloc([1 << 20], dtype="uint8"))
    if op == "publisher":
        assert proc.stdout.readline().strip() == "running"
        kill_innermost(proc)
    if op == "subscriber":
        assert proc.stdout.readline().strip() == "holding 3"
        kill_innermost(proc)
    proc.wait(timeout=30)
    # In its own PID namespace the shell reports the actor's SIGKILL as 137.
    killed = (-signal.SIGKILL, 128 + signal.SIGKILL) if pidns else (-signal.SIGKILL,)
    assert proc.returncode in killed, proc.stderr.read()

    # Nothing is wedged: the next lock holder repairs or completes what the
    # dead process left, and every operation finishes promptly.
    topic.recv_all()  # what this handle saw before (the recv case's message)
    probe = pool.alloc([4 << 20], dtype="uint8")
    topic.send(probe)
    got = topic.recv(timeout=0)  # sent just above: there whatever the scheduling
    assert got is not None and got.nbytes == 4 << 20
    del probe, got

    # A restarted process works.
    again = actor("alloc", None)
    out, err = again.communicate(timeout=30)
    assert again.returncode == 0 and "survived" in out, err

    # Once the topic is gone and the dead are reclaimed, the pool is back to
    # its baseline to the byte, and cleaning leaves the namespace as it was.
    topic.close()
    removed = horus.clean()
    assert any(r.endswith("topic.crash.matrix") for r in removed)
    pool.reclaim()
    gc.collect()
    assert pool.stats()["used_bytes"] == base_used
    assert files() == before_files
    # Whatever the dead process was doing, a new block reads as zeros.
    fresh = pool.alloc([15 << 20], dtype="uint8")
    assert not fresh.to_numpy().any()
    del fresh
    where = f"inside {label} ({point})" if point else f"a {label} wherever it was"
    if pidns:
        where += ", in its own PID namespace"
    numbers(f"crash matrix: SIGKILL {where}: no hang, restart works, "
            f"pool back to baseline, clean leaves the namespace as found")
