"""Trust (issue 13): a process never sees bytes it was not promised.

One test per defect, each run with real processes that synchronise on
readiness lines over pipes:
  1. a new Image / DepthImage / PointCloud / pool.alloc reads zeros, never
     another process's freed frame;
  2. a holder in another PID namespace is not taken for dead: its block is
     not reclaimed and handed out again (and a killed one still is);
  3. `horus clean` never removes a pool a live process uses (holder table
     full), `clean(all=True)` leaves a process working on a fresh pool, and a
     descriptor of a removed pool never opens the pool made anew under its id;
  5. running out of tmpfs is a MemoryError naming the numbers, not SIGBUS;
  6. a process out of file descriptors does not take live holders for dead.
(Items 7 and 8, locks and corrupt shared state, are in tests/c/test_trust.c.)
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SHM_BASE = os.environ.get("HORUS_SHM_DIR") or "/dev/shm"
USER_DIR = os.path.join(SHM_BASE, f"horus-{os.geteuid()}")
SAFETY_S = 180  # only against a hung suite; nothing here is timed


class Child:
    """A Python snippet in its own interpreter, read line by line."""

    def __init__(self, code, env, prefix, args, stderr_path):
        self.stderr_path = stderr_path
        self.err = open(stderr_path, "wb")
        self.p = subprocess.Popen(
            [*prefix, sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env, bufsize=0)
        self.buf = b""

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def fail(self, why):
        self.kill()
        raise AssertionError(f"{why}; child exited {self.p.returncode}\nstdout: "
                             f"{self.buf!r}\nstderr:\n{self.stderr()}")

    def line(self):
        """The next line the child prints (without the newline)."""
        fd = self.p.stdout.fileno()
        deadline = time.monotonic() + SAFETY_S
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.fail("no line from the child")
            chunk = os.read(fd, 65536)
            if not chunk:
                self.fail("the child ended without printing a line")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def expect(self, word):
        """The next line, which must start with `word`; returns its fields."""
        line = self.line()
        if line.split()[:1] != [word]:
            self.fail(f"expected {word!r}, got {line!r}")
        return line.split()[1:]

    def tell(self, text="go"):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def finish(self):
        """Close its stdin and wait; returns the exit status."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            return self.p.wait(timeout=SAFETY_S)
        except subprocess.TimeoutExpired:
            self.fail("the child did not exit")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=SAFETY_S)

    def close(self):
        self.kill()
        for stream in (self.p.stdin, self.p.stdout):
            if stream and not stream.closed:
                stream.close()
        self.err.close()


@pytest.fixture
def child(tmp_path):
    """start(code, ns=None, env=None, prefix=(), args=()) -> Child.  `ns` runs
    it in a namespace of its own (removed at teardown); every child is killed
    at teardown."""
    started, namespaces = [], set()

    def start(code, ns=None, env=None, prefix=(), args=()):
        full = dict(os.environ)
        if ns:
            namespaces.add(ns)
            full["HORUS_NAMESPACE"] = ns
        full.update(env or {})
        c = Child(code, full, prefix, args, tmp_path / f"stderr.{len(started)}")
        started.append(c)
        return c

    yield start
    for c in started:
        c.close()
    for ns in namespaces:
        shutil.rmtree(os.path.join(USER_DIR, ns), ignore_errors=True)


def own_ns(tag):
    """A namespace for one test, beside the session's (same cleanup rules)."""
    return f"{os.environ['HORUS_NAMESPACE']}-{tag}"


def horus_exe():
    if os.environ.get("HORUS_CLI"):
        return os.environ["HORUS_CLI"]
    here = os.path.join(os.path.dirname(sys.executable), "horus")
    exe = here if os.access(here, os.X_OK) else shutil.which("horus")
    if not exe and os.environ.get("HORUS_BUILD_DIR"):
        exe = os.path.join(os.environ["HORUS_BUILD_DIR"], "horus")
    if not exe or not os.access(exe, os.X_OK):
        pytest.fail("the horus command is not installed")
    return exe


