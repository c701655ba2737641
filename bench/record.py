"""Recording and playback speed (horus record / horus play), as ratios
measured in one run on one machine:

1. record: a publisher process sends 1080p rgb8 frames at 30 Hz (187 MB/s)
   for 20 s while horus.Recorder (a subscriber, like `horus record`) writes
   them to an MCAP file; frames lost (sent - recorded) and the recorder's
   MB/s against a plain sequential os.write of the same number of bytes by
   the same process to the same directory.
2. play at the recorded pace: p99 of each message's lateness from its
   deadline, taken when `send` returns (the bar: <= 2 ms at 30 Hz).  In
   the same seconds a second process waits for deadlines of its own at
   the same rate (half a period apart) the same way and does nothing else:
   its lateness is the machine's floor (the scheduler's wake-up delay
   under the load of the moment), which no player can beat.
3. play --rate 0: MB/s against reading the same file sequentially with
   os.preadv into one reused buffer of the frame chunks' size (page-cache
   hot, no page faults), and against the floor of what play must do per
   frame: the same reads into a new pool block each (a frame is published
   in its own block), the block freed once 8 newer ones exist (a freed
   block is zeroed by the pool: the trust contract).  Median of 3 rounds,
   the three measured one after the other in each round.

usage: python bench/record.py [--quick] [--dir DIR] [--seconds S] [--json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import horus
from horus import record

PUBLISHER = r"""
import sys, time
from horus import Topic, Image
seconds, hz = float(sys.argv[1]), float(sys.argv[2])
t = Topic(Image, "bench.camera", capacity=16)
print("ready", flush=True)
sys.stdin.readline()
n = int(seconds * hz)
t0 = time.monotonic()
for i in range(n):
    deadline = t0 + i / hz
    d = deadline - time.monotonic()
    if d > 0:
        time.sleep(d)
    img = Image(1080, 1920, "rgb8")
    img.fill([i % 256, 7, 9])
    img.timestamp_ns = time.time_ns()
    t.send(img)
    del img
print(n, flush=True)
sys.stdin.readline()
"""


PACING_FLOOR = r"""
import sys, time, threading
from horus import record
n, hz = int(sys.argv[1]), float(sys.argv[2])
stop = threading.Event()
print("ready", flush=True)
sys.stdin.readline()
t0 = time.monotonic_ns() + int(0.5e9 / hz)
late = []
for i in range(n):
    deadline = t0 + int(i * 1e9 / hz)
    record._wait_until(deadline, stop)
    late.append(time.monotonic_ns() - deadline)
