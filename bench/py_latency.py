"""One-way latency between two Python processes (half a ping-pong round
trip), for horus and the peers, each used the way its documentation
recommends for zero-copy.  Prints one JSON line per case.

    python bench/py_latency.py CASE SIZE N [--place split|same|free]
    CASE: horus-busy | horus-block | horus-image-busy | horus-image-block |
          zmq | shm-pipe | iceoryx2 | zenoh | horus-cam | horus-cam-recycle |
          iceoryx2-cam

Descriptor-only cases: the payload already exists before each send (a
camera has written its frame); what is timed is making it available to the
other process.

End-to-end camera cases (horus-cam, iceoryx2-cam; SIZE 921600 is 640x480
rgb8, 6220800 is 1920x1080 rgb8): per message the producer makes a NEW
frame in shared memory (horus.Image / an iceoryx2 loan), writes the message
counter into its first row through a NumPy view and sends it; the consumer
takes a NumPy view of what it received, sums that row and checks the sum
(so it read this frame, not an old one), releases the frame and sends a
small ack back the same way (horus: 8 bytes, the counter, on a generic topic;
iceoryx2: an 8-byte loan, nothing written).  Both wait by busy-polling.
What is timed is the whole round trip, halved.  horus-cam-recycle: the same,
with the producer refilling the oldest frame it sent once the consumer and
the topic's ring are done with it (recycle()), a new one when none is free,
as iceoryx2's publisher reuses its samples.

--place pins the two processes as topic_latency.c does: split (parent on
the first allowed CPU, child on the second), same (both on the first),
free (default: the scheduler decides).
"""

import json
import os
import statistics
import subprocess
import sys
import time

WARMUP = 200
CAM = {921600: (480, 640), 6220800: (1080, 1920)}


def place(where, child):
    """Pin this process for --place (see the module doc)."""
    if where == "free":
        return
    # The child inherits the parent's pinned mask: the parent passes on the
    # CPUs it was allowed before pinning itself.
    if not child:
        os.environ["HORUS_BENCH_CPUS"] = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    cpus = [int(c) for c in os.environ["HORUS_BENCH_CPUS"].split(",")]
    if len(cpus) < 2 and where == "split":
        raise SystemExit("--place split needs two CPUs")
    os.sched_setaffinity(0, {cpus[1] if (child and where == "split") else cpus[0]})


def iox2_services(node, iox2, pid, names):
    import ctypes
    return [node.service_builder(iox2.ServiceName.new(f"horus-bench/{n}/{pid}"))
            .publish_subscribe(iox2.Slice[ctypes.c_uint8]).open_or_create() for n in names]


