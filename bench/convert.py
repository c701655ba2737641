"""Conversion costs against their framework baselines, measured in one run.

to_numpy() vs np.frombuffer on a memoryview of the same size; to_torch() vs
torch.from_numpy; to_jax() vs jnp.asarray of a NumPy array (which copies:
listed for scale); TensorHandle.from_dlpack of foreign memory vs np.copyto;
a new (zeroed) Image vs np.zeros, alone and with one write of every byte.
Each operation and its baseline are timed in alternation, repeat by repeat
(a timed loop each); times are medians over repeats, the ratio the median
of the per-repeat ratios.  Prints JSON lines.
Usage: python bench/convert.py [--quick]
"""

import gc
import json
import statistics
import sys
import time

import numpy as np

import horus


def per_call_ns(fn, loops):
    t0 = time.perf_counter_ns()
    for _ in range(loops):
        fn()
    return (time.perf_counter_ns() - t0) / loops


def paired(ours_fn, base_fn, loops, repeats):
    """(ours, baseline, ratio): the operation and its baseline timed in
    alternation, repeat by repeat, so that both see the same moments of a
    shared machine; the times are medians over repeats, the ratio the
    median of the per-repeat ratios."""
    ours, base = [], []
    for _ in range(repeats):
        ours.append(per_call_ns(ours_fn, loops))
        base.append(per_call_ns(base_fn, loops))
    ratio = statistics.median(o / b for o, b in zip(ours, base))
    return statistics.median(ours), statistics.median(base), ratio


def emit(case, measured, base_name, bar=None):
    ours, baseline, ratio = measured
    row = {"case": case, "ns": round(ours, 1), "baseline": base_name,
           "baseline_ns": round(baseline, 1), "ratio": round(ratio, 3)}
    if bar is not None:
        row["bar"] = bar
        row["met"] = ratio <= bar
    print(json.dumps(row), flush=True)
    return row


def main(quick=False):
    loops, repeats = (2000, 5) if quick else (20000, 15)
    pool = horus.TensorPool(pool_id=9, size_mb=256, max_slots=256)
    t = pool.alloc([480, 640, 3], dtype="uint8")
    mv = memoryview(bytearray(t.nbytes))
    gc.disable()
    rows = []
    def frombuffer():
        return np.frombuffer(mv, np.uint8).reshape(480, 640, 3)

    rows.append(emit("to_numpy 640x480x3 u8", paired(t.to_numpy, frombuffer, loops, repeats),
                     "np.frombuffer(memoryview)", 2.0))
    rows.append(emit("np.asarray(handle)", paired(lambda: np.asarray(t), frombuffer, loops,
                                                  repeats), "np.frombuffer(memoryview)"))
    try:
        import torch
        arr = np.zeros((480, 640, 3), np.uint8)
        rows.append(emit("to_torch 640x480x3 u8",
                         paired(t.to_torch, lambda: torch.from_numpy(arr), loops, repeats),
                         "torch.from_numpy", 1.5))
    except ImportError:
        print(json.dumps({"case": "to_torch", "skipped": "torch not installed"}))
    try:
        import jax.numpy as jnp
        arr = np.zeros((480, 640, 3), np.float32)
        tf = pool.alloc([480, 640, 3], dtype="float32")
        rows.append(emit("to_jax 640x480x3 f32",
                         paired(tf.to_jax, lambda: jnp.asarray(arr), loops // 10, repeats),
                         "jnp.asarray (copies)"))
    except ImportError:
        print(json.dumps({"case": "to_jax", "skipped": "jax not installed"}))
    frame = np.random.randint(0, 255, (1080, 1920, 3), np.uint8)
    dst = np.empty_like(frame)

    def import_frame():
        h = horus.TensorHandle.from_dlpack(frame)
        h.release()

    def copyto():
        np.copyto(dst, frame)

    # A bandwidth bar: ours must reach >= 80% of copyto's, i.e. time <= 1.25x.
    rows.append(emit("from_dlpack copy 1920x1080x3 u8",
                     paired(import_frame, copyto, loops // 100, repeats), "np.copyto", 1.25))
    rows.append(emit("Image.from_numpy 1920x1080 rgb8",
                     paired(lambda: horus.Image.from_numpy(frame, encoding="rgb8"), copyto,
                            loops // 100, repeats), "np.copyto", 1.25))
    # New images are zeroed (a freed block is cleared when it is freed, so
    # creating one writes nothing): compare with np.zeros, which is what a
    # zeroed array costs NumPy, in the same run.
    for h, w in ((480, 640), (1080, 1920)):
        n = loops if h == 480 else loops // 20
        rows.append(emit(f"Image({h}, {w}, rgb8) create+drop",
                         paired(lambda: horus.Image(h, w, "rgb8"),
                                lambda: np.zeros((h, w, 3), np.uint8), n, repeats),
                         "np.zeros", 2.0))

        def create_write():
            horus.Image(h, w, "rgb8").to_numpy()[:] = 7

        def zeros_write():
            np.zeros((h, w, 3), np.uint8)[:] = 7

        rows.append(emit(f"Image({h}, {w}, rgb8) create+write+drop",
                         paired(create_write, zeros_write, n // 4, repeats),
                         "np.zeros + the same write", 1.2))
    gc.enable()
    return rows


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
