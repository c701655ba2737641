"""Every benchmark in one run, side by side with the peers, as ratios to
baselines measured in the same run.  Writes bench/results/report.md (and
latency.png when matplotlib is installed) and prints the table.

    python bench/run.py [--quick] [--build-dir DIR] [--out DIR]

--quick runs a few seconds per case (CI runs it so nothing rots; it asserts
nothing about speed).  A peer that cannot be imported is reported as such.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
KB = {1 << 10: "1 KB", 64 << 10: "64 KB", 1 << 20: "1 MB", 8 << 20: "8 MB", 64 << 20: "64 MB"}


def run_json(cmd, timeout=300):
    """Run one case in its own process group, so a case that hangs is killed
    with everything it started and the run goes on."""
    env = dict(os.environ)
    env.setdefault("HORUS_NAMESPACE", f"bench-{os.getpid()}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"timed out after {timeout} s")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): "
                           f"{err.strip()[-500:]}")
    return rows


def build(build_dir):
    exes = ["topic_latency", "topic_throughput", "pool_alloc", "sched_jitter"]
    if all(os.access(os.path.join(build_dir, e), os.X_OK) for e in exes):
        return
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DHORUS_BUILD_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "--target", *exes], check=True,
                   stdout=subprocess.DEVNULL)


SHM = "/dev/shm"


def shm_entries():
    return set(os.listdir(SHM)) if os.path.isdir(SHM) else set()


def remove_peer_leftovers(before):
    """The peers (iceoryx2, Zenoh) leave segments in /dev/shm, and a case
    killed on a timeout leaves more; remove the ones this run created."""
    for name in shm_entries() - before:
        if name.startswith("iox2_") or name.endswith(".zenoh"):
            try:
                os.unlink(os.path.join(SHM, name))
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    n_c, n_py = (2000, 500) if args.quick else (20000, 3000)
    shm_before = shm_entries()
    build(args.build_dir)
    exe = lambda name: os.path.join(args.build_dir, name)  # noqa: E731
    py = sys.executable
    results, notes = {}, []

    def case(key, cmd, timeout=120 if args.quick else 600):
        try:
            rows = run_json(cmd, timeout)
            results[key] = rows[-1] if len(rows) == 1 else rows
            print(json.dumps({"key": key, **(rows[-1] if len(rows) == 1 else {"rows": rows})}),
                  flush=True)
        except Exception as e:  # a peer or case that cannot run is reported, not dropped
            notes.append(f"{key}: not measured: {e}")
            print(f"{key}: not measured: {e}", flush=True)

    # 1. The machine's floor and horus C to C.
    case("floor-busy", [exe("topic_latency"), "floor-busy", str(n_c)])
    case("floor-futex", [exe("topic_latency"), "floor-futex", str(n_c // 4)])
    for size in SIZES:
        case(f"c-busy-{size}", [exe("topic_latency"), "horus-busy", str(size), str(n_c)])
    case("c-block-1MB", [exe("topic_latency"), "horus-block", str(1 << 20), str(n_c // 4)])
    # 2. Python to Python, horus and peers.
    lat = os.path.join(HERE, "py_latency.py")
    case("py-image-busy", [py, lat, "horus-image-busy", "921600", str(n_py)])
    case("py-image-block", [py, lat, "horus-image-block", "921600", str(n_py)])
    for size in SIZES:
        case(f"py-busy-{size}", [py, lat, "horus-busy", str(size), str(n_py)])
    for peer in ("iceoryx2", "zmq", "shm-pipe", "zenoh"):
        case(f"peer-{peer}", [py, lat, peer, str(1 << 20), str(n_py)])
    notes.append("eclipse-zenoh is measured with plain put/subscribe between two peers on "
                 "loopback TCP; a ping-pong over its zenoh.shm ShmProvider buffers hung in this "
                 "harness and is not reported")
    # Throughput: one publisher to one and to three subscribers.
    tsecs = "0.5" if args.quick else "2"
    for k in (1, 3):
        for size in (1 << 10, 921600):
            case(f"tput-{k}-{size}", [exe("topic_throughput"), str(k), str(size), tsecs])
    # 3. Conversions, pool, scheduler.
    case("convert", [py, os.path.join(HERE, "convert.py")] + (["--quick"] if args.quick else []))
    case("pool", [exe("pool_alloc"), str(n_c)])
    secs = "1" if args.quick else "5"
    case("sched-c", [exe("sched_jitter"), secs])
    case("sched-py", [py, os.path.join(HERE, "sched_jitter.py"), secs])

    subprocess.run([py, "-c", "import horus; horus.clean(all=True)"],
                   env={**os.environ, "HORUS_NAMESPACE": f"bench-{os.getpid()}"})
    remove_peer_leftovers(shm_before)
    os.makedirs(args.out, exist_ok=True)
    report = render(results, notes, args.quick)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(results, os.path.join(args.out, "latency.png"), notes)
    print(report)
    return 0


def us(ns):
    return f"{ns / 1000:.2f} us"


def bar_row(rows, what, value, bar, met):
    rows.append(f"| {what} | {value} | {bar} | {'met' if met else '**not met**'} |")


def render(r, notes, quick):
    out = [f"# horus benchmarks{' (quick)' if quick else ''}", "",
           f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, "
           f"{os.cpu_count()} cores, Linux {platform.release()}, Python "
           f"{platform.python_version()}. Reproduce: `python bench/run.py`.", ""]
    rows = ["| bar | measured | target | |", "|---|---|---|---|"]
    g = lambda k, f="median_ns": r.get(k, {}).get(f) if isinstance(r.get(k), dict) else None  # noqa
    fb, ff = g("floor-busy"), g("floor-futex")
    c1k, c1m, c64m = g(f"c-busy-{1 << 10}"), g(f"c-busy-{1 << 20}"), g(f"c-busy-{64 << 20}")
    if fb and c1m:
        bar_row(rows, "C to C one-way, busy-poll, 1 MB / floor", f"{c1m / fb:.2f}x "
                f"({us(c1m)} / {us(fb)})", "<= 1.5x", c1m / fb <= 1.5)
    if c1k and c64m:
        bar_row(rows, "C to C latency 64 MB / 1 KB", f"{c64m / c1k:.3f}", "<= 1.2",
                c64m / c1k <= 1.2)
    cb = g("c-block-1MB")
    if cb and ff:
        bar_row(rows, "blocking recv wake-up / futex floor (C)", f"{cb / ff:.2f}x "
                f"({us(cb)} / {us(ff)})", "<= 1.5x", cb / ff <= 1.5)
    pi, pib = g("py-image-busy"), g("py-image-block")
    if pi:
        bar_row(rows, "Python to Python, 640x480 rgb8, busy-poll", us(pi), "<= 5 us", pi <= 5000)
    if pib and ff:
        bar_row(rows, "blocking recv wake-up / futex floor (Python)", f"{pib / ff:.2f}x",
                "<= 1.5x", pib / ff <= 1.5)
    p1m = g(f"py-busy-{1 << 20}")
    for peer, bar in (("iceoryx2", 2), ("zmq", 100)):
        v = g(f"peer-{peer}")
        if v and p1m:
            bar_row(rows, f"{peer} / horus at 1 MB (Python)", f"{v / p1m:.1f}x", f">= {bar}x",
                    v / p1m >= bar)
    for row in r.get("convert", []) if isinstance(r.get("convert"), list) else []:
        if "bar" in row:
            bar_row(rows, f"{row['case']} / {row['baseline']}", f"{row['ratio']:.2f}x",
                    f"<= {row['bar']}x", row["met"])
    pool = r.get("pool")
    frag = None
    if isinstance(pool, list):
        for row in pool:
            if row["case"].startswith("horus_pool_alloc"):
                bar_row(rows, "pool alloc + release (C), median", f"{row['median_ns']:.0f} ns",
                        "<= 100 ns", row["median_ns"] <= 100)
            if row["case"] == "fragmentation":
                frag = row
    for k, label, over in (("sched-c", "C", 1000), ("sched-py", "Python", 2000)):
        s = r.get(k)
        if isinstance(s, dict):
            bar_row(rows, f"1 kHz {label} node: rate error", f"{abs(s['rate_error']) * 100:.3f}%",
                    "<= 1%", abs(s["rate_error"]) <= 0.01)
            bar_row(rows, f"1 kHz {label} node: p99 jitter", us(s["jitter_p99_ns"]), "<= 200 us",
                    s["jitter_p99_ns"] <= 200000)
            bar_row(rows, f"scheduler overhead per tick ({label})", f"{s['overhead_ns']:.0f} ns",
                    f"<= {over} ns", s["overhead_ns"] <= over)
    out += ["## Bars", ""] + rows + [""]
    out += ["## One-way latency by payload size (median / p99)", "",
            "| payload | horus C busy | horus Python busy |", "|---|---|---|"]
    for size in SIZES:
        c, p = r.get(f"c-busy-{size}"), r.get(f"py-busy-{size}")
        fmt = lambda x: f"{us(x['median_ns'])} / {us(x['p99_ns'])}" if isinstance(x, dict) else "-"  # noqa
        out.append(f"| {KB[size]} | {fmt(c)} | {fmt(p)} |")
    out += ["", "## Python to Python at 1 MB, side by side (median / p99)", "",
            "| transport | one-way |", "|---|---|"]
    for k, label in ((f"py-busy-{1 << 20}", "horus (busy-poll)"), ("py-image-block", "horus "
                     "(blocking recv, 640x480 rgb8)"), ("peer-iceoryx2", "iceoryx2 (Python)"),
                     ("peer-shm-pipe", "multiprocessing.shared_memory + pipe"),
                     ("peer-zenoh", "eclipse-zenoh (put/subscribe, peers on loopback TCP)"),
                     ("peer-zmq", "pyzmq ipc:// copy=False")):
        x = r.get(k)
        if isinstance(x, dict):
            out.append(f"| {label} | {us(x['median_ns'])} / {us(x['p99_ns'])} |")
    out += ["", "## Throughput, one publisher (C), what the slowest subscriber received", "",
            "| subscribers | payload | messages/s | GB/s made available | dropped |",
            "|---|---|---|---|---|"]
    for k in (1, 3):
        for size in (1 << 10, 921600):
            x = r.get(f"tput-{k}-{size}")
            if isinstance(x, dict):
                out.append(f"| {k} | {'1 KB' if size == 1024 else '640x480 rgb8'} | "
                           f"{x['received_per_s_slowest']:,.0f} | {x['gb_per_s_slowest']:.1f} | "
                           f"{x['dropped_total']} |")
    if frag:
        out += ["", f"Pool fragmentation under random mixed sizes (1 KB to 8 MB, live bytes "
                f"near half the pool): {frag['allocations']} allocations, "
                f"{frag['failed_for_room']} failed for want of a contiguous block; the "
                f"largest free block was always at least "
                f"{frag['worst_largest_free_over_free'] * 100:.0f}% of the free bytes."]
    out += ["", "Floor: two processes ping-ponging one cache line "
            f"{us(fb) if fb else '-'} one way; with futex wait/wake {us(ff) if ff else '-'}.", ""]
    if notes:
        out += ["## Not measured", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


def plot(r, path, notes):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        notes.append("latency plot: matplotlib is not installed")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for prefix, label in (("c-busy", "horus C to C"), ("py-busy", "horus Python to Python")):
        xs = [s for s in SIZES if isinstance(r.get(f"{prefix}-{s}"), dict)]
        ax.plot(xs, [r[f"{prefix}-{s}"]["median_ns"] / 1000 for s in xs], "o-", label=label)
    for k, label in (("peer-iceoryx2", "iceoryx2 Python, 1 MB"), ("peer-zmq", "pyzmq, 1 MB"),
                     ("peer-zenoh", "zenoh, 1 MB"),
                     ("peer-shm-pipe", "shared_memory + pipe, 1 MB")):
        if isinstance(r.get(k), dict):
            ax.plot([1 << 20], [r[k]["median_ns"] / 1000], "s", label=label)
    if isinstance(r.get("floor-busy"), dict):
        ax.axhline(r["floor-busy"]["median_ns"] / 1000, color="gray", ls="--", label="floor (busy)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("payload (bytes)")
    ax.set_ylabel("one-way latency, median (us)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
