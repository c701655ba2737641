"""Soak: 3 publishers x 3 subscribers x 5 topics with random SIGKILLs and
restarts.  At the end: zero leaked bytes, zero corrupted payloads (content
checksums), zero hangs.  HORUS_SOAK_SECONDS sets the duration (CI runs a
short one; run it with 60 for the full soak)."""

import gc
import os
import random
import subprocess
import sys
import time

import horus
from conftest import PIDNS, kill_innermost, pidns_available
from horus import TensorPool

TOPICS = [f"soak.{i}" for i in range(5)]
POOL = 50

PUBLISHER = """
import sys, time, zlib
import numpy as np
from horus import TensorHandle, TensorPool, Topic
me = int(sys.argv[1])
pool = TensorPool(pool_id=%d, size_mb=64, max_slots=4096)
topics = [Topic(TensorHandle, name, capacity=32) for name in sys.argv[2].split(",")]
rng = np.random.default_rng(me * 7919 + int(time.time() * 1e6) %% 100000)
seq = 0
while True:
    for t in topics:
        n = int(rng.integers(16, 4096))
        h = pool.alloc([n + 16], dtype="uint8")
        a = h.numpy()
        body = rng.integers(0, 256, n, dtype=np.uint8)
        a[16:] = body
        a[:8] = np.frombuffer(np.uint64(zlib.crc32(body.tobytes())).tobytes(), np.uint8)
        a[8:16] = np.frombuffer(np.uint64(n).tobytes(), np.uint8)
        t.send(h)
        seq += 1
    time.sleep(0.002)
""" % POOL

SUBSCRIBER = """
import sys, time, zlib
import numpy as np
from horus import TensorHandle, Topic
topics = [Topic(TensorHandle, name) for name in sys.argv[2].split(",")]
stats_path = sys.argv[3]
checked = bad = 0
last = time.monotonic()
while True:
    for t in topics:
        for h in t.recv_all():
            a = h.numpy()
            n = int(a[8:16].view(np.uint64)[0])
            crc = int(a[:8].view(np.uint64)[0])
            ok = n == a.size - 16 and zlib.crc32(a[16:].tobytes()) == crc
            checked += 1
            bad += not ok
    if time.monotonic() - last > 0.2:
        with open(stats_path + ".tmp", "w") as f:
            f.write(f"{checked} {bad}")
        import os; os.replace(stats_path + ".tmp", stats_path)
        last = time.monotonic()
    time.sleep(0.001)
"""


def test_soak_with_random_kills(tmp_path, numbers):
    seconds = float(os.environ.get("HORUS_SOAK_SECONDS", "8"))
    pool = TensorPool(pool_id=POOL, size_mb=64, max_slots=4096)
    gc.collect()
    base = pool.stats()["used_bytes"]
    names = ",".join(TOPICS)
    procs, restarts = {}, 0
    stats_files = []

    # Publisher 0 and subscriber 0 live in PID namespaces of their own (as
    # in containers sharing /dev/shm) where the machine permits it.
    own_pidns = PIDNS if pidns_available() else []

    def start(role, i):
        nonlocal restarts
        if role == "pub":
            cmd = [sys.executable, "-c", PUBLISHER, str(i), names]
        else:
            path = str(tmp_path / f"sub{i}-{restarts}")
            stats_files.append(path)
            cmd = [sys.executable, "-c", SUBSCRIBER, str(i), names, path]
        if i == 0:
            cmd = own_pidns + cmd
        procs[(role, i)] = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    for i in range(3):
        start("pub", i)
        start("sub", i)
    rng = random.Random(1)
    kills = 0
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            time.sleep(rng.uniform(0.3, 1.0))
            key = rng.choice(sorted(procs))
            kill_innermost(procs[key])
            procs[key].wait(timeout=30)  # a killed process never hangs
            kills += 1
            restarts += 1
            start(*key)
            for k, p in procs.items():  # nobody died on their own
                assert p.poll() is None, f"{k} exited {p.returncode}: {p.stderr.read()}"
        time.sleep(0.5)
    finally:
        for p in procs.values():
            kill_innermost(p)
            p.wait(timeout=30)
    checked = bad = 0
    for path in stats_files:
        if os.path.exists(path):
            c, b = map(int, open(path).read().split())
            checked, bad = checked + c, bad + b
    numbers(f"soak: {seconds:g} s, {kills} kills survived, {checked} messages checked, "
            f"{bad} corrupted" + (", one publisher and one subscriber in PID namespaces "
                                  "of their own" if own_pidns else ""))
    assert bad == 0 and checked > 0 and kills > 0
    # Everyone is dead: clean removes the rings, reclaim frees what the dead
    # held, and not a byte is left.
    horus.clean()
    pool.reclaim()
    gc.collect()
    assert pool.stats()["used_bytes"] == base
    numbers(f"soak: 0 bytes leaked after reclaiming {kills} killed processes")
