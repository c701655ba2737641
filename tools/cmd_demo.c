/* cmd_demo.c - `horus demo`: the main job, a camera process and a model
 * process running the spec's ML pipeline.  The pipeline is Python (it runs a
 * PyTorch model), so this execs `python -m horus demo` (python_exec.c). */
#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus demo [--seconds N]\n\n"
          "Run the ML pipeline demo across two processes: a camera publishing\n"
          "640x480 rgb8 frames at 30 Hz and a model running a small CNN on each\n"
          "frame via to_torch().  Prints frames/s, capture-to-inference latency\n"
          "(median, p99), dropped frames and pool usage once a second.\n"
          "Runs python -m horus demo (set HORUS_PYTHON to choose the interpreter).\n");
}

static int run(const cli_opts *o, int argc, char **argv) {
  return cli_exec_python(o, "demo", argc, argv);
}

const cli_command cli_cmd_demo = {"demo", "run the two-process camera -> model demo", run, help};
