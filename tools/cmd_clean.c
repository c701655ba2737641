/* cmd_clean.c - `horus clean`: remove what dead processes left behind. */
#include <string.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus clean [--all] [--json]\n\n"
          "Remove the namespace's stale segments: topics no live process uses,\n"
          "pools no live process or topic holds references in, and temporaries\n"
          "of dead creators.  Segments in use are never touched.  With --all,\n"
          "remove every segment of this user's namespace (programs still using\n"
          "them keep their mappings; new ones start afresh).  Prints each path\n"
          "removed.\n");
}

typedef struct {
  const cli_opts *o;
  int n;
} ctx;

static void removed(const char *path, void *arg) {
  ctx *c = arg;
  if (c->o->json) {
    printf("%s", c->n ? ", " : "");
    cli_json_string(stdout, path);
  } else {
    printf("removed %s\n", path);
  }
  c->n++;
}

static int run(const cli_opts *o, int argc, char **argv) {
  bool all = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--all") == 0) all = true;
    else if (strcmp(argv[i], "--json") != 0) return cli_usage("clean", "unexpected argument '%s'", argv[i]);
  }
  ctx c = {o, 0};
  if (o->json) printf("[");
  int r = horus_clean(all, removed, &c);
  if (o->json) printf("]\n");
  if (r < 0) return cli_fail("clean", r, "cleaning");
  if (!o->json && c.n == 0) printf("nothing to clean\n");
  return CLI_OK;
}

const cli_command cli_cmd_clean = {"clean", "remove segments of dead processes (--all: everything)",
                                   run, help};
