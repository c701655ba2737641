"""Stopping a command on a signal without taking a lock in the handler.

A Python signal handler runs in the main thread between two bytecodes,
which may be inside ``threading.Event.wait()`` while that thread holds the
event's own lock (a plain, non-reentrant ``Lock``).  A handler that calls
``event.set()`` then waits for a lock its own thread holds: the process
ignores the signal forever (a SIGTERM'd ``horus bridge`` that never
exited).  So here the Python handler only notes the signal (a list append
takes no lock), the interpreter's C handler writes the signal's number to a
pipe (``signal.set_wakeup_fd``), and a thread reading that pipe sets the
event, as any other thread may.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["stop_on_signals"]


def stop_on_signals(stop: threading.Event,
                    signals: tuple[int, ...] = (signal.SIGTERM,)) -> list[int]:
    """Set `stop` when any of `signals` arrives, and return the list that
    the numbers of the signals received are appended to (first one first,
    in the main thread at once, so it is complete whenever code there
    looks; `stop` follows from another thread a moment later).

    Call once, from the main thread, in a command's main(): it takes the
    process's wakeup fd (an event loop in the main thread would lose its
    own) and keeps a daemon thread blocked on a pipe for the process's
    life.  Raises ValueError outside the main thread, as signal.signal does.
    """
    r, w = os.pipe()
    received: list[int] = []
    wanted = {int(s) for s in signals}

    def note(signum: int, _frame: object) -> None:
        received.append(signum)

    def watch() -> None:
        while True:
            try:
                data = os.read(r, 64)
            except InterruptedError:
                continue
            if not data:
                return
            if wanted.intersection(data):  # other handled signals (SIGINT's default) write too
                stop.set()

    # The pipe and its reader first: a signal between the steps is then
    # handled late, never lost.
    try:
        os.set_blocking(w, False)  # set_wakeup_fd requires it; a full pipe drops bytes
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except BaseException:
        os.close(r)
        os.close(w)
        raise
    threading.Thread(target=watch, name="horus-signals", daemon=True).start()
    for s in signals:
        signal.signal(s, note)
    return received
