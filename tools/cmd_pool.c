/* cmd_pool.c - `horus pool`: every pool of the namespace with its accounting
 * and who holds references in it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus pool [--json]\n\n"
          "List the pools of the namespace: size, used and free bytes, live\n"
          "blocks and slots, the largest free block, and the holders of\n"
          "references (processes, and topic rings) with their counts.\n");
}

static void print_pool(const cli_opts *o, horus_pool *p, bool first) {
  horus_pool_stats s;
  horus_pool_holder h[HORUS_POOL_MAX_HOLDERS];
  if (horus_pool_stats_get(p, &s) != 0) return;
  int n = horus_pool_holders(p, h, HORUS_POOL_MAX_HOLDERS);
  if (n < 0) n = 0;
  if (n > HORUS_POOL_MAX_HOLDERS) n = HORUS_POOL_MAX_HOLDERS;
  if (o->json) {
    printf("%s{\"pool_id\": %u, \"size_bytes\": %llu, \"used_bytes\": %llu, "
           "\"free_bytes\": %llu, \"largest_free_block\": %llu, "
           "\"allocated_slots\": %u, \"max_slots\": %u, \"holders\": [",
           first ? "" : ", ", s.pool_id, (unsigned long long)s.size_bytes,
           (unsigned long long)s.used_bytes, (unsigned long long)s.free_bytes,
           (unsigned long long)s.largest_free_block, s.allocated_slots, s.max_slots);
    for (int i = 0; i < n; i++) {
      printf("%s{\"kind\": \"%s\", \"pid\": %d, \"name\": ", i ? ", " : "",
             h[i].kind == HORUS_HOLDER_PROCESS ? "process" : "segment", (int)h[i].pid);
      cli_json_string(stdout, h[i].name);
      printf(", \"refs\": %llu, \"alive\": %s}", (unsigned long long)h[i].refs,
             h[i].alive ? "true" : "false");
    }
    printf("]}");
    return;
  }
  printf("pool %u  %s\n", s.pool_id, horus_pool_path(p));
  printf("  size %llu MB, used %llu bytes, free %llu bytes, largest free block "
         "%llu bytes\n  blocks %u of %u slots, %llu references\n",
         (unsigned long long)(s.size_bytes >> 20), (unsigned long long)s.used_bytes,
         (unsigned long long)s.free_bytes, (unsigned long long)s.largest_free_block,
         s.allocated_slots, s.max_slots, (unsigned long long)s.total_refs);
  for (int i = 0; i < n; i++) {
    if (h[i].kind == HORUS_HOLDER_PROCESS)
      printf("  holder: process %d%s, %llu refs%s\n", (int)h[i].pid,
             h[i].pid == (int32_t)getpid() ? " (this command)" : "",
             (unsigned long long)h[i].refs, h[i].alive ? "" : " (dead: will be reclaimed)");
    else
      printf("  holder: %s, %llu refs%s\n", h[i].name, (unsigned long long)h[i].refs,
             h[i].alive ? "" : " (gone: will be reclaimed)");
  }
}

typedef struct listing {
  const cli_opts *o;
  int found, rc;
} listing;

static int show_pool(uint32_t id, const char *path, void *arg) {
  listing *l = arg;
  horus_pool *p;
  int r = horus_pool_open(id, 0, 0, 0, &p);
  if (r) {
    l->rc = cli_fail("pool", r, path);
    return 0;
  }
  print_pool(l->o, p, l->found == 0);
  l->found++;
  horus_pool_close(p);
  return 0;
}

static int run(const cli_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--json") != 0) return cli_usage("pool", "unexpected argument '%s'", argv[i]);
  char dir[512];
  int r = horus_namespace_dir(dir, sizeof dir, false);
  if (r && r != HORUS_ENOENT) return cli_fail("pool", r, "namespace");
  listing l = {o, 0, CLI_OK};
  if (o->json) printf("[");
  if (r == 0 && (r = horus_namespace_pools(show_pool, &l))) l.rc = cli_fail("pool", r, dir);
  if (o->json) printf("]\n");
  else if (!l.found && l.rc == CLI_OK) printf("no pools in this namespace\n");
  return l.rc;
}

const cli_command cli_cmd_pool = {"pool", "list pools: usage, free space, holders", run, help};
