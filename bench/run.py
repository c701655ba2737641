"""Every benchmark in one run, side by side with the peers, as ratios to
baselines measured in the same run.  Writes report.md, results.json and
latency.png to --out and prints the report; a full run (not --quick) also
publishes them: bench/REPORT.md, bench/latency.png and the numbers in the
README's "Benchmarks" section, so every number a reader sees comes from one
run of this script.

    python bench/run.py [--quick] [--no-publish] [--build-dir DIR] [--out DIR]

--quick runs a few seconds per case (CI runs it so nothing rots; it asserts
nothing about speed) and never publishes.  A peer that cannot be imported or
started is reported as such, never a failure.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
KB = {1 << 10: "1 KB", 64 << 10: "64 KB", 1 << 20: "1 MB", 8 << 20: "8 MB", 64 << 20: "64 MB",
      921600: "640x480x3", 6220800: "1920x1080x3"}
CAM = {921600: "640x480 rgb8", 6220800: "1920x1080 rgb8"}
DORA_SIZES = [1 << 10, 921600, 8 << 20]
HAND_MARK = "<!-- Everything below this line is written by hand; bench/run.py keeps it. -->"
README_BEGIN = "<!-- bench:begin: written by bench/run.py from bench/REPORT.md; do not edit -->"
README_END = "<!-- bench:end -->"


def rel(path):
    return os.path.relpath(path, ROOT) if os.path.isabs(str(path)) else str(path)


def show(cmd):
    """The command as a reader types it from the repository root."""
    def one(c):
        c = str(c)
        if c == sys.executable:
            return "python"
        if os.path.isabs(c) and not c.startswith(ROOT + os.sep):
            return os.path.basename(c)  # a tool on PATH (valgrind)
        return rel(c) if os.sep in c else c
    return " ".join(one(c) for c in cmd)


def run_json(cmd, timeout=300):
    """Run one case in its own process group, so a case that hangs is killed
    with everything it started and the run goes on."""
    env = dict(os.environ)
    env["HORUS_NAMESPACE"] = f"bench-{os.getpid()}"  # its own: the run ends with clean(all)
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
        raise RuntimeError(f"{show(cmd)} failed ({proc.returncode}): {err.strip()[-500:]}")
    return rows


def build(build_dir):
    """Configure once, and always bring the bench programs up to date (a
    stale binary would report the library as it was)."""
    exes = ["topic_latency", "topic_throughput", "pool_alloc", "sched_jitter"]
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
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


def med(xs):
    return statistics.median(xs) if xs else None


def pair_summary(a_rows, b_rows, ratio):
    """ratio(a, b) per pair; medians of the sides' medians and p99s."""
    rs = sorted(ratio(a["median_ns"], b["median_ns"]) for a, b in zip(a_rows, b_rows))
    return {"pairs": len(rs), "ratio_median": med(rs), "ratio_min": rs[0], "ratio_max": rs[-1],
            "a_median_ns": med([a["median_ns"] for a in a_rows]),
            "a_p99_ns": med([a["p99_ns"] for a in a_rows]),
            "a_min_ns": min(a["median_ns"] for a in a_rows),
            "a_max_ns": max(a["median_ns"] for a in a_rows),
            "b_median_ns": med([b["median_ns"] for b in b_rows]),
            "b_p99_ns": med([b["p99_ns"] for b in b_rows]),
            "b_min_ns": min(b["median_ns"] for b in b_rows),
            "b_max_ns": max(b["median_ns"] for b in b_rows),
            "n": b_rows[0].get("n"), "a": a_rows, "b": b_rows}


def callgrind_instructions(exe, size, n, timeout):
    """Instructions per message of send, recv and release (and of the
    floor's store and load) from callgrind's inclusive costs of the
    functions topic_latency's "instr" mode runs each operation in, summed
    over both processes and divided by the calls (setup and warm-up run in
    other functions)."""
    per, cmd = callgrind_inclusive([exe, "instr", str(size), str(n)], timeout)
    calls = 2 * n  # each of the two processes sends, receives and releases n times
    row = {k: per.get(f, 0) / calls for k, f in (("send", "bench_send"),
                                                  ("recv", "bench_recv"),
                                                  ("release", "bench_release"),
                                                  ("floor_store", "floor_store"),
                                                  ("floor_load", "floor_load"))}
    # Where they go: core functions, counted with the warm-up calls (200
    # per process), so approximate.
    total_calls = 2 * (n + 200)
    core = {k: v / total_calls for k, v in per.items()
            if (k.startswith("horus") or k in ("pool_lock", "topic_lock", "try_recv",
                                                "ring_release", "account"))
            and not re.search(r"open|close|clean|attach", k) and v / total_calls >= 20}
    row["core"] = dict(sorted(core.items(), key=lambda kv: -kv[1])[:16])
    row["n"] = n
    row["cmd"] = cmd
    return row


