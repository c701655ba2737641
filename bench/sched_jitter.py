"""A 1 kHz node with a Python tick: rate, start-time jitter, and the
scheduler's cost per tick above calling the Python function.  JSON lines.
    python bench/sched_jitter.py [seconds]"""

import json
import sys
import time

from horus import Node, Scheduler


def main(seconds=5.0):
    def tick(node):
        pass

    s = Scheduler()
    s.add(Node("tick", tick, 1000))
    s.run(duration=seconds)
    st = s.node_stats("tick")
    loops = 100_000
    t0 = time.perf_counter_ns()
    for _ in range(loops):
        s.tick_once()
    per_tick = (time.perf_counter_ns() - t0) / loops
    t0 = time.perf_counter_ns()
    for _ in range(loops):
        tick(None)
    per_call = (time.perf_counter_ns() - t0) / loops
    print(json.dumps({"case": "sched-py", "rate_hz": 1000, "actual_rate_hz": st["actual_rate"],
                      "rate_error": st["actual_rate"] / 1000 - 1,
                      "jitter_p50_ns": st["jitter_p50_s"] * 1e9,
                      "jitter_p99_ns": st["jitter_p99_s"] * 1e9,
                      "jitter_max_ns": st["jitter_max_s"] * 1e9, "overruns": st["overruns"],
                      "overhead_ns": per_tick - per_call}), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
