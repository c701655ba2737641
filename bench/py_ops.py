"""Per-operation cost of the Python API's hot calls, in one process.

    python bench/py_ops.py [--rounds R] [--batch B] [--only OP,...] [--json]
    python bench/py_ops.py --callgrind [--only OP,...] [--json]

Without --callgrind: for each operation, R rounds of B calls, each round
timed with perf_counter_ns; prints the median ns per call over the rounds
(and the 10th-90th percentile spread).  Times move with the machine (these
VMs share 2 cores); compare runs of the same moment.

With --callgrind: re-runs itself under `valgrind --tool=callgrind` with
`--dump-before=getppid`: os.getppid() (a libc call nothing else here
makes) marks the edges of each measured loop, every dump holds the
instructions since the previous mark, and the dumps of measured loops,
summed per operation and divided by the calls, give instructions per call.
Instruction counts do not move with the machine; they include the Python
`for` loop's own ~120 instructions per iteration (the `loop` row).

Every operation is what a caller writes: `Image(480, 640)` includes
dropping the previous image; `recv` includes dropping the received object
(its refcount reaches zero at the next assignment), except in `drop`
which times only that.  The send/recv rows are descriptor-only (no payload
is written or read): the cost the bindings add to the C path.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HORUS_NAMESPACE", f"pyops-{os.getpid()}")
# NumPy's OpenBLAS threads spin for a while after import, on the same 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CAP = 64  # topic capacity, and the batch of send/recv measured at once


def mark():
    os.getppid()


class Timer:
    """Accumulates the measured parts of a round (the parts between
    start() and stop()), per operation."""

    def __init__(self, callgrind):
        self.callgrind = callgrind
        self.labels = []  # for callgrind: the label of each segment a mark ends
        self.t0 = 0

    def start(self):
        if self.callgrind:
            mark()
            self.labels.append("-")
        self.t0 = time.perf_counter_ns()

    def stop(self, label):
        t = time.perf_counter_ns() - self.t0
        if self.callgrind:
            mark()
            self.labels.append(label)
        return t


def ops(horus, np):
    """name -> (setup, calls per round): setup() returns round(timer, b),
    which makes b calls of the operation and returns the ns they took."""
    table = {}

    def op(name):
        def reg(f):
            table[name] = f
            return f
        return reg

    @op("loop")
    def _():
        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                pass
            return tm.stop("loop")
        return rnd

    @op("Image(480x640)")
    def _():
        Image = horus.Image

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                Image(480, 640)
            return tm.stop("Image(480x640)")
        return rnd

    @op("Image(4x4)")
    def _():
        Image = horus.Image

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                Image(4, 4)  # the object's cost, without zeroing 900 KB on release
            return tm.stop("Image(4x4)")
        return rnd

    @op("Image.from_numpy(4x4x3)")
    def _():
        arr = np.zeros((4, 4, 3), np.uint8)
        from_numpy = horus.Image.from_numpy

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                from_numpy(arr)
            return tm.stop("Image.from_numpy(4x4x3)")
        return rnd

    @op("Image.from_numpy(view)")
    def _():
        arr = horus.Image(480, 640).to_numpy()  # already in a pool: no copy
        from_numpy = horus.Image.from_numpy

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                from_numpy(arr)
            return tm.stop("Image.from_numpy(view)")
        return rnd

    @op("img.to_numpy()")
    def _():
        img = horus.Image(480, 640)

        def rnd(tm, b):
            r = range(b)
            f = img.to_numpy
            tm.start()
            for _ in r:
                f()
            return tm.stop("img.to_numpy()")
        return rnd

    def topic_ops(cls, name, make):
        if cls is None:  # a generic topic: small Python objects, copied
            pub = horus.Topic(f"pyops.{name}", capacity=CAP)
            sub = horus.Topic(f"pyops.{name}", capacity=CAP)
        else:
            pub = horus.Topic(cls, f"pyops.{name}", capacity=CAP)
            sub = horus.Topic(cls, f"pyops.{name}", capacity=CAP)
        msg = make()
        send, recv = pub.send, sub.recv
        return pub, sub, msg, send, recv

    messages = {
        "Image": lambda: horus.Image(480, 640),
        "TensorHandle": lambda: horus.TensorPool().alloc([1024], dtype="uint8"),
        "bytes 64": lambda: bytes(64),  # generic topic: copied as they are
        "dict": lambda: {"x": 1, "y": [0.5, 2.0], "frame": "cam"},  # as JSON
    }
    for i, (cls_name, make_msg) in enumerate(messages.items()):
        cls = getattr(horus, cls_name, None)

        @op(f"send({cls_name})")
        def _(cls_name=cls_name, make_msg=make_msg, cls=cls, i=i):
            pub, sub, msg, send, recv = topic_ops(cls, f"s{i}", make_msg)

            def rnd(tm, b):
                t = 0
                for _ in range(b // CAP):
                    tm.start()
                    for _ in range(CAP):
                        send(msg)
                    t += tm.stop(f"send({cls_name})")
                    for _ in range(CAP):
                        recv()
                return t
            return rnd

        @op(f"recv({cls_name})")
        def _(cls_name=cls_name, make_msg=make_msg, cls=cls, i=i):
            pub, sub, msg, send, recv = topic_ops(cls, f"r{i}", make_msg)

            def rnd(tm, b):
                t = 0
                for _ in range(b // CAP):
                    for _ in range(CAP):
                        send(msg)
                    tm.start()
                    for _ in range(CAP):
                        recv()
                    t += tm.stop(f"recv({cls_name})")
                return t
            return rnd

    @op("recv(timeout=1)")
    def _():
        pub, sub, msg, send, recv = topic_ops(horus.Image, "rt", lambda: horus.Image(4, 4))

        def rnd(tm, b):
            t = 0
            for _ in range(b // CAP):
                for _ in range(CAP):
                    send(msg)
                tm.start()
                for _ in range(CAP):
                    recv(timeout=1.0)
                t += tm.stop("recv(timeout=1)")
            return t
        return rnd

    @op("recv() empty")
    def _():
        pub, sub, msg, send, recv = topic_ops(horus.Image, "re", lambda: horus.Image(4, 4))

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                recv()
            return tm.stop("recv() empty")
        return rnd

    @op("drop(received Image)")
    def _():
        pub, sub, msg, send, recv = topic_ops(horus.Image, "d", lambda: horus.Image(4, 4))

        def rnd(tm, b):
            t = 0
            for _ in range(b // CAP):
                for _ in range(CAP):
                    send(msg)
                got = [recv() for _ in range(CAP)]
                tm.start()
                got.clear()
                t += tm.stop("drop(received Image)")
            return t
        return rnd

    @op("camera step (VGA)")
    def _():
        # One message of the end-to-end case in one process: the producer
        # makes a new image and sends it; the consumer receives it, takes a
        # NumPy view and reads a pixel.  No payload is written (the bench's
        # producer writes one; that is memory bandwidth, not overhead).
        pub, sub, msg, send, recv = topic_ops(horus.Image, "cam", lambda: None)
        Image = horus.Image

        def rnd(tm, b):
            r = range(b)
            tm.start()
            for _ in r:
                send(Image(480, 640))
                recv().to_numpy()[0, 0, 0]
            return tm.stop("camera step (VGA)")
        return rnd

    return table


def run(args):
    import numpy as np

    import horus
    table = ops(horus, np)
    names = list(table) if not args.only else args.only.split(",")
    for n in names:
        if n not in table:
            sys.exit(f"unknown op {n!r}: one of {', '.join(table)}")
    tm = Timer(args.in_callgrind)
    res = {}
    try:
        for name in names:
            rnd = table[name]()
            batch = args.batch if not args.in_callgrind else 4 * CAP
            rounds = args.rounds if not args.in_callgrind else 1
            warm = Timer(False)
            for _ in range(3):
                rnd(warm, batch)  # warm-up: pools open, code paths hot
            per = sorted(rnd(tm, batch) / batch for _ in range(rounds))
            res[name] = {"ns": statistics.median(per), "p10": per[len(per) // 10],
                         "p90": per[len(per) * 9 // 10], "calls": batch * rounds}
            rnd = None
    finally:
        horus.clean(all=True)
    if args.in_callgrind:
        with open(args.in_callgrind, "w") as f:
            json.dump({"labels": tm.labels, "calls": {n: r["calls"] for n, r in res.items()}}, f)
    return res


def callgrind(args):
    """Run this script under callgrind and sum the measured segments."""
    with tempfile.TemporaryDirectory(prefix="pyops-cg-") as tmp:
        d = args.keep or tmp
        os.makedirs(d, exist_ok=True)
        meta = os.path.join(d, "labels.json")
        cmd = ["valgrind", "--tool=callgrind", "--dump-before=getppid",
               f"--callgrind-out-file={d}/cg.out", sys.executable, os.path.abspath(__file__),
               "--in-callgrind", meta]
        if args.only:
            cmd += ["--only", args.only]
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode:
            sys.exit(f"callgrind run failed:\n{p.stderr[-3000:]}")
        with open(meta) as f:
            m = json.load(f)
        dumps = {}
        for path in glob.glob(f"{d}/cg.out.*"):
            part = int(path.rsplit(".", 1)[1])
            with open(path) as f:
                for line in f:
                    if line.startswith("totals:") or line.startswith("summary:"):
                        dumps[part] = int(line.split()[1])
                        break
        # Dump k (1-based) ends at the k-th mark: the segment labels[k-1].
        instr = {}
        for k, label in enumerate(m["labels"], 1):
            if label != "-":
                instr[label] = instr.get(label, 0) + dumps[k]
        return {n: instr[n] / c for n, c in m["calls"].items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4 * CAP)
    ap.add_argument("--only", help="comma-separated operation names")
    ap.add_argument("--callgrind", action="store_true",
                    help="instructions per call, measured under valgrind's callgrind")
    ap.add_argument("--keep", metavar="DIR",
                    help="with --callgrind: keep the dumps in DIR (callgrind_annotate them)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    ap.add_argument("--in-callgrind", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.batch % CAP:
        sys.exit(f"--batch must be a multiple of {CAP}")
    if args.in_callgrind:
        run(args)
        return
    if args.callgrind:
        out = {n: {"instructions": round(v)} for n, v in callgrind(args).items()}
    else:
        out = {n: {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
               for n, r in run(args).items()}
    if args.json:
        print(json.dumps(out))
        return
    for n, r in out.items():
        if args.callgrind:
            print(f"{n:26s} {r['instructions']:10d} instructions/call")
        else:
            print(f"{n:26s} {r['ns']:10.1f} ns/call  (p10 {r['p10']:.1f}, p90 {r['p90']:.1f})")


if __name__ == "__main__":
    main()
