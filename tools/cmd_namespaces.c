/* cmd_namespaces.c - `horus namespaces`: the namespaces of this user with
 * their topics and pools, read from the directory names alone (opening a
 * segment would register this command in it; nothing is created). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus namespaces [--json]\n\n"
          "List this user's namespaces (directories under /dev/shm/horus-UID, or\n"
          "$HORUS_SHM_DIR) with the topics and pools each holds.  Use one with\n"
          "'horus --namespace NS topic list'; 'horus clean' removes what is stale.\n");
}

static int by_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of `dir`'s entries (not starting with '.'); caller frees. */
static int names(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  size_t n = 0, cap = 16;
  char **v = malloc(cap * sizeof *v);
  struct dirent *e;
  while (v && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      char **w = realloc(v, (cap *= 2) * sizeof *v);
      if (!w) break;
      v = w;
    }
    if (!(v[n] = strdup(e->d_name))) break;
    n++;
  }
  closedir(d);
  if (!v) return -1;
  qsort(v, n, sizeof *v, by_str);
  *out = v;
  return (int)n;
}

static void free_names(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int run(const cli_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--json") != 0)
      return cli_usage("namespaces", "unexpected argument '%s'", argv[i]);
  const char *base = getenv("HORUS_SHM_DIR");
  char user[4096];
  snprintf(user, sizeof user, "%s/horus-%u", base && *base ? base : "/dev/shm",
           (unsigned)geteuid());
  char **ns = NULL;
  int n = names(user, &ns);
  if (n < 0) n = 0, ns = NULL; /* no directory: no namespaces */
  if (o->json) printf("[");
  else if (n) printf("%-24s %6s %5s  %s\n", "NAMESPACE", "TOPICS", "POOLS", "TOPIC NAMES");
  for (int i = 0, shown = 0; i < n; i++) {
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/%s", user, ns[i]);
    char **seg = NULL;
    int m = names(dir, &seg);
    if (m < 0) continue; /* not a directory */
    int topics = 0, pools = 0;
    for (int k = 0; k < m; k++) {
      topics += strncmp(seg[k], "topic.", 6) == 0;
      pools += strncmp(seg[k], "pool.", 5) == 0;
    }
    if (o->json) {
      printf("%s{\"name\": ", shown++ ? ", " : "");
      cli_json_string(stdout, ns[i]);
      printf(", \"topics\": [");
      for (int k = 0, first = 1; k < m; k++)
        if (strncmp(seg[k], "topic.", 6) == 0) {
          printf(first ? "" : ", ");
          cli_json_string(stdout, seg[k] + 6);
          first = 0;
        }
      printf("], \"pools\": [");
      for (int k = 0, first = 1; k < m; k++)
        if (strncmp(seg[k], "pool.", 5) == 0) {
          printf("%s%s", first ? "" : ", ", seg[k] + 5);
          first = 0;
        }
      printf("]}");
    } else {
      printf("%-24s %6d %5d ", ns[i], topics, pools);
      for (int k = 0, first = 1; k < m; k++)
        if (strncmp(seg[k], "topic.", 6) == 0) {
          printf("%s%s", first ? " " : ", ", seg[k] + 6);
          first = 0;
        }
      printf("\n");
    }
    free_names(seg, m);
  }
  if (o->json) printf("]\n");
  else if (!n) printf("no namespaces (nothing under %s)\n", user);
  free_names(ns, n);
  return CLI_OK;
}

const cli_command cli_cmd_namespaces = {"namespaces",
                                        "list this user's namespaces, their topics and pools",
                                        run, help};