def callgrind_inclusive(argv, timeout):
    """Run argv under callgrind (children too) and give every function's
    inclusive instruction count summed over the processes, and the command
    as the report shows it."""
    valgrind, annotate = shutil.which("valgrind"), shutil.which("callgrind_annotate")
    if not valgrind or not annotate:
        raise RuntimeError("valgrind (callgrind) is not installed")
    tmp = tempfile.mkdtemp(prefix="horus-callgrind-")
    try:
        cmd = [valgrind, "--tool=callgrind", "--trace-children=yes",
               f"--callgrind-out-file={tmp}/cg.%p", *argv]
        run_json(cmd, timeout)
        per = {}
        for f in sorted(os.listdir(tmp)):
            out = subprocess.run([annotate, "--inclusive=yes", "--threshold=100",
                                  os.path.join(tmp, f)], capture_output=True, text=True,
                                 timeout=120).stdout
            for line in out.splitlines():
                m = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+\S*?:([A-Za-z_][\w.]*)\s", line)
                if m:
                    per[m.group(2)] = per.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
        return per, show([c.replace(tmp, "OUT") for c in cmd])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def callgrind_alloc(exe, n, timeout):
    """Instructions per alloc+release of the allocator alone (pool_alloc's
    "instr" mode: n batches of 64 random sizes), and the parts of it: the
    pool lock (taken twice: to allocate, and by the last release to free)
    and the TLSF allocator."""
    per, cmd = callgrind_inclusive([exe, "instr", str(n)], timeout)
    calls = 64 * n
    return {"alloc_release": per.get("alloc_release_uninit", 0) / calls,
            "lock": (per.get("horus__lock_acquire", 0) + per.get("horus__lock_release", 0)) / calls,
            "tlsf": (per.get("horus__tlsf_alloc", 0) + per.get("horus__tlsf_free", 0)) / calls,
            "n": n, "cmd": cmd}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-publish", action="store_true",
                    help="leave bench/REPORT.md, bench/latency.png and README.md alone")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--from-json", metavar="RESULTS_JSON",
                    help="measure nothing: render the report of an earlier run's results.json")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        return finish(args, saved["results"], saved["notes"], saved["commands"], saved["meta"])
    quick = args.quick
    t_start = time.monotonic()
    load_before = os.getloadavg()
    # Message counts: >= 10,000 per measurement in a full run (the bars ask
    # for it); --quick only checks that every case still runs.
    n_c, n_block, n_py, n_cam = (2000, 1000, 500, 500) if quick else (20000, 10000, 10000, 10000)
    c_pairs, py_pairs, cam_pairs = (5, 2, 1) if quick else (7, 5, 3)
    shm_before = shm_entries()
    build(args.build_dir)
    exe = lambda name: os.path.join(args.build_dir, name)  # noqa: E731
    py = sys.executable
    lat = os.path.join(HERE, "py_latency.py")
    results, notes, cmds = {}, [], {}
    tmo = 120 if quick else 900

    def case(key, cmd, timeout=tmo):
        cmds[key] = show(cmd)
        try:
            rows = run_json(cmd, timeout)
            results[key] = rows[-1] if len(rows) == 1 else rows
            print(json.dumps({"key": key, **(rows[-1] if len(rows) == 1 else {"rows": rows})}),
                  flush=True)
        except Exception as e:  # a peer or case that cannot run is reported, not dropped
            notes.append(f"{key}: not measured: {e}")
            print(f"{key}: not measured: {e}", flush=True)

    def c_pairs_case(key, mode, size, n, place):
        """topic_latency's own interleaving: floor, horus, floor, horus..."""
        cmd = [exe("topic_latency"), "pairs", mode, str(size), str(n), str(c_pairs), place]
        cmds[key] = show(cmd)
        try:
            rows = run_json(cmd, tmo)
            a = [r for r in rows if r["case"].startswith("floor")]
            b = [r for r in rows if r["case"].startswith("horus")]
            results[key] = pair_summary(a, b, lambda x, y: y / x)
            s = results[key]
            print(json.dumps({"key": key, "ratio_median": s["ratio_median"],
                              "floor_ns": s["a_median_ns"], "horus_ns": s["b_median_ns"]}),
                  flush=True)
        except Exception as e:
            notes.append(f"{key}: not measured: {e}")
            print(f"{key}: not measured: {e}", flush=True)

    def interleave(key, a_cmd, b_cmd, pairs, ratio):
        """a, b, a, b, ...: each pair measured back to back, so both sides
        of a ratio see the same vCPU placement and machine load."""
        cmds[key] = (f"{show(a_cmd)}  alternated with  {show(b_cmd)}  "
                     f"({pairs} pair{'s' if pairs > 1 else ''})")
        a_rows, b_rows = [], []
        try:
            for _ in range(pairs):
                a_rows.append(run_json(a_cmd, tmo)[-1])
                b_rows.append(run_json(b_cmd, tmo)[-1])
            results[key] = pair_summary(a_rows, b_rows, ratio)
            s = results[key]
            print(json.dumps({"key": key, "ratio_median": s["ratio_median"],
                              "a_ns": s["a_median_ns"], "b_ns": s["b_median_ns"]}), flush=True)
        except Exception as e:
            notes.append(f"{key}: not measured: {e}")
            print(f"{key}: not measured: {e}", flush=True)

    # 1. C to C against the machine's floor, interleaved in pairs.
    for size in SIZES:
        c_pairs_case(f"c-busy-{size}", "busy", size, n_c, "split")
    for place in ("same", "split", "free"):
        c_pairs_case(f"c-block-{place}", "block", 1 << 20, n_block, place)
    try:
        results["instr"] = callgrind_instructions(exe("topic_latency"), 1 << 20,
                                                  300 if quick else 2000, tmo)
        cmds["instr"] = results["instr"]["cmd"]
        print(json.dumps({"key": "instr", **{k: v for k, v in results["instr"].items()
                                             if k != "core"}}), flush=True)
    except Exception as e:
        notes.append(f"instructions per message: not measured: {e}")
    # 2. Python to Python, horus and peers.
    for size in SIZES:
        case(f"py-busy-{size}", [py, lat, "horus-busy", str(size), str(n_py), "--place", "split"])
    interleave("py-vs-c-busy", [exe("topic_latency"), "horus-busy", str(1 << 20), str(n_py),
                                "split"],
               [py, lat, "horus-busy", str(1 << 20), str(n_py), "--place", "split"], py_pairs,
               lambda c, p: p / c)
    case("py-image-busy", [py, lat, "horus-image-busy", "921600", str(n_py), "--place", "split"])
    for place in ("same", "split"):
        interleave(f"py-block-{place}",
                   [exe("topic_latency"), "floor-futex", str(n_block), place],
                   [py, lat, "horus-image-block", "921600", str(n_block), "--place", place],
                   py_pairs, lambda f, p: p / f)
    case("py-block-free", [py, lat, "horus-image-block", "921600", str(n_block)])
    case("peer-iceoryx2", [py, lat, "iceoryx2", str(1 << 20), str(n_py), "--place", "split"])
    for peer in ("zmq", "shm-pipe", "zenoh"):
        case(f"peer-{peer}", [py, lat, peer, str(1 << 20), str(n_py)])
    notes.append("eclipse-zenoh is measured with plain put/subscribe between two peers on "
                 "loopback TCP; a ping-pong over its zenoh.shm ShmProvider buffers hung in this "
                 "harness and is not reported")
    # End to end as a camera pipeline: horus and iceoryx2 alternated.
    for size in CAM:
        interleave(f"cam-{size}",
                   [py, lat, "horus-cam", str(size), str(n_cam), "--place", "split"],
                   [py, lat, "iceoryx2-cam", str(size), str(n_cam), "--place", "split"],
                   cam_pairs, lambda h, i: i / h)
        # The same with the producer refilling frames its consumer is done
        # with (recycle()), as iceoryx2's publisher reuses its samples.
        interleave(f"camr-{size}",
                   [py, lat, "horus-cam-recycle", str(size), str(n_cam), "--place", "split"],
                   [py, lat, "iceoryx2-cam", str(size), str(n_cam), "--place", "split"],
                   cam_pairs, lambda h, i: i / h)
    # dora-rs, as its users run it.
    dora_sizes = DORA_SIZES[:1] if quick else DORA_SIZES
    dora_n = lambda s: (200 if quick else 10000 if s < (8 << 20) else 1000)  # noqa: E731
    results["dora"] = []
    for size in dora_sizes:
        cmd = [py, os.path.join(HERE, "dora_latency.py"), str(size), str(dora_n(size)),
               "--timeout", "60" if quick else "600"]
        cmds[f"dora-{size}"] = show(cmd)
        try:
            row = run_json(cmd, 90 if quick else 700)[-1]
        except Exception as e:
            row = {"error": str(e)}
        if "skip" in row:
            notes.append(f"dora-rs: not measured: {row['skip']}")
            print(f"dora: skipped: {row['skip']}", flush=True)
            break
        if "error" in row:
            notes.append(f"dora-rs at {KB[size]}: not measured: {row['error']}")
            print(f"dora {size}: {row['error']}", flush=True)
            continue
        results["dora"].append(row)
        print(json.dumps({"key": f"dora-{size}", **row}), flush=True)
    # Throughput: one publisher to one and to three subscribers.
    tsecs = "0.5" if quick else "2"
    for k in (1, 3):
        for size in (1 << 10, 921600):
            case(f"tput-{k}-{size}", [exe("topic_throughput"), str(k), str(size), tsecs])
    # 3. Conversions, pool, scheduler.
    case("convert", [py, os.path.join(HERE, "convert.py")] + (["--quick"] if quick else []))
    # Batches of 64 random sizes up to 8 MB: since freed blocks are zeroed,
    # each batch costs ~10 ms, so fewer batches than the latency cases' messages.
    case("pool", [exe("pool_alloc"), "200" if quick else "2000"])
    try:
        results["alloc-instr"] = callgrind_alloc(exe("pool_alloc"), 20 if quick else 100, tmo)
        print(json.dumps({"key": "alloc-instr", **results["alloc-instr"]}), flush=True)
    except Exception as e:
        notes.append(f"instructions per allocation: not measured: {e}")
    secs = "1" if quick else "5"
    case("sched-c", [exe("sched_jitter"), secs])
    case("sched-py", [py, os.path.join(HERE, "sched_jitter.py"), secs])

    subprocess.run([py, "-c", "import horus; horus.clean(all=True)"],
                   env={**os.environ, "HORUS_NAMESPACE": f"bench-{os.getpid()}"})
    remove_peer_leftovers(shm_before)
    meta = {"quick": quick, "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            "machine": f"{platform.machine()}, {os.cpu_count()} vCPUs, Linux {platform.release()}, "
                       f"Python {platform.python_version()}",
            "commit": git_head(), "load_before": load_before, "load_after": os.getloadavg(),
            "seconds": round(time.monotonic() - t_start),
            "command": "python bench/run.py" + (" --quick" if quick else "")}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "commands": cmds, "notes": notes, "results": results}, f,
                  indent=1)
    return finish(args, results, notes, cmds, meta)


