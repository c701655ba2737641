/* namespace.h - remove a test's namespace directory, for the C tests and
 * the fuzz harnesses alike. */
#ifndef HORUS_TEST_NAMESPACE_H
#define HORUS_TEST_NAMESPACE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "horus/horus.h"

/* Remove this test's namespace directory (and the per-user directory when
 * it is left empty), so a run leaves /dev/shm as it found it. */
static inline void check_remove_namespace(void) {
  const char *base = getenv("HORUS_SHM_DIR");
  const char *ns = getenv("HORUS_NAMESPACE");
  if (!base || !*base) base = "/dev/shm";
  if (!ns || !*ns) return; /* never wipe the default namespace */
  horus_clean(false, NULL, NULL); /* also sweeps node files of killed children */
  char dir[512], path[1024];
  snprintf(dir, sizeof dir, "%s/horus-%u/%s", base, (unsigned)geteuid(), ns);
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
      }
    closedir(d);
  }
  rmdir(dir);
  snprintf(dir, sizeof dir, "%s/horus-%u", base, (unsigned)geteuid());
  rmdir(dir); /* fails harmlessly while other namespaces live there */
}

#endif