print(" ".join(map(str, late)), flush=True)
"""


def plain_write_mbps(directory, nbytes, block):
    path = os.path.join(directory, "plain.bin")
    buf = bytes(block)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.perf_counter()
    done = 0
    while done < nbytes:
        done += os.write(fd, buf)
    os.close(fd)
    secs = time.perf_counter() - t0
    os.unlink(path)
    return nbytes / secs / 1e6


def read_mbps(path, chunk):
    """The file read front to back with preadv into one reused buffer of
    `chunk` bytes."""
    buf = memoryview(bytearray(chunk))
    fd = os.open(path, os.O_RDONLY)
    t0 = time.perf_counter()
    n = 0
    while got := os.preadv(fd, [buf], n):
        n += got
    secs = time.perf_counter() - t0
    os.close(fd)
    return n / secs / 1e6


def block_floor_mbps(path, chunk, shape):
    """The file read front to back in `chunk`-byte pieces, each into a new
    pool block (an Image of `shape`, what play fills per frame), each block
    freed once 8 newer ones exist: one copy and one free per frame."""
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    held = []
    t0 = time.perf_counter()
    for off in range(0, size, chunk):
        img = horus.Image(*shape)
        os.preadv(fd, [memoryview(img).cast("B")[:chunk]], off)
        held.append(img)
        del img
        if len(held) > 8:
            del held[0]
    held.clear()
    secs = time.perf_counter() - t0
    os.close(fd)
    return size / secs / 1e6


def main():
    # A namespace of its own (as bench/run.py gives each case), removed at
    # the end: the bench's topics and pool stay out of "default".
    own = "HORUS_NAMESPACE" not in os.environ
    if own:
        os.environ["HORUS_NAMESPACE"] = f"bench-record-{os.getpid()}"
    try:
        _main()
    finally:
        if own:
            subprocess.run([sys.executable, "-c", "import horus; horus.clean(all=True)"])


def _main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 s instead of 20")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--dir", help="where the file goes (default: a temporary dir under /tmp)")
    ap.add_argument("--compression", default="none")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    hz = 30.0
    tmp = tempfile.mkdtemp(prefix="horus-bench-record-", dir=args.dir)
    path = os.path.join(tmp, "bench.mcap")
    out = {"seconds": seconds, "hz": hz, "dir": tmp}
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(seconds), str(hz)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert pub.stdout.readline().strip() == "ready"
        rec = horus.Recorder(path, ["bench.camera"], compression=args.compression)
        rec.start()
        rec.wait_subscribed(1)
        t0 = time.perf_counter()
        pub.stdin.write("go\n")
        pub.stdin.flush()
        sent = int(pub.stdout.readline())
        rec.stop()  # drains what is still in the ring, then finalises
        secs = time.perf_counter() - t0
        st = rec.stats()["topics"]["bench.camera"]
    finally:
        pub.stdin.close()
        pub.wait(timeout=30)
    size = os.path.getsize(path)
    out["record"] = {"sent": sent, "recorded": st["messages"], "dropped": st["dropped"],
                     "lost": sent - st["messages"], "file_MB": size / 1e6,
                     "recorder_MBps": size / secs / 1e6,
                     "plain_write_MBps": plain_write_mbps(tmp, size, 1920 * 1080 * 3)}
    # The recorder's own speed, not the 30 Hz source's: every frame written
    # back-to-back from memory (no subscriber), against the plain write.
    img = horus.Image(1080, 1920, "rgb8")
    n = min(sent, 150)
    t0 = time.perf_counter()
    with horus.Recorder(os.path.join(tmp, "burst.mcap"), compression=args.compression) as r:
        for i in range(n):
            r.write("burst", img)
    burst = os.path.getsize(os.path.join(tmp, "burst.mcap"))
    out["record"]["burst_MBps"] = burst / (time.perf_counter() - t0) / 1e6
    out["record"]["burst_vs_plain"] = out["record"]["burst_MBps"] / out["record"]["plain_write_MBps"]
    os.unlink(os.path.join(tmp, "burst.mcap"))

    floor_proc = subprocess.Popen([sys.executable, "-c", PACING_FLOOR, str(st["messages"]), str(hz)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert floor_proc.stdout.readline().strip() == "ready"
        floor_proc.stdin.write("go\n")
        floor_proc.stdin.flush()
        res = record.play(path, rate=1.0)
        floor_late = np.array(floor_proc.stdout.readline().split(), dtype=np.float64)[1:] / 1e6
    finally:
        floor_proc.stdin.close()
        floor_proc.wait(timeout=60)
    late = np.array(res["spacing_ns"][1:], dtype=np.float64) / 1e6
    out["play"] = {"messages": res["messages"], "late_p50_ms": float(np.percentile(late, 50)),
                   "late_p99_ms": float(np.percentile(late, 99)),
                   "late_max_ms": float(late.max()),
                   "floor_p50_ms": float(np.percentile(floor_late, 50)),
                   "floor_p99_ms": float(np.percentile(floor_late, 99)),
                   "floor_max_ms": float(floor_late.max()),
                   "load_average": os.getloadavg()[0]}
    chunk = max(c.chunk_length for c in record.Recording(path).summary.chunk_indexes)
    rounds = []
    for _ in range(3):
        file_read = read_mbps(path, chunk)
        floor = block_floor_mbps(path, chunk, (1080, 1920, "rgb8"))
        t0 = time.perf_counter()
        record.play(path, rate=0)
        fast = size / (time.perf_counter() - t0) / 1e6
        rounds.append((fast / file_read, fast, file_read, floor))
    rounds.sort()
    ratio, fast, file_read, floor = rounds[1]
    out["play_rate0"] = {"MBps": fast, "file_read_MBps": file_read, "ratio": ratio,
                         "block_floor_MBps": floor, "floor_ratio": floor / file_read,
                         "ratios": [r[0] for r in rounds]}
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    r = out["record"]
    print(f"record 1080p rgb8 @ {hz:g} Hz for {seconds:g} s: sent {r['sent']}, recorded "
          f"{r['recorded']}, lost {r['lost']} (ring drops {r['dropped']})")
    print(f"  recorder {r['recorder_MBps']:.0f} MB/s (paced by the source); back-to-back "
          f"{r['burst_MBps']:.0f} MB/s vs plain sequential write {r['plain_write_MBps']:.0f} MB/s "
          f"= {r['burst_vs_plain']:.2f}x")
    p = out["play"]
    print(f"play at the recorded pace: lateness p50 {p['late_p50_ms']:.3f} ms, "
          f"p99 {p['late_p99_ms']:.3f} ms, max {p['late_max_ms']:.3f} ms; the machine's floor "
          f"(bare waits, same seconds): p50 {p['floor_p50_ms']:.3f} ms, p99 {p['floor_p99_ms']:.3f} ms, "
          f"max {p['floor_max_ms']:.3f} ms (load average {p['load_average']:.1f})")
    q = out["play_rate0"]
    print(f"play --rate 0: {q['MBps']:.0f} MB/s vs reading the file {q['file_read_MBps']:.0f} MB/s "
          f"= {q['ratio']:.2f}x (rounds {', '.join(f'{x:.2f}' for x in q['ratios'])}); "
          f"floor (read into new pool blocks, freed) {q['block_floor_MBps']:.0f} MB/s "
          f"= {q['floor_ratio']:.2f}x")


if __name__ == "__main__":
    main()
