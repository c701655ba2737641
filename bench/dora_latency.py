"""One-way latency of a dora-rs dataflow (half a ping-pong round trip), run
as its users run it: `dora up`, a two-node Python dataflow written to a
temporary directory, `dora start --attach`, `dora down` after (`dora
destroy` on versions that call it that).  Prints one JSON line per payload.

    python bench/dora_latency.py SIZE[,SIZE...] N [--timeout SECONDS]

The ping node sends a NumPy array wrapped as an Arrow array (made once,
like the other peers' payloads); the pong node sends the received Arrow
array straight back.  Exits 0 with a "skip" line when the dora CLI is not
installed or `dora up` fails; every wait is bounded, so it never hangs.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PING = r'''
import json, os, sys, time
import numpy as np
import pyarrow as pa
from dora import Node

size, n, warm = int(os.environ["BENCH_SIZE"]), int(os.environ["BENCH_N"]), 100
node = Node()
payload = pa.array(np.ones(size, dtype=np.uint8))
rtts = []

def wait_pong(timeout):
    while True:
        ev = node.next(timeout=timeout)
        if ev is None:
            return False
        if ev["type"] == "INPUT" and ev["id"] == "pong":
            return True
        if ev["type"] in ("STOP", "ERROR"):
            raise SystemExit(f"dora ping: {ev['type']} event")

# The first message may go out before the pong node is connected: send it
# again until one comes back.
for _ in range(30):
    node.send_output("ping", payload)
    if wait_pong(1.0):
        break
else:
    raise SystemExit("dora ping: no pong within 30 s")
for i in range(n + warm):
    t0 = time.perf_counter_ns()
    node.send_output("ping", payload)
    if not wait_pong(10.0):
        raise SystemExit("dora ping: no pong within 10 s")
    if i >= warm:
        rtts.append(time.perf_counter_ns() - t0)
rtts.sort()
with open(os.environ["BENCH_OUT"], "w") as f:
    json.dump({"case": "dora", "size": size, "n": n, "median_ns": rtts[n // 2] / 2,
               "p99_ns": rtts[n * 99 // 100] / 2, "p999_ns": rtts[n * 999 // 1000] / 2}, f)
'''

PONG = r'''
from dora import Node

node = Node()
for ev in node:
    if ev["type"] == "INPUT" and ev["id"] == "ping":
        node.send_output("pong", ev["value"])
    elif ev["type"] == "STOP":
        break
'''

DATAFLOW = """nodes:
  - id: ping
    path: ping.py
    inputs:
      pong: pong/pong
    outputs:
      - ping
    env:
      BENCH_SIZE: "{size}"
      BENCH_N: "{n}"
      BENCH_OUT: "{out}"
  - id: pong
    path: pong.py
    inputs:
      ping: ping/ping
    outputs:
      - pong
"""


def skip(why):
    print(json.dumps({"case": "dora", "skip": why}), flush=True)
    return 0


def run(cmd, env, timeout, cwd=None):
    """Run a dora CLI command in its own process group, killed with
    everything it started when it overruns."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=cwd, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return 124, (out or "") + f"\n(killed after {timeout} s)"
    return proc.returncode, out


def main():
    args = sys.argv[1:]
    timeout = 300.0
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    sizes, n = [int(s) for s in args[0].split(",")], int(args[1])
    bindir = os.path.dirname(sys.executable)
    dora = shutil.which("dora", path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if not dora:
        return skip("the dora CLI is not installed (pip install dora-rs dora-rs-cli)")
    try:
        import importlib
        importlib.import_module("dora")  # the nodes need the Python API
        importlib.import_module("pyarrow")
    except ImportError as e:
        return skip(f"dora-rs node API not importable: {e}")
    # The nodes are started by the daemon `dora up` starts: it finds
    # `python` on its PATH, which must be this interpreter.
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    tmp = tempfile.mkdtemp(prefix="horus-dora-")
    rc, out = run([dora, "up"], env, 60, cwd=tmp)
    if rc != 0:
        run([dora, "down"], env, 30, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return skip(f"`dora up` failed ({rc}): {out.strip()[-300:]}")
    failed = False
    try:
        for size in sizes:
            for name, text in (("ping.py", PING), ("pong.py", PONG)):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
            result = os.path.join(tmp, f"result-{size}.json")
            yml = os.path.join(tmp, f"dataflow-{size}.yml")
            with open(yml, "w") as f:
                f.write(DATAFLOW.format(size=size, n=n, out=result))
            t0 = time.monotonic()
            rc, out = run([dora, "start", "--attach", yml], env, timeout, cwd=tmp)
            if rc == 0 and os.path.exists(result):
                with open(result) as f:
                    row = json.load(f)
                row["wall_s"] = round(time.monotonic() - t0, 1)
                print(json.dumps(row), flush=True)
            else:
                failed = True
                print(json.dumps({"case": "dora", "size": size,
                                  "error": f"dora start --attach: {rc}: {out.strip()[-400:]}"}),
                      flush=True)
    finally:
        rc, out = run([dora, "down"], env, 60, cwd=tmp)
        if rc != 0:  # older CLIs call it destroy
            run([dora, "destroy"], env, 60, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