# ---- 1. zeroed blocks -----------------------------------------------------------

# Fills every byte of the global pool (HORUS_POOL_MB=1) and of TensorPool 5
# (1 MB) with 200 and frees it all: whatever block a later process gets,
# every byte of it was 200 before.
FILLER = """
import horus
from horus import Image, TensorPool
held = [Image(480, 640, "rgb8")]
held[0].fill([200, 200, 200])
n = horus.global_pool_stats()["size_bytes"]
while n >= 64:
    try:
        img = Image(1, n, "mono8")
    except MemoryError:
        n //= 2
        continue
    img.fill(200)
    held.append(img)
pool = TensorPool(pool_id=5, size_mb=1, max_slots=64)
n = pool.stats()["size_bytes"]
while n >= 64:
    try:
        t = pool.alloc([n], dtype="uint8")
    except MemoryError:
        n //= 2
        continue
    t.numpy()[:] = 200
    held.append(t)
print("filled", horus.global_pool_stats()["free_bytes"], pool.stats()["free_bytes"], flush=True)
for h in held:
    if hasattr(h, "release"):
        h.release()
del held, img, t
print("freed", horus.global_pool_stats()["used_bytes"], pool.stats()["used_bytes"], flush=True)
"""

CHECKER = """
import numpy as np
from horus import DepthImage, Image, PointCloud, TensorPool
img = Image(480, 640, "rgb8")
print("image", int(np.count_nonzero(img.to_numpy())), img.pixel(0, 0), flush=True)
del img
depth = DepthImage(240, 320)
print("depth", int(np.count_nonzero(depth.to_numpy().view(np.uint8))),
      depth.depth_statistics() is None, flush=True)
del depth
cloud = PointCloud(100)
print("cloud", int(np.count_nonzero(cloud.to_numpy().view(np.uint8))), cloud.point_at(0),
      flush=True)
del cloud
pool = TensorPool(pool_id=5, size_mb=1, max_slots=64)
t = pool.alloc([100])
print("alloc", int(np.count_nonzero(t.numpy().view(np.uint8))), flush=True)
"""


def test_new_objects_read_zeros_after_another_process_freed_its_bytes(child):
    ns = own_ns("zero")
    env = {"HORUS_POOL_MB": "1"}
    filler = child(FILLER, ns=ns, env=env)
    # Every byte of both pools held a 200 (precondition of the check below).
    assert filler.expect("filled") == ["0", "0"]
    assert filler.expect("freed") == ["0", "0"]
    assert filler.finish() == 0, filler.stderr()

    checker = child(CHECKER, ns=ns, env=env)
    assert checker.expect("image") == ["0", "[0,", "0,", "0]"]
    assert checker.expect("depth") == ["0", "True"]  # zeros, depth_statistics() is None
    assert checker.expect("cloud") == ["0", "[0.0,", "0.0,", "0.0]"]
    assert checker.expect("alloc") == ["0"]
    assert checker.finish() == 0, checker.stderr()


# ---- 2. PID namespaces -----------------------------------------------------------

UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")