def report(case, size, rtts):
    rtts.sort()
    n = len(rtts)
    print(json.dumps({"case": case, "size": size, "n": n,
                      "median_ns": rtts[n // 2] / 2, "p99_ns": rtts[n * 99 // 100] / 2,
                      "p999_ns": rtts[n * 999 // 1000] / 2}), flush=True)


ZENOH_PORT = 47447


def zenoh_session(listen):
    """Two peers on loopback (no multicast scouting): the parent listens,
    the child connects; ping and pong are two key expressions."""
    import zenoh
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("scouting/multicast/enabled", "false")
    where = "listen" if listen else "connect"
    conf.insert_json5(f"{where}/endpoints", f'["tcp/127.0.0.1:{ZENOH_PORT}"]')
    session = zenoh.open(conf)
    out, inp = ("horus/bench/ping", "horus/bench/pong") if listen else \
        ("horus/bench/pong", "horus/bench/ping")
    return session, session.declare_publisher(out), session.declare_subscriber(inp)


def child(case, size, n, where):
    """The echo side: receive and send back, n + WARMUP times."""
    place(where, child=True)
    total = n + WARMUP
    if case in ("horus-cam", "horus-cam-recycle"):
        import horus
        h, w = CAM[size]
        frames, ack = horus.Topic(horus.Image, "bench.py.cam"), horus.Topic("bench.py.ack")
        print("ready", flush=True)
        for i in range(total):
            img = frames.recv()
            while img is None:
                img = frames.recv()
            a = img.to_numpy()
            if int(a[0].sum()) != (i & 255) * w * 3:
                raise SystemExit(f"frame {i}: row 0 does not hold its stamp")
            del a, img
            ack.send(i.to_bytes(8, "little"))
    elif case == "iceoryx2-cam":
        import numpy as np
        import iceoryx2 as iox2
        h, w = CAM[size]
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        cam_s, ack_s = iox2_services(node, iox2, os.getppid(), ("cam", "ack"))
        sub = cam_s.subscriber_builder().create()
        pub = ack_s.publisher_builder().initial_max_slice_len(8).create()
        print("ready", flush=True)
        for i in range(total):
            sample = sub.receive()
            while sample is None:
                sample = sub.receive()
            a = np.frombuffer(sample.payload().as_memory_view(), np.uint8).reshape(h, w, 3)
            if int(a[0].sum()) != (i & 255) * w * 3:
                raise SystemExit(f"frame {i}: row 0 does not hold its stamp")
            del a
            sample.delete()
            pub.loan_slice_uninit(8).assume_init().send()
    elif case.startswith("horus"):
        import horus
        cls = horus.Image if "image" in case else horus.TensorHandle
        ping, pong = horus.Topic(cls, "bench.py.ping"), horus.Topic(cls, "bench.py.pong")
        block = case.endswith("block")
        print("ready", flush=True)
        for _ in range(total):
            if block:
                msg = ping.recv(timeout=10)
            else:
                msg = ping.recv()
                while msg is None:
                    msg = ping.recv()
            pong.send(msg)
    elif case == "zmq":
        import zmq
        sock = zmq.Context().socket(zmq.PAIR)
        sock.connect(f"ipc:///tmp/horus-bench-{os.getppid()}")
        print("ready", flush=True)
        for _ in range(total):
            frame = sock.recv(copy=False)
            sock.send(frame, copy=False)
    elif case == "shm-pipe":
        from multiprocessing import shared_memory
        shm = shared_memory.SharedMemory(name=f"horus-bench-{os.getppid()}")
        # Attaching registered the parent's segment with this process's
        # resource tracker (track=False, from Python 3.13, would not), which
        # would unlink it when this process exits, racing the parent's own
        # unlink.
        from multiprocessing import resource_tracker
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        rfd, wfd = int(sys.argv[6]), int(sys.argv[7])  # after the placement
        print("ready", flush=True)
        for _ in range(total):
            os.read(rfd, 1)
            _ = shm.buf[0]  # the data is there: touch it, as a reader would
            os.write(wfd, b"x")
        shm.close()
    elif case == "zenoh":
        session, pub, sub = zenoh_session(False)
        print("ready", flush=True)
        for _ in range(total):
            sample = sub.recv()
            pub.put(sample.payload)
        session.close()
    elif case == "iceoryx2":
        import ctypes
        import iceoryx2 as iox2
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        ping = node.service_builder(iox2.ServiceName.new(f"horus-bench/ping/{os.getppid()}")) \
            .publish_subscribe(iox2.Slice[ctypes.c_uint8]).open_or_create()
        pong = node.service_builder(iox2.ServiceName.new(f"horus-bench/pong/{os.getppid()}")) \
            .publish_subscribe(iox2.Slice[ctypes.c_uint8]).open_or_create()
        sub = ping.subscriber_builder().create()
        pub = pong.publisher_builder().initial_max_slice_len(size).create()
        print("ready", flush=True)
        for _ in range(total):
            sample = sub.receive()
            while sample is None:
                sample = sub.receive()
            sample.delete()
            pub.loan_slice_uninit(size).assume_init().send()


def parent(case, size, n, where):
    total = n + WARMUP
    place(where, child=False)
    rtts = []
    env = dict(os.environ)
    extra = []
    cleanup = []
    if case == "shm-pipe":
        from multiprocessing import shared_memory
        shm = shared_memory.SharedMemory(name=f"horus-bench-{os.getpid()}", create=True,
                                         size=max(size, 1))
        shm.buf[:size] = b"\1" * size
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        extra = [str(p2c_r), str(c2p_w)]
        cleanup.append(lambda: (shm.close(), shm.unlink()))
    if case == "zmq":
        import zmq
        sock = zmq.Context().socket(zmq.PAIR)
        sock.bind(f"ipc:///tmp/horus-bench-{os.getpid()}")
        cleanup.append(lambda: os.unlink(f"/tmp/horus-bench-{os.getpid()}"))  # the socket file
        payload = zmq.Frame(b"\1" * size)
    if case.startswith("horus"):
        import horus
        horus.clean(all=True)  # what a failed earlier case of this bench run left
        if "image" in case:
            ping, pong = horus.Topic(horus.Image, "bench.py.ping"), horus.Topic(horus.Image, "bench.py.pong")
            payload = horus.Image(480, 640, "rgb8")
            payload.fill([1, 2, 3])
        else:
            ping = horus.Topic(horus.TensorHandle, "bench.py.ping")
            pong = horus.Topic(horus.TensorHandle, "bench.py.pong")
            pool = horus.TensorPool(pool_id=78, size_mb=size * 3 // (1 << 20) + 64, max_slots=256)
            payload = pool.alloc([size], dtype="uint8")
            payload.numpy()[:] = 1
    if case == "zenoh":
        session, zpub, zsub = zenoh_session(True)
        zpayload = b"\1" * size
    if case.endswith("-cam") or case.endswith("-cam-recycle"):
        h, w = CAM[size]
    if case in ("horus-cam", "horus-cam-recycle"):
        import collections
        import horus
        horus.clean(all=True)
        frames, ack = horus.Topic(horus.Image, "bench.py.cam"), horus.Topic("bench.py.ack")
        sent = collections.deque()
    if case == "iceoryx2-cam":
        import numpy as np
        import iceoryx2 as iox2
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        cam_s, ack_s = iox2_services(node, iox2, os.getpid(), ("cam", "ack"))
        cam_pub = cam_s.publisher_builder().initial_max_slice_len(size).create()
        ack_sub = ack_s.subscriber_builder().create()
    if case == "iceoryx2":
        import ctypes
        import iceoryx2 as iox2
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        ping_s = node.service_builder(iox2.ServiceName.new(f"horus-bench/ping/{os.getpid()}")) \
            .publish_subscribe(iox2.Slice[ctypes.c_uint8]).open_or_create()
        pong_s = node.service_builder(iox2.ServiceName.new(f"horus-bench/pong/{os.getpid()}")) \
            .publish_subscribe(iox2.Slice[ctypes.c_uint8]).open_or_create()
        pub = ping_s.publisher_builder().initial_max_slice_len(size).create()
        sub = pong_s.subscriber_builder().create()
    proc = subprocess.Popen([sys.executable, __file__, "--child", case, str(size), str(n),
                             where, *extra],
                            stdout=subprocess.PIPE, text=True, env=env,
                            pass_fds=tuple(int(x) for x in extra))
    assert proc.stdout.readline().strip() == "ready"
    if case == "zenoh":
        time.sleep(1.0)  # let the peers connect and declare to each other
    block = case.endswith("block")
    for i in range(total):
        t0 = time.perf_counter_ns()
        if case in ("horus-cam", "horus-cam-recycle"):
            img = None
            if case == "horus-cam-recycle" and len(sent) > frames.capacity:
                try:
                    sent[0].recycle()
                    img = sent.popleft()
                except BufferError:  # the consumer still has it
                    pass
            if img is None:
                img = horus.Image(h, w, "rgb8")
            if case == "horus-cam-recycle":
                sent.append(img)
            a = img.to_numpy()
            a[0] = i & 255
            del a
            frames.send(img)
            del img
            got = ack.recv()
            while got is None:
                got = ack.recv()
        elif case == "iceoryx2-cam":
            loan = cam_pub.loan_slice_uninit(size)
            a = np.frombuffer(loan.payload().as_memory_view(), np.uint8).reshape(h, w, 3)
            a[0] = i & 255
            del a
            loan.assume_init().send()
            sample = ack_sub.receive()
            while sample is None:
                sample = ack_sub.receive()
            sample.delete()
        elif case.startswith("horus"):
            ping.send(payload)
            if block:
                msg = pong.recv(timeout=10)
            else:
                msg = pong.recv()
                while msg is None:
                    msg = pong.recv()
        elif case == "zmq":
            sock.send(payload, copy=False)
            sock.recv(copy=False)
        elif case == "shm-pipe":
            os.write(p2c_w, b"x")
            os.read(c2p_r, 1)
        elif case == "zenoh":
            zpub.put(zpayload)
            zsub.recv()
        elif case == "iceoryx2":
            pub.loan_slice_uninit(size).assume_init().send()
            sample = sub.receive()
            while sample is None:
                sample = sub.receive()
            sample.delete()
        t1 = time.perf_counter_ns()
        if i >= WARMUP:
            rtts.append(t1 - t0)
    proc.wait(timeout=60)
    if case == "zenoh":
        session.close()
    for c in cleanup:
        c()
    if case in ("horus-cam", "horus-cam-recycle"):
        sent.clear()
        frames.close()
        ack.close()
        horus.clean(all=True)
    elif case.startswith("horus"):
        del payload, msg
        ping.close()
        pong.close()
        horus.clean(all=True)  # the next case starts from an empty namespace
    report(case, size, rtts)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        where = "free"
        if "--place" in sys.argv:
            i = sys.argv.index("--place")
            where = sys.argv[i + 1]
            del sys.argv[i:i + 2]
        parent(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), where)
