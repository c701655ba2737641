/* python_exec.c - commands whose work is Python (the demo runs a PyTorch
 * model, the bridge uses Zenoh's Python binding, the viewer the Foxglove
 * SDK) exec `python -m horus
 * <command> ...` with the interpreter installed beside this command (the
 * same venv), else $HORUS_PYTHON, else python3 on PATH. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_exec_python(const cli_opts *o, const char *cmd, int argc, char **argv) {
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
  char **args = calloc((size_t)argc + 5, sizeof *args);
  if (!args) return cli_fail(cmd, HORUS_ENOMEM, "out of memory");
  args[0] = python;
  args[1] = "-m";
  args[2] = "horus";
  bool json = false;
  for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
    json |= strcmp(argv[i], "--json") == 0;
  /* The global --json right after the command name (not after a "--"):
   * the command decides what it means (info prints JSON; the others refuse
   * it as an unknown option, which is the truth). */
  int n = 3;
  if (argc > 0) args[n++] = argv[0];
  if (o && o->json && !json) args[n++] = "--json";
  for (int i = 1; i < argc; i++) args[n++] = argv[i]; /* the command's flags */
  execvp(python, args);
  fprintf(stderr, "horus %s: cannot run %s: %s (set HORUS_PYTHON)\n", cmd, python,
          strerror(errno));
  free(args);
  return CLI_FAIL;
}
