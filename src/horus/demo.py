"""The demo: the spec's ML pipeline, for real, across two processes.

A camera process publishes synthetic 640x480 rgb8 Images at 30 Hz on
Topic(Image), drawing each frame straight into shared memory; a model
process receives them, turns each into a tensor with to_torch() (NumPy when
PyTorch is absent), runs a small convolutional network on it and finds the
bright moving square.  Once a second the model prints frames per second,
latency from capture to inference done (median and p99), frames dropped and
pool usage.  At the end it saves its last frame with the square it found
drawn on it as a PNG, and the demo removes its namespace and checks that the
pool is back to zero bytes used.  SIGINT or SIGTERM to the launcher stops
both processes the same way (exit 130 / 143); a killed launcher's children
notice and exit within a second.

    python -m horus demo [--seconds N]      (or: horus demo)
"""

import argparse
import ctypes
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Any

import numpy as np

import horus
from horus import Image, Node, Scheduler, Topic

HEIGHT, WIDTH, RATE = 480, 640, 30


def watch_parent(parent: int | None) -> None:
    """Exit (as on SIGTERM) when the launcher dies, even by SIGKILL: the
    kernel sends SIGTERM when the parent thread exits (PR_SET_PDEATHSIG);
    the getppid() check covers a parent that died before the call."""
    if parent is None:
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        raise KeyboardInterrupt


def write_png(path: str, rgb: np.ndarray) -> None:
    """An 8-bit RGB PNG with the standard library's zlib (no imaging
    dependency for the demo)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def find_square(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bright square the camera draws: the box of the all-255 pixels."""
    mask = (pixels == 255).all(axis=-1)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def annotate(pixels: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    out = pixels.copy()
    if box:
        x0, y0, x1, y1 = box
        x0, y0 = max(x0 - 3, 0), max(y0 - 3, 0)
        x1, y1 = min(x1 + 3, out.shape[1] - 1), min(y1 + 3, out.shape[0] - 1)
        green = np.array([0, 255, 0], np.uint8)
        out[y0:y0 + 2, x0:x1 + 1] = green
        out[y1 - 1:y1 + 1, x0:x1 + 1] = green
        out[y0:y1 + 1, x0:x0 + 2] = green
        out[y0:y1 + 1, x1 - 1:x1 + 1] = green
    return out


def camera(seconds: float) -> None:
    """Publish synthetic moving frames: a gradient with a bright square
    sweeping across, written in place into each Image's shared memory."""
    topic = Topic(Image)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(xx * 255 // WIDTH), (yy * 255 // HEIGHT),
                     np.full_like(xx, 96)], axis=-1).astype(np.uint8)
    count = [0]

    def tick(node: Node) -> None:
        img = Image(HEIGHT, WIDTH, "rgb8")
        pixels = img.to_numpy()          # the shared block itself
        np.copyto(pixels, base)
        x = (count[0] * 8) % (WIDTH - 64)
        pixels[200:264, x:x + 64] = 255  # the moving square
        img.set_frame_id("camera_front")
        img.set_timestamp_ns(time.monotonic_ns())  # capture time, same clock everywhere
        topic.send(img)
        count[0] += 1

    scheduler = Scheduler()
    scheduler.add(Node(name="camera", tick=tick, rate=RATE))
    try:
        scheduler.run(duration=seconds)
    except KeyboardInterrupt:
        pass
    topic.close()


def make_model() -> tuple[str, Any]:
    """A small CNN (PyTorch) or, without PyTorch, the same shape of work in
    NumPy: returns (name, infer(img) -> class index)."""
    try:
        import torch
    except ImportError:
        kernel = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)

        def infer_numpy(img: Image) -> int:
            x = img.to_numpy()[::4, ::4].astype(np.float32) / 255.0
            features = np.maximum(x @ kernel, 0).mean(axis=(0, 1))
            return int(features.argmax())

        return "numpy (PyTorch not installed)", infer_numpy
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10),
    ).eval()

    def infer_torch(img: Image) -> int:
        tensor = img.to_torch()  # zero-copy view of the shared frame
        with torch.inference_mode():
            x = tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
            return int(net(x).argmax())

    return "torch CNN", infer_torch


