"""``python -m horus``: the demo (a Python ML pipeline), the bridge (it
uses Zenoh's Python binding) and the viewer (the Foxglove SDK) run here;
every other command is the C ``horus`` tool installed beside Python."""

import os
import shutil
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        from horus import demo

        return demo.main(argv[1:])
    if argv and argv[0] == "bridge":
        from horus import bridge

        return bridge.main(argv[1:])
    if argv and argv[0] == "view":
        from horus import view

        return view.main(argv[1:])
    here = os.path.join(os.path.dirname(sys.executable), "horus")
    tool = here if os.access(here, os.X_OK) else shutil.which("horus")
    if not tool:
        print("horus: the command-line tool is not installed; "
              "'python -m horus demo' runs the demo", file=sys.stderr)
        return 2
    os.execv(tool, [tool, *argv])


if __name__ == "__main__":
    sys.exit(main())
