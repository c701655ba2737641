"""``python -m horus``: the commands whose work is Python run here (the
demo: a PyTorch pipeline; bridge: Zenoh's binding; record, play, info: the
mcap library; view: the Foxglove SDK).  Every other command is the C
``horus`` tool's alone; this module names it and exits 2."""

import sys


# command -> (module, function)
PYTHON_COMMANDS = {
    "demo": ("demo", "main"),
    "bridge": ("bridge", "main"),
    "record": ("record", "record_main"),
    "play": ("record", "play_main"),
    "info": ("record", "info_main"),
    "view": ("view", "main"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PYTHON_COMMANDS:
        import importlib

        module, func = PYTHON_COMMANDS[argv[0]]
        return getattr(importlib.import_module(f"horus.{module}"), func)(argv[1:])
    # Every other command belongs to the C `horus` tool alone: one entry
    # point per command, and the two programs never exec each other in a
    # circle (the C tool execs this module for the commands above only).
    names = ", ".join(PYTHON_COMMANDS)
    if argv and not argv[0].startswith("-"):
        print(f"python -m horus: '{argv[0]}' is a command of the horus tool: run "
              f"'horus {' '.join(argv)}' (python -m horus runs {names})", file=sys.stderr)
    else:
        print(f"usage: python -m horus {{{names.replace(', ', ',')}}} [ARGS...]\n"
              "(every command, these included, is also 'horus COMMAND')", file=sys.stderr)
    return 2


def run():
    """main(), with a reader that went away (`horus info x.mcap | head`)
    ending the command quietly, as the C commands end, not in a traceback."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        import os
        import select

        # stdout's reader gone (the pipe reports an error), or another
        # pipe's (a socket, a child), which is a real failure.
        try:
            poller = select.poll()
            poller.register(sys.stdout.fileno(), select.POLLOUT)
            gone = any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
        except (AttributeError, ValueError, OSError):  # no stdout, or not a file
            gone = False
        if not gone:
            raise
        # Python flushes stdout again at exit: point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for the C commands


if __name__ == "__main__":
    sys.exit(run())