def model(seconds: float, ready_fd: int | None = None, out_png: str | None = None) -> None:
    name, infer = make_model()
    latencies: list[int] = []
    frames = [0]
    last_report: list[float | None] = [None]
    totals: dict[str, Any] = {"frames": 0, "latencies": []}
    last: dict[str, Any] = {}

    def report(final: bool = False) -> None:
        now = time.monotonic()
        if last_report[0] is None:
            return
        lat = np.array(latencies) / 1e6 if latencies else np.array([np.nan])
        stats = topic.stats()
        pool = horus.global_pool_stats()
        elapsed = now - last_report[0]
        partial = f" (last {elapsed:.1f} s, partial)" if final and elapsed < 0.95 else ""
        print(f"[model] {frames[0] / elapsed:5.1f} fps | capture->inference done "
              f"median {np.median(lat):6.2f} ms p99 {np.percentile(lat, 99):6.2f} ms | "
              f"dropped {stats['dropped']} | pool {pool['used_bytes'] / 1e6:.1f} MB used "
              f"in {pool['allocated_slots']} blocks{partial}", flush=True)
        totals["latencies"].extend(latencies)
        latencies.clear()
        frames[0] = 0
        last_report[0] = now

    def tick(node: Node) -> None:
        img = topic.recv(timeout=0.05)
        if img is None:
            return
        infer(img)
        latencies.append(time.monotonic_ns() - img.timestamp_ns)  # capture -> inference done
        if out_png and frames[0] % 15 == 0:  # keep a recent frame to annotate at the end
            last["pixels"] = img.to_numpy().copy()
        del img
        frames[0] += 1
        totals["frames"] += 1
        if last_report[0] is None:  # the clock starts with the first frame
            last_report[0] = time.monotonic()
        elif time.monotonic() - last_report[0] >= 1.0:
            report()

    warm = Image(HEIGHT, WIDTH, "rgb8")  # first inference pays for lazy set-up
    warm.fill([0, 0, 0])
    infer(warm)
    del warm
    topic = Topic(Image)  # receives what is sent from now on
    print(f"[model] running {name} on {WIDTH}x{HEIGHT} rgb8 frames", flush=True)
    if ready_fd is not None:
        os.write(ready_fd, b"r")
        os.close(ready_fd)
    scheduler = Scheduler()
    scheduler.add(Node(name="model", tick=tick, rate=1000))
    try:
        scheduler.run(duration=seconds)
    except KeyboardInterrupt:
        pass
    if frames[0]:
        report(final=True)
    lat = np.array(totals["latencies"]) / 1e6
    stats = topic.stats()
    if out_png and "pixels" in last:
        box = find_square(last["pixels"])
        write_png(out_png, annotate(last["pixels"], box))
        print(f"[model] saved the last frame with the square it found ({box}) to {out_png}",
              flush=True)
    print(f"[model] total {totals['frames']} frames, dropped {stats['dropped']}, "
          f"capture->inference done "
          f"median {np.median(lat) if lat.size else float('nan'):.2f} ms, "
          f"p99 {np.percentile(lat, 99) if lat.size else float('nan'):.2f} ms", flush=True)
    topic.close()


