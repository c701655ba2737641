/* cmd_pool.c - `horus pool`: every pool of the namespace with its accounting
 * and who holds references in it. */
#include <dirent.h>
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
             h[i].kind == 1 ? "process" : "segment", (int)h[i].pid);
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
    if (h[i].kind == 1)
      printf("  holder: process %d%s, %llu refs%s\n", (int)h[i].pid,
             h[i].pid == (int32_t)getpid() ? " (this command)" : "",
             (unsigned long long)h[i].refs, h[i].alive ? "" : " (dead: will be reclaimed)");
    else
      printf("  holder: %s, %llu refs%s\n", h[i].name, (unsigned long long)h[i].refs,
             h[i].alive ? "" : " (gone: will be reclaimed)");
  }
}

static int run(const cli_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--json") != 0) return cli_usage("pool", "unexpected argument '%s'", argv[i]);
  char dir[512];
  int r = horus_segment_dir(dir, sizeof dir);
  if (r) return cli_fail("pool", r, "namespace");
  DIR *d = opendir(dir);
  if (!d) return cli_fail("pool", HORUS_EIO, dir);
  if (o->json) printf("[");
  bool first = true;
  int found = 0, rc = CLI_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    if (strncmp(e->d_name, "pool.", 5) != 0) continue;
    unsigned long id = strtoul(e->d_name + 5, &end, 10);
    if (*end || end == e->d_name + 5 || id > UINT32_MAX) continue;
    horus_pool *p;
    r = horus_pool_open((uint32_t)id, 0, 0, 0, &p);
    if (r) {
      rc = cli_fail("pool", r, e->d_name);
      continue;
    }
    print_pool(o, p, first);
    first = false;
    found++;
    horus_pool_close(p);
  }
  closedir(d);
  if (o->json) printf("]\n");
  else if (!found) printf("no pools in %s\n", dir);
  return rc;
}

const cli_command cli_cmd_pool = {"pool", "list pools: usage, free space, holders", run, help};
