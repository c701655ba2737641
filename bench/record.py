"""Recording and playback speed (horus record / horus play), as ratios
measured in one run on one machine:

1. record: a publisher process sends 1080p rgb8 frames at 30 Hz (187 MB/s)
   for 20 s while horus.Recorder (a subscriber, like `horus record`) writes
   them to an MCAP file; frames lost (sent - recorded) and the recorder's
   MB/s against a plain sequential os.write of the same number of bytes by
   the same process to the same directory.
2. play at the recorded pace: p99 of each message's lateness from its
   deadline (the bar: <= 2 ms at 30 Hz).
3. play --rate 0: MB/s against reading the same file sequentially.

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


def read_mbps(path):
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(8 << 20):
            n += len(chunk)
    return n / (time.perf_counter() - t0) / 1e6


def main():
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

    res = record.play(path, rate=1.0)
    late = np.array(res["spacing_ns"][1:], dtype=np.float64) / 1e6
    out["play"] = {"messages": res["messages"], "late_p50_ms": float(np.percentile(late, 50)),
                   "late_p99_ms": float(np.percentile(late, 99)),
                   "late_max_ms": float(late.max())}
    file_read = read_mbps(path)
    t0 = time.perf_counter()
    res = record.play(path, rate=0)
    fast = size / (time.perf_counter() - t0) / 1e6
    out["play_rate0"] = {"MBps": fast, "file_read_MBps": file_read, "ratio": fast / file_read}
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
          f"p99 {p['late_p99_ms']:.3f} ms, max {p['late_max_ms']:.3f} ms")
    q = out["play_rate0"]
    print(f"play --rate 0: {q['MBps']:.0f} MB/s vs reading the file {q['file_read_MBps']:.0f} MB/s "
          f"= {q['ratio']:.2f}x")


if __name__ == "__main__":
    main()
