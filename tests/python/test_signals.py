"""A command stops on SIGTERM/SIGINT whatever its main thread was doing.

The commands (bridge, record, play, view) wait in threading.Event.wait();
a Python signal handler that set the event ran, now and then, while that
same thread held the event's lock, and the process never exited (a
bridge SIGTERM'd in CI did not stop in 120 s).  horus._signals sets the
event from another thread instead."""

import ast
import os
import pathlib
import subprocess
import sys
import textwrap

import horus

PACKAGE = pathlib.Path(horus.__file__).parent
HANG_S = 120  # tells "exited" from "hung", not a speed


def run_script(body):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=HANG_S)


def test_a_signal_while_the_main_thread_holds_the_events_lock_still_stops():
    # The handler runs at the first bytecode after raise_signal(), inside
    # the `with`: exactly where Event.wait() holds the lock.  The old
    # handler (stop.set() in the handler) deadlocked here every time.
    r = run_script("""
        import signal, threading
        from horus._signals import stop_on_signals
        stop = threading.Event()
        got = stop_on_signals(stop, (signal.SIGTERM, signal.SIGINT))
        with stop._cond:
            signal.raise_signal(signal.SIGTERM)
            sum(range(1000))
        assert stop.wait(60), "the event was never set"
        print("stopped by", got)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stopped by [15]"


def test_signals_are_recorded_at_once_in_order_and_others_keep_their_handlers():
    r = run_script("""
        import signal, threading
        from horus._signals import stop_on_signals
        stop = threading.Event()
        got = stop_on_signals(stop, (signal.SIGTERM, signal.SIGUSR1))
        signal.raise_signal(signal.SIGUSR1)
        # Noted in this thread before its next line: `horus play` reads the
        # list for its exit code right after play() returns.
        assert got == [signal.SIGUSR1], got
        assert stop.wait(60)
        signal.raise_signal(signal.SIGTERM)
        assert got == [signal.SIGUSR1, signal.SIGTERM], got
        try:
            signal.raise_signal(signal.SIGINT)  # not asked for: still KeyboardInterrupt
            sum(range(1000))
        except KeyboardInterrupt:
            print("interrupted", got)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "interrupted [10, 15]"


def test_no_module_sets_an_event_from_a_python_signal_handler():
    # Every command goes through stop_on_signals; the demo's handler only
    # appends to a list and signals its children (no lock it could hold).
    allowed = {"_signals.py", "demo.py"}
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "signal"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "signal"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == [], f"signal.signal() outside horus._signals: {offenders}"
    assert os.path.exists(PACKAGE / "_signals.py")
