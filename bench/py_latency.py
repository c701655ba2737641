"""One-way latency between two Python processes (half a ping-pong round
trip), for horus and the peers, each used the way its documentation
recommends for zero-copy.  Prints one JSON line per case.

    python bench/py_latency.py CASE SIZE N
    CASE: horus-busy | horus-block | horus-image-busy | horus-image-block |
          zmq | shm-pipe | iceoryx2 | zenoh

The payload already exists before each send (a camera has written its
frame); what is timed is making it available to the other process.
"""

import json
import os
import statistics
import subprocess
import sys
import time

WARMUP = 200


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


def child(case, size, n):
    """The echo side: receive and send back, n + WARMUP times."""
    total = n + WARMUP
    if case.startswith("horus"):
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
        rfd, wfd = int(sys.argv[5]), int(sys.argv[6])
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


def parent(case, size, n):
    total = n + WARMUP
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
        payload = zmq.Frame(b"\1" * size)
    if case.startswith("horus"):
        import horus
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
    proc = subprocess.Popen([sys.executable, __file__, "--child", case, str(size), str(n), *extra],
                            stdout=subprocess.PIPE, text=True, env=env,
                            pass_fds=tuple(int(x) for x in extra))
    assert proc.stdout.readline().strip() == "ready"
    if case == "zenoh":
        time.sleep(1.0)  # let the peers connect and declare to each other
    block = case.endswith("block")
    for i in range(total):
        t0 = time.perf_counter_ns()
        if case.startswith("horus"):
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
    if case.startswith("horus"):
        del payload, msg
        ping.close()
        pong.close()
        horus.clean(all=True)  # the next case starts from an empty namespace
    report(case, size, rtts)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        parent(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
