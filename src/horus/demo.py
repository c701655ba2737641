"""The demo: the spec's ML pipeline, for real, across two processes.

A camera process publishes 640x480 rgb8 Images at 30 Hz on Topic(Image),
drawing each frame straight into shared memory; a model process receives
them, turns each into a tensor with to_torch() (NumPy when PyTorch is
absent) and runs a small convolutional network on it.  Once a second the
model prints frames per second, capture-to-inference latency (median and
p99), frames dropped and pool usage.  At the end the demo removes its
topic and checks that the pool is back to zero bytes used.

    python -m horus demo [--seconds N]      (or: horus demo)
"""

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np

import horus
from horus import Image, Node, Scheduler, Topic

HEIGHT, WIDTH, RATE = 480, 640, 30


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


def model(seconds: float, ready_fd: int | None = None) -> None:
    name, infer = make_model()
    latencies: list[int] = []
    frames = [0]
    last_report: list[float | None] = [None]
    totals: dict[str, Any] = {"frames": 0, "latencies": []}

    def report() -> None:
        now = time.monotonic()
        if last_report[0] is None:
            return
        lat = np.array(latencies) / 1e6 if latencies else np.array([np.nan])
        stats = topic.stats()
        pool = horus.global_pool_stats()
        elapsed = now - last_report[0]
        print(f"[model] {frames[0] / elapsed:5.1f} fps | latency "
              f"median {np.median(lat):6.2f} ms p99 {np.percentile(lat, 99):6.2f} ms | "
              f"dropped {stats['dropped']} | pool {pool['used_bytes'] / 1e6:.1f} MB used "
              f"in {pool['allocated_slots']} blocks", flush=True)
        totals["latencies"].extend(latencies)
        latencies.clear()
        frames[0] = 0
        last_report[0] = now

    def tick(node: Node) -> None:
        img = topic.recv(timeout=0.05)
        if img is None:
            return
        latencies.append(time.monotonic_ns() - img.timestamp_ns)  # capture -> inference
        infer(img)
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
        report()
    lat = np.array(totals["latencies"]) / 1e6
    stats = topic.stats()
    print(f"[model] total {totals['frames']} frames, dropped {stats['dropped']}, latency "
          f"median {np.median(lat) if lat.size else float('nan'):.2f} ms, "
          f"p99 {np.percentile(lat, 99) if lat.size else float('nan'):.2f} ms", flush=True)
    topic.close()


def run_pipeline(seconds: float) -> int:
    # A namespace of its own: the demo cleans up everything it made at the
    # end, which must never touch another program's segments.
    env = dict(os.environ)
    env["HORUS_NAMESPACE"] = f"demo-{os.getpid()}"
    env.setdefault("HORUS_POOL_MB", "256")
    os.environ.update({k: env[k] for k in ("HORUS_NAMESPACE", "HORUS_POOL_MB")})
    print(f"horus demo: camera -> model, {WIDTH}x{HEIGHT} rgb8 at {RATE} Hz for "
          f"{seconds:g} s (namespace {env['HORUS_NAMESPACE']})", flush=True)
    cmd = [sys.executable, "-m", "horus.demo"]
    # The camera starts once the model is ready, so that it sees every frame.
    ready_r, ready_w = os.pipe()
    model_proc = subprocess.Popen([*cmd, "--role", "model", "--seconds", str(seconds + 0.5),
                                   "--ready-fd", str(ready_w)], env=env, pass_fds=(ready_w,))
    os.close(ready_w)
    ready = select.select([ready_r], [], [], 120)[0] and os.read(ready_r, 1)
    os.close(ready_r)
    if not ready:
        model_proc.kill()
        print("horus demo: the model process did not start", file=sys.stderr)
        return 1
    camera_proc = subprocess.Popen([*cmd, "--role", "camera", "--seconds", str(seconds)],
                                   env=env)
    interrupted = False
    for proc in (camera_proc, model_proc):
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # the children got it too and are stopping
                interrupted = True
    failed = [p.returncode for p in (camera_proc, model_proc) if p.returncode not in (0, -2)]

    # Nothing runs any more: remove the topic (its ring held the last frames),
    # reclaim, and the pool must be empty.
    horus.clean()
    horus.reclaim()
    pool = horus.global_pool_stats()
    leaked = pool["used_bytes"]
    print(f"horus demo: done{' (interrupted)' if interrupted else ''}; pool bytes leaked: "
          f"{leaked}", flush=True)
    horus.clean(all=True)
    if failed:
        print(f"horus demo: a process failed (exit codes {failed})", file=sys.stderr)
        return 1
    return 1 if leaked else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="horus demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long to run (default 10)")
    parser.add_argument("--role", choices=("camera", "model"), help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    if args.role == "camera":
        camera(args.seconds)
        return 0
    if args.role == "model":
        model(args.seconds, args.ready_fd)
        return 0
    return run_pipeline(args.seconds)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