def finish(args, results, notes, cmds, meta):
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "latency.png")
    plot(results, png, notes, meta)
    report = render(results, notes, cmds, meta)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    if not meta["quick"] and not args.no_publish:
        publish(report, png, results, meta)
    print(report)
    print(f"bench/run.py: {meta['seconds']} s", file=sys.stderr)
    return 0


def git_head():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def us(ns):
    """Microseconds, with the digits that mean something at that size."""
    if ns is None:
        return "-"
    v = ns / 1000
    return f"{v:.2f} µs" if v < 10 else f"{v:.1f} µs" if v < 1000 else f"{v:,.0f} µs"


def mp(x):
    """median / p99 of one measurement row."""
    return f"{us(x['median_ns'])} / {us(x['p99_ns'])}" if isinstance(x, dict) else "-"


def rng(s):
    return f"{s['ratio_median']:.2f}x [{s['ratio_min']:.2f}-{s['ratio_max']:.2f}]"


def bar_row(rows, what, value, bar, met):
    rows.append(f"| {what} | {value} | {bar} | {'met' if met else '**not met**'} |")


def render(r, notes, cmds, meta):
    g = lambda k: r.get(k) if isinstance(r.get(k), dict) else None  # noqa: E731
    out = [f"# horus benchmarks{' (quick: not for quoting)' if meta['quick'] else ''}", "",
           f"Generated by `{meta['command']}` ({meta['seconds']} s) on {meta['date']}, commit "
           f"{meta['commit']}: {meta['machine']}; load average "
           f"{meta['load_before'][0]:.2f} at the start, {meta['load_after'][0]:.2f} at the end. "
           "Every number below comes from this one run; the command that produced each is "
           "given beside it (from the repository root, after `cmake --build build/bench`, "
           "with `PYTHONPATH` reaching the `horus` package).", "",
           "## How to read it", "",
           "- **One-way latency** is half the round trip of a ping-pong between two processes "
           "(one sends, the other receives and sends back); medians and p99 over every "
           "message after a warm-up.",
           "- **The floor** is what the machine itself costs: two processes ping-ponging one "
           "counter in one shared cache line, spinning (*busy floor*) or sleeping on a futex "
           "until woken (*futex floor*). No transport can beat it; the bars are ratios to it.",
           "- **Pairs.** On these virtual machines the floor moves several fold within minutes "
           "(60-450 ns busy, 1-25 µs futex) with where the host puts the two vCPUs. So each "
           "bar is measured as pairs run back to back (floor, horus, floor, horus, ...); a "
           "ratio is given as the median of the per-pair ratios [min-max over pairs].",
           "- **Placement.** `split`: the two processes pinned to two different vCPUs; `same`: "
           "both on one vCPU (a wake-up is a context switch there); `free`: the scheduler "
           "decides (what an unpinned program gets).",
           "- **Instructions per message** (callgrind) do not move with the machine: where a "
           "time moves between runs, they tell whether the software changed.", ""]
    rows = ["| bar | measured | target | |", "|---|---|---|---|"]
    c1m = g(f"c-busy-{1 << 20}")
    if c1m:
        bar_row(rows, "C one-way busy-poll, 1 MB / busy floor (pairs)",
                f"{rng(c1m)} ({us(c1m['b_median_ns'])} / {us(c1m['a_median_ns'])})", "<= 1.5x",
                c1m["ratio_median"] <= 1.5)
    c1k, c64m = g(f"c-busy-{1 << 10}"), g(f"c-busy-{64 << 20}")
    if c1k and c64m:
        v = c64m["b_median_ns"] / c1k["b_median_ns"]
        bar_row(rows, "C latency 64 MB / 1 KB", f"{v:.3f}", "<= 1.2", v <= 1.2)
    for key, lang in (("c", "C"), ("py", "Python")):
        for place in ("same", "split"):
            s = g(f"{key}-block-{place}")
            if s:
                bar_row(rows, f"{lang} blocking recv wake-up / futex floor, {place} (pairs)",
                        f"{rng(s)} ({us(s['b_median_ns'])} / {us(s['a_median_ns'])})", "<= 1.5x",
                        s["ratio_median"] <= 1.5)
    pi = g("py-image-busy")
    if pi:
        bar_row(rows, "Python one-way, 640x480 rgb8, busy-poll", us(pi["median_ns"]), "<= 5 µs",
                pi["median_ns"] <= 5000)
    pc = g("py-vs-c-busy")
    if pc:
        bar_row(rows, "Python / C descriptor-only busy-poll, 1 MB (pairs)",
                f"{rng(pc)} ({us(pc['b_median_ns'])} / {us(pc['a_median_ns'])})", "<= 3x",
                pc["ratio_median"] <= 3)
    for size, label in CAM.items():
        for key, what in ((f"cam-{size}", label), (f"camr-{size}", f"{label}, horus frames recycled")):
            s = g(key)
            if s:
                bar_row(rows, f"end to end {what}: iceoryx2 / horus (pairs)",
                        f"{rng(s)} ({us(s['b_median_ns'])} / {us(s['a_median_ns'])})", ">= 3x",
                        s["ratio_median"] >= 3)
    p1m = g(f"py-busy-{1 << 20}")
    for peer, bar in (("iceoryx2", 2), ("zmq", 100)):
        v = g(f"peer-{peer}")
        if v and p1m:
            bar_row(rows, f"{peer} / horus descriptor-only at 1 MB (Python)",
                    f"{v['median_ns'] / p1m['median_ns']:.1f}x", f">= {bar}x",
                    v["median_ns"] / p1m["median_ns"] >= bar)
    for row in r.get("convert", []) if isinstance(r.get("convert"), list) else []:
        if "bar" in row:
            bar_row(rows, f"{row['case']} / {row['baseline']}", f"{row['ratio']:.2f}x",
                    f"<= {row['bar']}x", row["met"])
    pool = r.get("pool")
    frag = None
    if isinstance(pool, list):
        for row in pool:
            if row["case"].startswith("horus_pool_alloc"):
                v = row["median_ns"]
                bar_row(rows, "pool alloc + release (C), median",
                        f"{v:.0f} ns" if v < 1000 else f"{us(v)} (see below)",
                        "<= 100 ns", row["median_ns"] <= 100)
            if row["case"].startswith("allocator alone"):
                v = row["median_ns"]
                bar_row(rows, "the same, allocator alone (blocks not cleared), median",
                        f"{v:.0f} ns", "(<= 100 ns)", v <= 100)
            if row["case"] == "fragmentation":
                frag = row
    for k, label, over in (("sched-c", "C", 1000), ("sched-py", "Python", 2000)):
        s = g(k)
        if s:
            bar_row(rows, f"1 kHz {label} node: rate error", f"{abs(s['rate_error']) * 100:.3f}%",
                    "<= 1%", abs(s["rate_error"]) <= 0.01)
            bar_row(rows, f"1 kHz {label} node: p99 jitter", us(s["jitter_p99_ns"]), "<= 200 µs",
                    s["jitter_p99_ns"] <= 200000)
            bar_row(rows, f"scheduler overhead per tick ({label})", f"{s['overhead_ns']:.0f} ns",
                    f"<= {over} ns", s["overhead_ns"] <= over)
    out += ["## Bars", "", "Ratios are medians of per-pair ratios [min-max]; the two times "
            "after them are the medians of the pairs' medians (horus / baseline).", ""] + rows
    out += [""]

    # C to C by size.
    out += ["## C to C, busy-poll, against the busy floor", "",
            "A preallocated tensor's descriptor, stamped with the send time as a camera "
            "stamps its frames, goes out on one topic and comes back on another (the "
            "payload stays where it is; each side takes and drops a reference); "
            "both processes spin on `recv`, pinned to different vCPUs, interleaved with the "
            "busy floor.", "",
            "| payload | busy floor: median [min-max over pairs] | horus: median / p99 | "
            "horus / floor, per pair |", "|---|---|---|---|"]
    for size in SIZES:
        s = g(f"c-busy-{size}")
        if s:
            out.append(f"| {KB[size]} | {us(s['a_median_ns'])} [{us(s['a_min_ns'])}-"
                       f"{us(s['a_max_ns'])}] | {us(s['b_median_ns'])} / {us(s['b_p99_ns'])} | "
                       f"{rng(s)} |")
    out += ["", "```"] + [cmds[f"c-busy-{s}"] for s in SIZES if f"c-busy-{s}" in cmds] + \
        ["```", ""]
    ins = g("instr")
    if ins:
        out += ["### Instructions per message (callgrind)", "",
                f"The same ping-pong of a 1 MB tensor's descriptor under `valgrind "
                f"--tool=callgrind`, {ins['n']} messages each way after 200 of warm-up; each "
                "side waits for the other's message on a side channel before calling `recv`, so "
                "every `recv` finds its message and spinning costs nothing; each operation "
                "runs in a function of its own and its inclusive instruction count, summed "
                "over both processes, is divided by its calls (setup and warm-up excluded).", "",
                "| operation | instructions per message |", "|---|---|",
                f"| `horus_topic_send` | {ins['send']:.0f} |",
                f"| `horus_topic_recv` (finding the message) | {ins['recv']:.0f} |",
                f"| `horus_tensor_free` (release) | {ins['release']:.0f} |",
                f"| send + recv + release | {ins['send'] + ins['recv'] + ins['release']:.0f} |",
                f"| floor: the store, the load that sees it | {ins['floor_store']:.0f}, "
                f"{ins['floor_load']:.0f} (with call and return) |", "",
                "Where they go (inclusive, per message, warm-up included, functions of "
                "`src/core`; a function called on both sides or twice per message counts "
                "each call):", "",
                "| function | instructions |", "|---|---|"]
        out += [f"| `{k}` | {v:.0f} |" for k, v in ins["core"].items()]
        out += ["", "```", "cmake --build build/bench --target topic_latency", ins["cmd"], "```",
                "", "then `callgrind_annotate --inclusive=yes --threshold=100 OUT/cg.PID` per "
                "process (run.py does it).", ""]

    # Blocking.
    out += ["## Blocking wake-up against the futex floor", "",
            "The same ping-pong, each side sleeping in `recv` with a timeout (a futex wait "
            "inside) instead of spinning; the futex floor sleeps and wakes the same way "
            "around one counter. 1 MB descriptor in C, a 640x480 rgb8 `Image` in Python "
            "(`recv(timeout=10)`).", "",
            "| placement | futex floor (C) | C: horus / floor, per pair | "
            "futex floor (C) | Python: horus / floor, per pair |", "|---|---|---|---|---|"]
    for place in ("same", "split", "free"):
        c, p = g(f"c-block-{place}"), g(f"py-block-{place}") if place != "free" else None
        cell = lambda s: f"{us(s['b_median_ns'])} / {us(s['b_p99_ns'])}: {rng(s)}" if s else "-"  # noqa
        fl = lambda s: us(s["a_median_ns"]) if s else "-"  # noqa: E731
        if place == "free" and g("py-block-free"):
            pf = g("py-block-free")
            pcell = f"{mp(pf)} (not paired)"
        else:
            pcell = cell(p)
        out.append(f"| {place} | {fl(c)} | {cell(c)} | {fl(p)} | {pcell} |")
    diffs = [f"{lang} {place} +{us(s['b_median_ns'] - s['a_median_ns'])}"
             for lang, pre in (("C", "c-block"), ("Python", "py-block"))
             for place in ("same", "split") for s in [g(f"{pre}-{place}")] if s]
    if diffs:
        out += ["", "horus minus its floor, medians of the pairs: " + ", ".join(diffs) + ". "
                "The difference moves far less between placements than the floor does (it is "
                "what send, recv and release cost, and in Python the interpreter's work around "
                "them, twice per round trip), so the ratio is largest where the floor is "
                "smallest, on one vCPU."]
    fr = g("c-block-free")
    if fr:
        seq = lambda rows: ", ".join(f"{x['median_ns'] / 1000:.1f}" for x in rows)  # noqa
        out += ["", f"Unpinned, consecutive runs in this report measured the futex floor at "
                f"{seq(fr['a'])} µs and C blocking at {seq(fr['b'])} µs (alternating): each "
                "run lands in one regime or the other."]
    out += ["", "Why the figures depend on placement more than on horus: on this machine "
            "(a KVM guest whose idle vCPU halts) a futex wake-up of a process on the *other* "
            "vCPU costs an inter-processor interrupt and the host rescheduling a halted vCPU, "
            "several µs to 25 µs depending on the host; a wake-up on the *same* vCPU is a "
            "context switch, about 1-2 µs. Unpinned (`free`), the scheduler sometimes keeps the "
            "two processes on one vCPU and sometimes not, and the result jumps between the "
            "two regimes from run to run. That is the likely reason one earlier run "
            "measured C blocking at 24.9 µs against a 3.15 µs floor while Python blocking "
            "measured 3.56 µs: the old bench ran the floor, the C case and the Python case "
            "unpinned, one after the other, each as its own pair of processes, so the C case "
            "could land in the cross-vCPU regime while the other two did not (the report "
            "before that one printed the floor itself at 22.34 µs, with C blocking at 23.26 "
            "µs: both in that regime). Those runs were not kept, so this is inferred from the "
            "same jumps measured here, not observed in them. Neither horus's C nor its Python path spins "
            "before sleeping: both call `horus_topic_recv` with a timeout, which checks the "
            "ring, then sleeps in `FUTEX_WAIT`. Compared in pairs under one placement, "
            "each is a small constant above its own floor.", "", "```"] + \
        [cmds[k] for k in ("c-block-same", "c-block-split", "c-block-free", "py-block-same",
                           "py-block-split", "py-block-free") if k in cmds] + ["```", ""]

    # Python.
    out += ["## Python to Python, descriptor only", "",
            "The same ping-pong from Python: a preallocated `TensorHandle` (or a 640x480 "
            "`Image`) sent and received back, busy-polling `recv()`, pinned `split`.", "",
            "| payload | horus Python busy: median / p99 |", "|---|---|"]
    for size in SIZES:
        out.append(f"| {KB[size]} | {mp(g(f'py-busy-{size}'))} |")
    if pc:
        out += ["", f"Python / C at 1 MB, interleaved in {pc['pairs']} pairs: {rng(pc)} "
                f"(Python {us(pc['b_median_ns'])}, C {us(pc['a_median_ns'])}: the medians of "
                "the pairs' medians; each pair is one C run then one Python run of the same "
                "ping-pong, both pinned `split`)."]
    out += ["", "Peers at 1 MB, each used the way its documentation recommends for zero-copy "
            "(the busy-polling ones pinned `split`, the ones that sleep unpinned as their "
            "users run them):", "", "| transport | one-way median / p99 |", "|---|---|"]
    for k, label in ((f"py-busy-{1 << 20}", "horus (busy-poll)"),
                     ("py-image-busy", "horus, 640x480 rgb8 `Image` (busy-poll)"),
                     ("py-block-free", "horus, 640x480 rgb8 `Image`, `recv(timeout)`, unpinned"),
                     ("peer-iceoryx2", "iceoryx2 Python binding (busy-poll)"),
                     ("peer-shm-pipe", "multiprocessing.shared_memory + pipe"),
                     ("peer-zenoh", "eclipse-zenoh (put/subscribe, peers on loopback TCP)"),
                     ("peer-zmq", "pyzmq ipc:// copy=False")):
        if g(k):
            out.append(f"| {label} | {mp(g(k))} |")
    out += ["", "```"] + [cmds[k] for k in [f"py-busy-{s}" for s in SIZES] +
                          ["py-vs-c-busy", "py-image-busy", "peer-iceoryx2", "peer-zmq",
                           "peer-shm-pipe", "peer-zenoh"] if k in cmds] + ["```", ""]

    # Camera.
    out += ["## Python end to end, as a camera pipeline", "",
            "Per message the producer makes a **new** frame in shared memory (`horus.Image(h, "
            "w, 'rgb8')`; iceoryx2: `loan_slice_uninit`), writes the counter into its first row "
            "through a NumPy view and sends it; the consumer takes a NumPy view, sums that row "
            "and checks the sum, drops the frame and sends an 8-byte ack back the same way "
            "(horus: a generic `Topic`; iceoryx2: an 8-byte loan). Both busy-poll, pinned "
            "`split`; horus and iceoryx2 alternate, pair by pair.", "",
            "| frame | horus: median / p99 | iceoryx2: median / p99 | iceoryx2 / horus, per pair |",
            "|---|---|---|---|"]
    for size, label in CAM.items():
        s = g(f"cam-{size}")
        if s:
            out.append(f"| {label} | {us(s['a_median_ns'])} / {us(s['a_p99_ns'])} | "
                       f"{us(s['b_median_ns'])} / {us(s['b_p99_ns'])} | {rng(s)} |")
        s = g(f"camr-{size}")
        if s:
            out.append(f"| {label}, horus frames recycled | {us(s['a_median_ns'])} / "
                       f"{us(s['a_p99_ns'])} | {us(s['b_median_ns'])} / {us(s['b_p99_ns'])} | "
                       f"{rng(s)} |")
    out += ["", "Why horus can lose here while it wins descriptor-only: every new horus block "
            "reads as zeros (DESIGN.md): allocation clears the parts of a block that lie in "
            "memory used before (`clear_dirty` in src/core/pool.c), about 0.9 MB per VGA frame "
            "and 6.2 MB per 1080p frame per message; iceoryx2's `loan_slice_uninit` hands out "
            "memory uninitialised. The frame's memset is therefore in every horus round trip "
            "and in none of iceoryx2's. \"Frames recycled\": the producer keeps the frames it sent and "
            "refills the oldest once the consumer and the topic's ring are done with it "
            "(`img.recycle()`: a new identity for the same block, nothing cleared, nothing "
            "allocated), which is what iceoryx2's publisher does with its samples.", "", "```"] + \
        [cmds[k] for s in CAM for k in (f"cam-{s}", f"camr-{s}") if k in cmds] + ["```", ""]

    # dora.
    dora = [d for d in r.get("dora", []) if isinstance(d, dict) and "median_ns" in d]
    if dora:
        out += ["## dora-rs", "",
                "As its users run it: `dora up`, a two-node Python dataflow (YAML in a "
                "temporary directory), `dora start --attach`, `dora down` after. The ping node "
                "sends a NumPy array wrapped as an Arrow array (`pa.array`), the pong node sends "
                "the received Arrow array back; `node.next()` blocks for each input. Unpinned.",
                "", "| payload | messages | one-way median / p99 |", "|---|---|---|"]
        out += [f"| {KB.get(d['size'], d['size'])} | {d['n']} | {mp(d)} |" for d in dora]
        out += ["", "```"] + [cmds[f"dora-{d['size']}"] for d in dora] + ["```", ""]

    # Throughput.
    out += ["## Throughput, one publisher (C), what the slowest subscriber received", "",
            "The publisher sends a ring's worth of preallocated tensors round-robin as fast as "
            "it can; each subscriber receives (taking its own reference) as fast as it can. "
            "*Bytes readable per second* is the descriptor rate times the payload: the bytes "
            "subscribers could read per second, **not bytes copied** (nothing is copied; this "
            "is not a memory bandwidth). *Dropped*: messages the ring overwrote before the "
            "subscriber got to them.", "",
            "| subscribers | payload | descriptors/s | bytes readable per second | dropped |",
            "|---|---|---|---|---|"]
    for k in (1, 3):
        for size in (1 << 10, 921600):
            x = g(f"tput-{k}-{size}")
            if x:
                out.append(f"| {k} | {'1 KB' if size == 1024 else '640x480 rgb8'} | "
                           f"{x['received_per_s_slowest']:,.0f} | "
                           f"{x['gb_per_s_slowest']:,.1f} GB/s | {x['dropped_total']:,} |")
    out += ["", "```"] + [cmds[f"tput-{k}-{s}"] for k in (1, 3) for s in (1 << 10, 921600)
                          if f"tput-{k}-{s}" in cmds] + ["```", ""]
    if frag:
        out += [f"Pool fragmentation under random mixed sizes (1 KB to 8 MB, live bytes "
                f"near half the pool): {frag['allocations']} allocations, "
                f"{frag['failed_for_room']} failed for want of a contiguous block; the "
                f"largest free block was always at least "
                f"{frag['worst_largest_free_over_free'] * 100:.0f}% of the free bytes.", ""]
    def pool_row(prefix):
        rows_ = pool if isinstance(pool, list) else []
        return next((row for row in rows_ if row["case"].startswith(prefix)), None)

    pa, alone, ms = (pool_row(p) for p in ("horus_pool_alloc", "allocator alone", "memset"))
    if pa and pa["median_ns"] > 1000:
        out += [f"Pool alloc + release measured {pa['median_ns'] / 1000:.1f} µs: the bench "
                "allocates random sizes from 1 KB to 8 MB, and a new block is cleared where "
                "it lies in memory used before (DESIGN.md: every new block reads as zeros; "
                "`clear_dirty` in src/core/pool.c), so the figure is the memset of ~4 MB on "
                "average, not the allocator"
                + (f" (a memset of the same sizes: {ms['median_ns'] / 1000:.1f} µs)" if ms else "")
                + "."
                + (f" The allocator alone (`horus__pool_alloc_uninit`, what clone, import "
                   f"and wire decoding use for blocks they overwrite whole; not public, since "
                   f"a block not cleared would show a receiver bytes written before): "
                   f"{alone['median_ns']:.0f} ns, p99 {alone['p99_ns']:.0f} ns." if alone else ""),
                ""]
    ai = g("alloc-instr")
    if ai:
        out += [f"The allocator alone executes {ai['alloc_release']:.0f} instructions per "
                f"alloc + release (callgrind, `{ai['cmd']}`): {ai['lock']:.0f} in the pool's "
                f"robust process-shared mutex, taken twice (to allocate, and by the last "
                f"release to free; glibc's robust-list bookkeeping is most of it), "
                f"{ai['tlsf']:.0f} in TLSF's allocate and free, the rest the slot, its "
                f"holder mask and ledger cell, and the commit and dirty bitmaps.", ""]
    out += ["Conversions, pool and scheduler (the bars above): `" + "`, `".join(
        cmds[k] for k in ("convert", "pool", "sched-c", "sched-py") if k in cmds) + "`.", ""]
    if notes:
        out += ["## Not measured", ""] + [f"- {n}" for n in notes] + [""]
    out += ["![one-way latency](latency.png)", ""]
    return "\n".join(out)


