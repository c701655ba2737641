"""Two versions of the bridge, interleaved in one run, beside plain Zenoh.

  python bench/bridge_ab.py BEFORE_PYTHONPATH AFTER_PYTHONPATH [ROUNDS] [RATE] [SECONDS]

Each PYTHONPATH holds a `horus` package (e.g. a copy of build/dev/python
with another commit's src/horus); the bridges and roles of bench/bridge.py
run from it.  Each round runs plain Zenoh at 1080p flat out, then both
versions (their order alternating between rounds) at 640x480 30 Hz and at
1080p offered RATE frames/s (default 100), SECONDS each (default 8).  On a
machine other programs load, rates measured minutes apart differ more than
two versions do; interleaving and the CPU per delivered frame are what tell
the versions apart.  Prints one line per case.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge as B  # noqa: E402  (bench/bridge.py)


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    versions = [("before", sys.argv[1]), ("after", sys.argv[2])]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 100.0
    secs = float(sys.argv[5]) if len(sys.argv) > 5 else 8.0
    for r in range(rounds):
        os.environ["PYTHONPATH"] = versions[1][1]
        z = B.zenoh_case(1920, 1080, secs)
        print(f"round {r} plain zenoh 1080p flat out: {z['rate']:.1f} frames/s, "
              f"CPU {z['cpu_ms_per_frame']:.2f} ms/frame", flush=True)
        for name, path in (versions if r % 2 == 0 else versions[::-1]):
            os.environ["PYTHONPATH"] = path
            v = B.horus_case(640, 480, 30.0, secs)
            h = B.horus_case(1920, 1080, rate, secs)
            print(f"round {r} {name}: VGA {v['received']}/{v['sent']} p50 {v['p50_ms']:.2f} ms "
                  f"p99 {v['p99_ms']:.2f} ms CPU {v['cpu_ms_per_frame']:.2f} ms/frame | 1080p at "
                  f"{rate:.0f}/s: {h['received']}/{h['sent']} delivered, {h['rate']:.1f} frames/s, "
                  f"p50 {h['p50_ms']:.1f} ms, CPU {h['cpu_ms_per_frame']:.2f} ms/frame", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
