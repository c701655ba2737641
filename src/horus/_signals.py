"""Stopping a command on a signal without taking a lock in the handler.

A Python signal handler runs in the main thread between two bytecodes,
which may be inside ``threading.Event.wait()`` while that thread holds the
event's own lock (a plain, non-reentrant ``Lock``).  A handler that calls
``event.set()`` then waits for a lock its own thread holds: the process
ignores the signal forever (a SIGTERM'd ``horus bridge`` that never
exited).  So here the Python handler does nothing; the interpreter's C
handler writes the signal's number to a pipe (``signal.set_wakeup_fd``),
and a thread reading that pipe sets the event, as any other thread may.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["stop_on_signals"]


def _ignore(_signum: int, _frame: object) -> None:
    """The Python-level handler: the work happens in the wakeup thread."""


def stop_on_signals(stop: threading.Event,
                    signals: tuple[int, ...] = (signal.SIGTERM,)) -> list[int]:
    """Set `stop` when any of `signals` arrives, and return the list that
    the numbers of the signals received are appended to (first one first).

    Call once, from the main thread, in a command's main(): it takes the
    process's wakeup fd (an event loop in the main thread would lose its
    own) and keeps a daemon thread blocked on a pipe for the process's
    life.  Raises ValueError outside the main thread, as signal.signal does.
    """
    r, w = os.pipe()
    os.set_blocking(w, False)  # set_wakeup_fd requires it; a full pipe drops bytes
    received: list[int] = []
    wanted = {int(s) for s in signals}

    def watch() -> None:
        while True:
            try:
                data = os.read(r, 64)
            except InterruptedError:
                continue
            if not data:
                return
            for signum in data:  # other handled signals (SIGINT's default) write too
                if signum in wanted:
                    received.append(signum)
                    stop.set()

    # The pipe and its reader first: a signal between the two steps is
    # then handled late, never lost.
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    threading.Thread(target=watch, name="horus-signals", daemon=True).start()
    for s in signals:
        signal.signal(s, _ignore)
    return received