@pytest.fixture(scope="module")
def pid_namespace():
    """The prefix that runs a command in a PID namespace of its own, or skip."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not installed")
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.strip()}")
    return UNSHARE


HOLDER_IN_NAMESPACE = """
import os, sys
import numpy as np
from horus import TensorPool
pool = TensorPool(pool_id=int(sys.argv[1]), size_mb=4, max_slots=64)
t = pool.alloc([1 << 20], dtype="uint8")
view = t.numpy()
pattern = (np.arange(1 << 20) % 251).astype(np.uint8)
view[:] = pattern
refs = t.refcount  # the view holds one too
print("ready", os.getpid(), refs, flush=True)
sys.stdin.readline()
print("check", bool((view == pattern).all()), t.refcount == refs, flush=True)
sys.stdin.readline()
"""


def test_holder_in_another_pid_namespace_keeps_its_block(child, pid_namespace):
    from horus import TensorPool

    holder = child(HOLDER_IN_NAMESPACE, prefix=pid_namespace, args=[131])
    assert holder.expect("ready")[0] == "1"  # it is PID 1 of a namespace of its own

    # Its PID means another process (or nothing) here: it must still count as
    # alive, so reclaiming frees nothing and its block is never handed out.
    pool = TensorPool(pool_id=131, size_mb=4, max_slots=64)
    assert pool.reclaim() == 0
    mine = []
    while True:
        try:
            t = pool.alloc([1 << 20], dtype="uint8")
        except MemoryError:
            break
        t.numpy()[:] = 0xEE
        mine.append(t)
    assert len(mine) <= 3  # 4 MB, one of which is the holder's

    holder.tell()
    assert holder.expect("check") == ["True", "True"]  # its bytes, its references
    for t in mine:
        t.release()
    assert holder.finish() == 0, holder.stderr()


def children_of(pid):
    """PIDs (in our namespace) whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


HOLD_THREE = """
import os, sys
from horus import TensorPool
pool = TensorPool(pool_id=int(sys.argv[1]), size_mb=4, max_slots=64)
held = [pool.alloc([1 << 20], dtype="uint8") for _ in range(3)]
print("holding", os.getpid(), flush=True)
sys.stdin.readline()
"""


def test_killed_holder_in_another_pid_namespace_is_reclaimed(child, pid_namespace):
    """The crash matrix's check with the killed process in a PID namespace of
    its own: alive it keeps its blocks, killed (SIGKILL) they come back."""
    from horus import TensorPool

    pool = TensorPool(pool_id=132, size_mb=4, max_slots=64)
    base_used = pool.stats()["used_bytes"]
    holder = child(HOLD_THREE, prefix=pid_namespace, args=[132])
    assert holder.expect("holding") == ["1"]
    assert pool.reclaim() == 0
    assert pool.stats()["used_bytes"] == base_used + (3 << 20)

    # Its PID 1 is unshare's child; kill that process itself (unshare reaps
    # it, so once unshare has exited the holder is gone for good).
    (inner,) = children_of(holder.p.pid)
    os.kill(inner, signal.SIGKILL)
    assert holder.p.wait(timeout=SAFETY_S) != 0

    assert pool.reclaim() == 3
    assert pool.stats()["used_bytes"] == base_used
    room = pool.alloc([4 << 20], dtype="uint8")  # the room is really back
    room.release()


# ---- 3. clean ----------------------------------------------------------------------

FULL_TABLE = """
import sys, horus
from horus import Image, Topic
topics = []
for i in range(127):  # each topic holding a message is a holder of pool 0
    t = Topic(Image, f"full.{i}", capacity=2)
    img = Image(2, 2, "mono8")
    img.fill(i)
    t.send(img)
    topics.append(t)
del img
print("full", horus.global_pool_stats()["holders"], flush=True)
sys.stdin.readline()  # `horus clean` ran
for t in topics[117:]:  # make room for one more process
    t.close()
del topics[117:]
horus.clean()
print("room", flush=True)
sys.stdin.readline()
img = Image(2, 2, "mono8")
img.fill(42)
topics[0].send(img)
print("sent", flush=True)
sys.stdin.readline()
"""

# A process that comes after a clean: it makes a pool 0 of its own if the
# old one is gone (filled with 7s), then receives on `topic`.
LATECOMER = """
import sys
import numpy as np
from horus import Image, Topic
mine = Image(2, 2, "mono8")
mine.fill(7)
topic = Topic(Image, sys.argv[1])
assert topic.recv() is None  # subscribed from now on
print("ready", flush=True)
try:
    got = topic.recv(timeout=60)
except Exception as e:
    print("error", type(e).__name__, str(e).replace(chr(10), " "), flush=True)
else:
    print("got", "none" if got is None else np.unique(got.to_numpy()).tolist(), flush=True)
"""