def plot(r, path, notes, meta):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        notes.append("latency plot: matplotlib is not installed")
        return
    g = lambda k: r.get(k) if isinstance(r.get(k), dict) else None  # noqa: E731
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.5, 7), gridspec_kw={"width_ratios": [2.2, 1]})

    def point(axis, x, med_ns, p99_ns, style, label):
        y = med_ns / 1000
        axis.errorbar([x], [y], yerr=[[0], [max(p99_ns / 1000 - y, 0)]], capsize=3,
                      label=label, **style)

    def series(axis, xs, meds, p99s, style, label):
        ys = [m / 1000 for m in meds]
        axis.errorbar(xs, ys, yerr=[[0] * len(ys), [max(p - m, 0) / 1000 for m, p in
                                                    zip(meds, p99s)]],
                      capsize=3, label=label, **style)

    # Busy floor: the band between the lowest and highest pair, line at the median.
    fl = [g(f"c-busy-{s}") for s in SIZES if g(f"c-busy-{s}")]
    if fl:
        lo = min(s["a_min_ns"] for s in fl) / 1000
        hi = max(s["a_max_ns"] for s in fl) / 1000
        m = med([s["a_median_ns"] for s in fl]) / 1000
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(m, color="0.45", ls="--", zorder=1,
                   label="floor: one cache line ping-ponged between\ntwo processes (busy); "
                         "band: min-max of pairs")
    xs = [s for s in SIZES if g(f"c-busy-{s}")]
    if xs:
        series(ax, xs, [g(f"c-busy-{s}")["b_median_ns"] for s in xs],
               [g(f"c-busy-{s}")["b_p99_ns"] for s in xs],
               {"fmt": "o-", "color": "tab:blue"}, "horus C to C, busy-poll")
    xs = [s for s in SIZES if g(f"py-busy-{s}")]
    if xs:
        series(ax, [x * 1.06 for x in xs], [g(f"py-busy-{s}")["median_ns"] for s in xs],
               [g(f"py-busy-{s}")["p99_ns"] for s in xs],
               {"fmt": "s-", "color": "tab:orange"}, "horus Python to Python, busy-poll")
    # The 1 MB peers, spread around 1 MB so no marker hides another.
    peers = (("peer-iceoryx2", "iceoryx2 Python, busy-poll", "D", "tab:green", 0.62),
             ("peer-shm-pipe", "shared_memory + pipe", "v", "tab:purple", 0.74),
             ("peer-zenoh", "zenoh put/subscribe, TCP", "^", "tab:brown", 1.35),
             ("peer-zmq", "pyzmq ipc://", "P", "tab:red", 1.6),
             ("py-block-free", "horus Python, recv(timeout), unpinned, 640x480 rgb8 Image",
              "X", "tab:olive", 0.86))
    for k, label, marker, color, dx in peers:
        if g(k):
            point(ax, (1 << 20) * dx, g(k)["median_ns"], g(k)["p99_ns"],
                  {"fmt": marker, "color": color},
                  label + ("" if k == "py-block-free" else " (1 MB)"))
    dora = [d for d in r.get("dora", []) if isinstance(d, dict) and "median_ns" in d]
    if dora:
        series(ax, [d["size"] for d in dora], [d["median_ns"] for d in dora],
               [d["p99_ns"] for d in dora], {"fmt": "*:", "color": "black", "ms": 9},
               "dora-rs Python dataflow")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("payload (bytes)")
    ax.set_ylabel("one-way latency (µs, log): marker = median, whisker = p99")
    ax.set_title("Ping-pong by payload size (horus, iceoryx2: the payload stays put)",
                 fontsize=10)
    # Below the axes: inside, the legend would hide points.
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    # End to end: horus and iceoryx2 side by side per frame size.
    labels = []
    for i, (size, label) in enumerate(CAM.items()):
        s = g(f"cam-{size}")
        labels.append(label)
        if not s:
            continue
        point(bx, i - 0.12, s["a_median_ns"], s["a_p99_ns"], {"fmt": "o", "color": "tab:orange"},
              "horus" if i == 0 else None)
        point(bx, i + 0.12, s["b_median_ns"], s["b_p99_ns"], {"fmt": "D", "color": "tab:green"},
              "iceoryx2" if i == 0 else None)
    bx.set_xticks(range(len(labels)), labels)
    bx.set_xlim(-0.6, len(labels) - 0.4)
    bx.set_yscale("log")
    bx.set_ylabel("one-way latency (µs, log): median, whisker = p99")
    bx.set_title("Python end to end,\na new frame per message")
    bx.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    bx.grid(True, which="both", axis="y", alpha=0.3)
    fig.suptitle(f"horus one-way latency, {meta['machine'].split(', Linux')[0]}, "
                 f"{meta['date']} (bench/run.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def readme_block(r, meta):
    """The README's numbers, every one also in REPORT.md (same run)."""
    g = lambda k: r.get(k) if isinstance(r.get(k), dict) else None  # noqa: E731
    lines = [README_BEGIN, "",
             f"From the last full run of `python bench/run.py` ({meta['date']}, commit "
             f"{meta['commit']}, {meta['machine'].split(', Linux')[0]}), copied from "
             "[`bench/REPORT.md`](bench/REPORT.md) by the script itself; the report says how "
             "each figure was measured and gives every bar.", "",
             "| one-way, Python to Python | median | p99 |", "|---|---|---|"]
    for k, label in ((f"py-busy-{1 << 20}", "horus, busy-poll `recv()`, 1 MB descriptor"),
                     ("py-image-busy", "horus, busy-poll `recv()`, 640x480 rgb8 `Image`"),
                     ("py-block-free", "horus, blocking `recv(timeout)`, 640x480 rgb8, unpinned"),
                     ("peer-iceoryx2", "iceoryx2 Python binding, 1 MB"),
                     ("peer-shm-pipe", "`multiprocessing.shared_memory` + pipe, 1 MB"),
                     ("peer-zenoh", "eclipse-zenoh, put/subscribe on loopback, 1 MB"),
                     ("peer-zmq", "pyzmq `ipc://`, `copy=False`, 1 MB")):
        if g(k):
            lines.append(f"| {label} | {us(g(k)['median_ns'])} | {us(g(k)['p99_ns'])} |")
    for d in r.get("dora", []):
        if isinstance(d, dict) and "median_ns" in d:
            lines.append(f"| dora-rs Python dataflow, {KB.get(d['size'], d['size'])} | "
                         f"{us(d['median_ns'])} | {us(d['p99_ns'])} |")
    for size, label in CAM.items():
        s = g(f"cam-{size}")
        if s:
            lines.append(f"| end to end, new {label} frame per message: horus | "
                         f"{us(s['a_median_ns'])} | {us(s['a_p99_ns'])} |")
            lines.append(f"| end to end, new {label} frame per message: iceoryx2 | "
                         f"{us(s['b_median_ns'])} | {us(s['b_p99_ns'])} |")
        s = g(f"camr-{size}")
        if s:
            lines.append(f"| end to end, {label} frames recycled: horus | "
                         f"{us(s['a_median_ns'])} | {us(s['a_p99_ns'])} |")
    c = g(f"c-busy-{1 << 20}")
    if c:
        lines += ["", f"C to C busy-poll: {us(c['b_median_ns'])} one way against a "
                  f"{us(c['a_median_ns'])} cache-line floor measured in the same pairs, "
                  f"{c['ratio_median']:.2f}x (the floor moves between runs on these virtual "
                  "machines; the ratio is per pair)."]
    ins = g("instr")
    if ins:
        lines += ["", f"Per message horus executes {ins['send']:.0f} instructions to send, "
                  f"{ins['recv']:.0f} to receive and {ins['release']:.0f} to release "
                  "(callgrind)."]
    lines += ["", "![latency by payload size](bench/latency.png)", "", README_END]
    return "\n".join(lines)


def publish(report, png, r, meta):
    """bench/REPORT.md (keeping its hand-written tail), bench/latency.png and
    the README's block between the bench markers."""
    path = os.path.join(HERE, "REPORT.md")
    tail = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if HAND_MARK in old:
            tail = old[old.index(HAND_MARK):]
    with open(path, "w") as f:
        f.write(report.rstrip("\n") + "\n\n" + (tail or HAND_MARK + "\n"))
    shutil.copyfile(png, os.path.join(HERE, "latency.png"))
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as f:
        text = f.read()
    if README_BEGIN in text and README_END in text:
        a, b = text.index(README_BEGIN), text.index(README_END) + len(README_END)
        with open(readme, "w") as f:
            f.write(text[:a] + readme_block(r, meta) + text[b:])
    else:
        print("README.md has no bench markers: its numbers were not updated", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
