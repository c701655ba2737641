/* cmd_pool.c - `horus pool`: every pool of the namespace with its accounting
 * and who holds references in it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "usage: horus pool [--json]\n\n"
          "List the pools of the namespace, one line each: size, used, free and\n"
          "largest free block in MB (bytes with --json), live blocks of slots,\n"
          "references; then the holders of references: processes by name and\n"
          "PID, and topic rings, with their counts.  This command itself is not\n"
          "listed.\n");
}

void cli_process_name(int32_t pid, char *out, size_t len) {
  snprintf(out, len, "?");
  char dir[512];
  DIR *d = horus_namespace_dir(dir, sizeof dir, false) == 0 ? opendir(dir) : NULL;
  struct dirent *e;
  char path[1024], buf[96];
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "node.", 5) != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[k > 0 ? k : 0] = '\0';
    char *rest;
    long who = strtol(buf, &rest, 10);
    if (who != pid || *rest != ' ') continue;
    rest[strcspn(rest, "\n")] = '\0';
    if (rest[1]) {
      snprintf(out, len, "%s", rest + 1);
      closedir(d);
      return;
    }
  }
  if (d) closedir(d);
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t k = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[k > 0 ? k : 0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  if (buf[0]) snprintf(out, len, "%s", buf);
}

static double mb(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static int print_pool(const cli_opts *o, horus_pool *p, bool first) {
  horus_pool_stats s;
  horus_pool_holder h[HORUS_POOL_MAX_HOLDERS];
  int r = horus_pool_stats_get(p, &s);
  if (r) return r;
  int n = horus_pool_holders(p, h, HORUS_POOL_MAX_HOLDERS);
  if (n < 0) return n;
  if (n > HORUS_POOL_MAX_HOLDERS) n = HORUS_POOL_MAX_HOLDERS;
  int32_t self = (int32_t)getpid();
  char name[96];
  if (o->json) {
    printf("%s{\"pool_id\": %u, \"path\": ", first ? "" : ", ", s.pool_id);
    cli_json_string(stdout, horus_pool_path(p));
    printf(", \"size_bytes\": %llu, \"used_bytes\": %llu, "
           "\"free_bytes\": %llu, \"largest_free_block\": %llu, "
           "\"allocated_slots\": %u, \"max_slots\": %u, \"total_refs\": %llu, \"holders\": [",
           (unsigned long long)s.size_bytes, (unsigned long long)s.used_bytes,
           (unsigned long long)s.free_bytes, (unsigned long long)s.largest_free_block,
           s.allocated_slots, s.max_slots, (unsigned long long)s.total_refs);
    for (int i = 0, k = 0; i < n; i++) {
      bool proc = h[i].kind == HORUS_HOLDER_PROCESS;
      if (proc && h[i].pid == self) continue;
      if (proc) cli_process_name(h[i].pid, name, sizeof name);
      printf("%s{\"kind\": \"%s\", \"pid\": %d, \"name\": ", k++ ? ", " : "",
             proc ? "process" : "segment", proc ? (int)h[i].pid : 0);
      cli_json_string(stdout, proc ? name : h[i].name);
      printf(", \"refs\": %llu, \"alive\": %s}", (unsigned long long)h[i].refs,
             h[i].alive ? "true" : "false");
    }
    printf("]}");
    return 0;
  }
  if (first)
    printf("%-5s %9s %9s %9s %12s %8s %8s %8s  %s\n", "POOL", "SIZE(MB)", "USED(MB)",
           "FREE(MB)", "LARGEST(MB)", "BLOCKS", "SLOTS", "REFS", "PATH");
  printf("%-5u %9.2f %9.2f %9.2f %12.2f %8u %8u %8llu  %s\n", s.pool_id, mb(s.size_bytes),
         mb(s.used_bytes), mb(s.free_bytes), mb(s.largest_free_block), s.allocated_slots,
         s.max_slots, (unsigned long long)s.total_refs, horus_pool_path(p));
  for (int i = 0; i < n; i++) {
    if (h[i].kind == HORUS_HOLDER_PROCESS) {
      if (h[i].pid == self) continue; /* this command, looking */
      cli_process_name(h[i].pid, name, sizeof name);
      printf("      holder: process %s (pid %d), %llu refs%s\n", name, (int)h[i].pid,
             (unsigned long long)h[i].refs, h[i].alive ? "" : " (dead: will be reclaimed)");
    } else {
      printf("      holder: %s, %llu refs%s\n", h[i].name, (unsigned long long)h[i].refs,
             h[i].alive ? "" : " (gone: will be reclaimed)");
    }
  }
  return 0;
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
  r = print_pool(l->o, p, l->found == 0);
  if (r) l->rc = cli_fail("pool", r, path);
  else l->found++;
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
