"""Conversion costs against their framework baselines, measured in one run.

to_numpy() vs np.frombuffer on a memoryview of the same size; to_torch() vs
torch.from_numpy; to_jax() vs jnp.asarray of a NumPy array (which copies:
listed for scale); TensorHandle.from_dlpack of foreign memory vs np.copyto;
a new (zeroed) Image vs np.zeros, alone and with one write of every byte.
Each number is the median over repeats of a timed loop.  Prints JSON lines.
Usage: python bench/convert.py [--quick]
"""

import gc
import json
import statistics
import sys
import time

import numpy as np

import horus


def per_call_ns(fn, loops, repeats):
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter_ns() - t0) / loops)
    return statistics.median(samples)


def emit(case, ours, baseline, base_name, bar=None):
    ratio = ours / baseline
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
    ours = per_call_ns(t.to_numpy, loops, repeats)
    base = per_call_ns(lambda: np.frombuffer(mv, np.uint8).reshape(480, 640, 3), loops, repeats)
    rows.append(emit("to_numpy 640x480x3 u8", ours, base, "np.frombuffer(memoryview)", 2.0))
    ours = per_call_ns(lambda: np.asarray(t), loops, repeats)
    rows.append(emit("np.asarray(handle)", ours, base, "np.frombuffer(memoryview)"))
    try:
        import torch
        arr = np.zeros((480, 640, 3), np.uint8)
        ours = per_call_ns(t.to_torch, loops, repeats)
        base = per_call_ns(lambda: torch.from_numpy(arr), loops, repeats)
        rows.append(emit("to_torch 640x480x3 u8", ours, base, "torch.from_numpy", 1.5))
    except ImportError:
        print(json.dumps({"case": "to_torch", "skipped": "torch not installed"}))
    try:
        import jax.numpy as jnp
        arr = np.zeros((480, 640, 3), np.float32)
        tf = pool.alloc([480, 640, 3], dtype="float32")
        ours = per_call_ns(tf.to_jax, loops // 10, repeats)
        base = per_call_ns(lambda: jnp.asarray(arr), loops // 10, repeats)
        rows.append(emit("to_jax 640x480x3 f32", ours, base, "jnp.asarray (copies)"))
    except ImportError:
        print(json.dumps({"case": "to_jax", "skipped": "jax not installed"}))
    frame = np.random.randint(0, 255, (1080, 1920, 3), np.uint8)
    dst = np.empty_like(frame)

    def import_frame():
        h = horus.TensorHandle.from_dlpack(frame)
        h.release()

    ours = per_call_ns(import_frame, loops // 100, repeats)
    base = per_call_ns(lambda: np.copyto(dst, frame), loops // 100, repeats)
    # A bandwidth bar: ours must reach >= 80% of copyto's, i.e. time <= 1.25x.
    rows.append(emit("from_dlpack copy 1920x1080x3 u8", ours, base, "np.copyto", 1.25))
    ours = per_call_ns(lambda: horus.Image.from_numpy(frame, encoding="rgb8"), loops // 100,
                       repeats)
    rows.append(emit("Image.from_numpy 1920x1080 rgb8", ours, base, "np.copyto", 1.25))
    # New images are zeroed (a freed block is cleared when it is freed, so
    # creating one writes nothing): compare with np.zeros, which is what a
    # zeroed array costs NumPy, in the same run.
    for h, w in ((480, 640), (1080, 1920)):
        n = loops if h == 480 else loops // 20
        ours = per_call_ns(lambda: horus.Image(h, w, "rgb8"), n, repeats)
        base = per_call_ns(lambda: np.zeros((h, w, 3), np.uint8), n, repeats)
        rows.append(emit(f"Image({h}, {w}, rgb8) create+drop", ours, base, "np.zeros", 2.0))

        def create_write():
            horus.Image(h, w, "rgb8").to_numpy()[:] = 7

        def zeros_write():
            np.zeros((h, w, 3), np.uint8)[:] = 7

        ours = per_call_ns(create_write, n // 4, repeats)
        base = per_call_ns(zeros_write, n // 4, repeats)
        rows.append(emit(f"Image({h}, {w}, rgb8) create+write+drop", ours, base,
                         "np.zeros + the same write", 1.2))
    gc.enable()
    return rows


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