def test_clean_leaves_a_pool_whose_holder_table_is_full(child):
    ns = own_ns("full")
    owner = child(FULL_TABLE, ns=ns)
    assert owner.expect("full") == ["128"]
    pool0 = os.path.join(USER_DIR, ns, "pool.0")
    before = os.stat(pool0)

    # `horus clean` cannot open pool 0 (no holder entry left for it): that is
    # no reason to remove it.
    env = dict(os.environ, HORUS_NAMESPACE=ns)
    out = subprocess.run([horus_exe(), "clean"], capture_output=True, text=True,
                         timeout=SAFETY_S, env=env)
    assert out.returncode == 0, out.stderr
    after = os.stat(pool0)
    assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)

    owner.tell()
    owner.expect("room")
    late = child(LATECOMER, ns=ns, args=["full.0"])
    late.expect("ready")
    owner.tell()
    owner.expect("sent")
    assert late.expect("got") == ["[42]"]
    assert late.finish() == 0, late.stderr()


CLEAN_ALL_THEN_WORK = """
import os, sys
import numpy as np
import horus
from horus import Image, Topic
first = Image(4, 4, "mono8")
first.fill(1)
path = horus.global_pool_stats()["path"]
del first
removed = horus.clean(all=True)
assert path in removed, removed
topic = Topic(Image, "after.clean")
assert topic.recv() is None
img = Image(4, 4, "mono8")
img.fill(42)
print("ready", os.path.exists(path), flush=True)  # a fresh pool 0
sys.stdin.readline()
topic.send(img)
got = topic.recv(timeout=60)
print("sent", np.unique(got.to_numpy()).tolist(), flush=True)
sys.stdin.readline()
"""


def test_clean_all_then_ordinary_work_uses_a_fresh_pool(child):
    ns = own_ns("cleanall")
    worker = child(CLEAN_ALL_THEN_WORK, ns=ns)
    assert worker.expect("ready") == ["True"]
    late = child(LATECOMER, ns=ns, args=["after.clean"])
    late.expect("ready")
    worker.tell()
    assert worker.expect("sent") == ["[42]"]
    assert late.expect("got") == ["[42]"]
    assert late.finish() == 0, late.stderr()
    assert worker.finish() == 0, worker.stderr()


OLD_DESCRIPTOR = """
from horus import TensorPool
pool = TensorPool(pool_id=7, size_mb=1, max_slots=16)
t = pool.alloc([64], dtype="uint8")
t.numpy()[:] = 42
print("desc", t.descriptor().hex(), flush=True)
"""

NEW_INCARNATION = """
import sys
from horus import TensorPool
pool = TensorPool(pool_id=7, size_mb=1, max_slots=16)
t = pool.alloc([64], dtype="uint8")
t.numpy()[:] = 7
print("ready", flush=True)
sys.stdin.readline()
"""

OPEN_DESCRIPTOR = """
import sys
import numpy as np
from horus import TensorHandle
try:
    h = TensorHandle.from_descriptor(bytes.fromhex(sys.argv[1]))
except Exception as e:
    print("refused", type(e).__name__, str(e).replace(chr(10), " "), flush=True)
else:
    print("opened", np.unique(h.numpy()).tolist(), flush=True)
"""


def test_descriptor_of_a_removed_pool_never_opens_its_successor(child):
    ns = own_ns("incarnation")
    first = child(OLD_DESCRIPTOR, ns=ns)
    (desc,) = first.expect("desc")
    assert first.finish() == 0, first.stderr()

    cleaner = child("import horus; print('removed', *horus.clean())", ns=ns)
    removed = cleaner.expect("removed")
    assert any(p.endswith("/pool.7") for p in removed), removed
    assert cleaner.finish() == 0, cleaner.stderr()

    second = child(NEW_INCARNATION, ns=ns)  # pool 7 anew, same slot, other bytes
    second.expect("ready")
    opener = child(OPEN_DESCRIPTOR, ns=ns, args=[desc])
    line = opener.line()
    assert line.startswith("refused ValueError"), line
    assert opener.finish() == 0, opener.stderr()
    second.tell()
    assert second.finish() == 0, second.stderr()