def run_pipeline(seconds: float) -> int:
    # A namespace of its own: the demo cleans up everything it made at the
    # end, which must never touch another program's segments.
    env = dict(os.environ)
    ns = f"demo-{os.getpid()}"
    env["HORUS_NAMESPACE"] = ns
    env.setdefault("HORUS_POOL_MB", "256")
    os.environ.update({k: env[k] for k in ("HORUS_NAMESPACE", "HORUS_POOL_MB")})
    out_png = os.path.join(tempfile.gettempdir(), f"horus-demo-{os.getpid()}.png")
    print(f"horus demo: camera -> model, {WIDTH}x{HEIGHT} rgb8 at {RATE} Hz for {seconds:g} s "
          f"in namespace {ns}\n"
          f"  camera: synthetic frames (a gradient with a bright square sweeping across)\n"
          f"  model:  a small untrained CNN on each frame via to_torch() (zero-copy), and the\n"
          f"          box of the bright square\n"
          f"  watch it from a second terminal:\n"
          f"    horus --namespace {ns} topic hz image\n"
          f"    horus --namespace {ns} topic echo image --no-data\n"
          f"    horus --namespace {ns} view        (then open ws://127.0.0.1:8765 in Foxglove)\n"
          f"  Ctrl-C (or kill -TERM {os.getpid()}) stops it", flush=True)
    cmd = [sys.executable, "-m", "horus.demo", "--parent", str(os.getpid())]

    # SIGINT/SIGTERM to the launcher alone (kill, not only Ctrl-C at the
    # terminal) stop the children too: they get SIGINT and stop as on Ctrl-C.
    got: list[int] = []
    procs: list[subprocess.Popen[bytes]] = []

    def on_signal(sig: int, _frame: Any) -> None:
        if not got:
            got.append(sig)
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGINT)
                except ProcessLookupError:
                    pass

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # The camera starts once the model is ready, so that it sees every frame.
        ready_r, ready_w = os.pipe()
        model_proc = subprocess.Popen([*cmd, "--role", "model", "--seconds", str(seconds + 0.5),
                                       "--ready-fd", str(ready_w), "--png", out_png],
                                      env=env, pass_fds=(ready_w,))
        procs.append(model_proc)
        os.close(ready_w)
        ready = b""
        while not got:
            try:
                if select.select([ready_r], [], [], 120)[0]:
                    ready = os.read(ready_r, 1)
                break
            except InterruptedError:
                continue
        os.close(ready_r)
        if ready and not got:
            procs.append(subprocess.Popen([*cmd, "--role", "camera", "--seconds", str(seconds)],
                                          env=env))
            print(f"horus demo: camera pid {procs[1].pid}, model pid {model_proc.pid}",
                  flush=True)
        elif not got:
            model_proc.kill()
            print("horus demo: the model process did not start", file=sys.stderr)
        for proc in procs:
            proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if len(procs) < 2 and not got:
        horus.clean(all=True)
        return 1
    failed = [p.returncode for p in procs if p.returncode not in (0, -2, -15)]

    # Nothing runs any more: remove the topic (its ring held the last frames),
    # reclaim, and the pool must be empty.
    horus.clean()
    horus.reclaim()
    pool = horus.global_pool_stats()
    leaked = pool["used_bytes"]
    why = f" (stopped by {signal.Signals(got[0]).name})" if got else ""
    print(f"horus demo: done{why}; pool bytes leaked: {leaked}", flush=True)
    if os.path.exists(out_png):
        print(f"horus demo: the model's last frame, annotated: {out_png}", flush=True)
    horus.clean(all=True)
    if failed:
        print(f"horus demo: a process failed (exit codes {failed})", file=sys.stderr)
        return 1
    if got:
        return 128 + got[0]
    return 1 if leaked else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="horus demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long to run (default 10)")
    parser.add_argument("--role", choices=("camera", "model"), help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--png", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 1e6:  # NaN fails too
        parser.error("--seconds must be > 0 and at most 1e6")
    if args.role:
        # SIGTERM (the launcher dying, or kill) stops a child as Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            watch_parent(args.parent)
        except KeyboardInterrupt:
            return 0
    if args.role == "camera":
        camera(args.seconds)
        return 0
    if args.role == "model":
        model(args.seconds, args.ready_fd, args.png)
        return 0
    return run_pipeline(args.seconds)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
