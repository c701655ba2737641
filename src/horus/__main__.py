"""``python -m horus``: the commands whose work is Python run here (the
demo: a PyTorch pipeline; bridge: Zenoh's binding; record, play, info: the
mcap library; view: the Foxglove SDK); every other command is the C ``horus``
tool installed beside Python."""

import os
import shutil
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
    here = os.path.join(os.path.dirname(sys.executable), "horus")
    tool = here if os.access(here, os.X_OK) else shutil.which("horus")
    if not tool:
        print("horus: the command-line tool is not installed; "
              "'python -m horus demo' runs the demo", file=sys.stderr)
        return 2
    os.execv(tool, [tool, *argv])


if __name__ == "__main__":
    sys.exit(main())
