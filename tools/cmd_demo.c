/* cmd_demo.c - `horus demo`: the main job, a camera process and a model
 * process running the spec's ML pipeline.  The pipeline is Python (it runs a
 * PyTorch model), so this execs `python -m horus demo` with the interpreter
 * installed beside this command (the same venv), else python3 on PATH. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  (void)o;
  char python[PATH_MAX + 16];
  const char *env = getenv("HORUS_PYTHON");
  if (env && *env) {
    snprintf(python, sizeof python, "%s", env);
  } else {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    python[0] = '\0';
    if (n > 0) {
      self[n] = '\0';
      snprintf(python, sizeof python, "%s/python3", dirname(self));
      if (access(python, X_OK) != 0) python[0] = '\0';
    }
    if (!python[0]) snprintf(python, sizeof python, "python3");
  }
  char **args = calloc((size_t)argc + 4, sizeof *args);
  if (!args) return cli_fail("demo", HORUS_ENOMEM, "out of memory");
  args[0] = python;
  args[1] = "-m";
  args[2] = "horus";
  for (int i = 0; i < argc; i++) args[3 + i] = argv[i]; /* "demo" and its flags */
  execvp(python, args);
  fprintf(stderr, "horus demo: cannot run %s: %s (set HORUS_PYTHON)\n", python,
          strerror(errno));
  free(args);
  return CLI_FAIL;
}

const cli_command cli_cmd_demo = {"demo", "run the two-process camera -> model demo", run, help};
