"""What Zenoh's Python binding (the installed eclipse-zenoh) copies, per
1080p rgb8 frame (6,220,800 bytes), beside a plain memcpy of the same size.

  python bench/zenoh_copies.py [--quick]

Put side: which objects ZBytes (what Session.put/Publisher.put build from
their payload) accepts, and what building it costs; receive side: what a
received ZBytes hands out (a buffer, or only bytes) and at what cost; and
horus's two wire steps (wire_encode's pack out of the pool block,
wire_decode's copy into a new pool block).  A refused candidate is printed
with the binding's TypeError: it has no cost because it is not a path.
Each number is the median of timed single calls, in microseconds.  Prints
JSON lines; the bridge's copy count in bench/BRIDGE.md comes from here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

NS = f"bench-zcopies-{os.getpid()}"
os.environ["HORUS_NAMESPACE"] = NS  # before horus opens its pool


def median_us(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm: first-touch page faults are not the steady state
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e3


def row(side: str, case: str, fn: Callable[[], Any], repeats: int, note: str = "") -> None:
    out: dict[str, Any] = {"side": side, "case": case}
    try:
        out["us"] = round(median_us(fn, repeats), 1)
    except TypeError as e:  # the binding refuses this kind of object
        out["refused"] = str(e)
    if note:
        out["note"] = note
    print(json.dumps(out), flush=True)


def main() -> None:
    import numpy as np
    import zenoh

    import horus
    from horus import _horus

    repeats = 20 if "--quick" in sys.argv else 200
    h, w = 1080, 1920
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    n = frame.nbytes
    as_bytes, as_bytearray = frame.tobytes(), bytearray(frame.tobytes())
    dst = np.empty_like(frame)
    img: Any = horus.Image.from_numpy(frame, "rgb8")  # a buffer on 3.12+ stubs only
    header, payload = _horus.wire_encode(img, 0)
    received: Any = zenoh.ZBytes(payload)
    from importlib.metadata import version
    print(json.dumps({"eclipse-zenoh": version("eclipse-zenoh"), "python": sys.version.split()[0],
                      "bytes": n}), flush=True)

    row("reference", "np.copyto (one memcpy into a warm buffer)", lambda: np.copyto(dst, frame),
        repeats)
    row("reference", "ndarray.tobytes() (one copy into new bytes)", frame.tobytes, repeats)

    row("put", "ZBytes(bytes)", lambda: zenoh.ZBytes(as_bytes), repeats,
        "copies into a Rust Vec")
    row("put", "ZBytes(bytearray)", lambda: zenoh.ZBytes(as_bytearray), repeats,
        "copies into a Rust Vec")
    row("put", "ZBytes(memoryview of the pool block)", lambda: zenoh.ZBytes(memoryview(img)),  # type: ignore[arg-type]
        repeats)
    row("put", "ZBytes(numpy view of the pool block)", lambda: zenoh.ZBytes(img.to_numpy()),
        repeats)
    row("put", "horus wire_encode (pack the pool block into new bytes)",
        lambda: _horus.wire_encode(img, 0), repeats)

    row("receive", "memoryview(ZBytes)", lambda: memoryview(received), repeats)
    row("receive", "ZBytes.to_bytes()", received.to_bytes, repeats,
        "zero-fills new bytes, then copies")
    row("receive", "bytes(ZBytes)", lambda: bytes(received), repeats, "as to_bytes()")
    row("receive", "horus wire_decode (copy into a new pool block)",
        lambda: _horus.wire_decode(header, payload), repeats,
        "copy into the block, plus the pool zeroing it when freed (a memset below 8 MB)")

    try:
        from zenoh import shm
        provider: Any = shm.ShmProvider.default_backend(2 * n)
        buf = provider.alloc(n)

        def fill_from_view() -> None:
            buf[0:n] = memoryview(img)

        def fill_from_bytes() -> None:
            buf[0:n] = as_bytes

        row("put", "ZShmMut[0:n] = memoryview of the pool block", fill_from_view, repeats)
        row("put", "ZShmMut[0:n] = bytes", fill_from_bytes, repeats,
            "only bytes/bytearray: a copy of a copy")
    except Exception as e:  # noqa: BLE001 - a build without shared memory
        print(json.dumps({"side": "put", "case": "ZShmMut", "unavailable": str(e)}), flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:  # nothing of the run stays in /dev/shm
        subprocess.run([sys.executable, "-c", "import horus; horus.clean(all=True)"],
                       env={**os.environ, "HORUS_NAMESPACE": NS}, check=True, timeout=60)