# ---- 5. no SIGBUS when the tmpfs is full ----------------------------------------------

TWO_POOLS = """
from horus import TensorPool
a = TensorPool(pool_id=1, size_mb=16, max_slots=16)
b = TensorPool(pool_id=2, size_mb=16, max_slots=16)  # each fits; both do not
x = a.alloc([15 << 20], dtype="uint8")
x.numpy()[:] = 1
print("first", flush=True)
try:
    y = b.alloc([15 << 20], dtype="uint8")
    y.numpy()[:] = 2
except MemoryError as e:
    print("MemoryError", str(e).replace(chr(10), " "), flush=True)
else:
    print("no error", flush=True)
"""


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 24 MB tmpfs of our own (root only), unmounted at teardown."""
    mnt = tmp_path / "shm"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_tmpfs_is_a_memory_error_not_sigbus(child, small_tmpfs):
    proc = child(TWO_POOLS, env={"HORUS_SHM_DIR": small_tmpfs, "HORUS_NAMESPACE": "trust"})
    proc.expect("first")
    line = proc.line()
    assert proc.finish() == 0, f"exit status {proc.p.returncode} (-7 is SIGBUS)\n{proc.stderr()}"
    assert line.startswith("MemoryError"), line
    assert str(15 << 20) in line, line  # names the numbers


# ---- 6. out of file descriptors is not death -----------------------------------------------

PUBLISHER = """
import sys
from horus import TensorHandle, TensorPool, Topic
pool = TensorPool(pool_id=133, size_mb=4, max_slots=64)
topic = Topic(TensorHandle, "emfile", capacity=8)
print("open", flush=True)
sys.stdin.readline()
for k in (11, 22, 33):  # only the topic's ring holds these afterwards
    t = pool.alloc([4096], dtype="uint8")
    t.numpy()[:] = k
    topic.send(t)
    t.release()
print("sent", flush=True)
sys.stdin.readline()
t = pool.alloc([4096], dtype="uint8")
t.numpy()[:] = 99
topic.send(t)
t.release()
print("sent", flush=True)
sys.stdin.readline()
"""

SUBSCRIBER = """
import sys
import numpy as np
from horus import TensorHandle, Topic
topic = Topic(TensorHandle, "emfile")
assert topic.recv() is None  # subscribed from now on
print("ready", flush=True)
for expect in (3, 1):
    sys.stdin.readline()
    got = []
    for _ in range(expect):
        m = topic.recv(timeout=60)
        got.append("none" if m is None else "/".join(map(str, np.unique(m.numpy()).tolist())))
    print("got", *got, flush=True)
sys.stdin.readline()
"""

STARVED = """
import errno, os, resource
from horus import TensorPool
pool = TensorPool(pool_id=133, size_mb=4, max_slots=64)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 8, hard))
spent = []
try:
    while True:
        spent.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    assert e.errno == errno.EMFILE, e
reclaimed = pool.reclaim()
for fd in spent:
    os.close(fd)
print("reclaimed", reclaimed, flush=True)
"""


def test_out_of_file_descriptors_reclaims_no_live_holder(child):
    ns = own_ns("emfile")
    pub = child(PUBLISHER, ns=ns)
    pub.expect("open")
    sub = child(SUBSCRIBER, ns=ns)
    sub.expect("ready")
    pub.tell()
    pub.expect("sent")

    starved = child(STARVED, ns=ns)
    assert starved.expect("reclaimed") == ["0"]
    assert starved.finish() == 0, starved.stderr()

    sub.tell()
    assert sub.expect("got") == ["11", "22", "33"]
    pub.tell()
    pub.expect("sent")
    sub.tell()
    assert sub.expect("got") == ["99"]
    sub.tell()
    pub.tell()
    assert sub.finish() == 0, sub.stderr()
    assert pub.finish() == 0, pub.stderr()
