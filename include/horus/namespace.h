/* horus/namespace.h - a namespace: where one user's segments live, what is in
 * it, and cleaning it.
 *
 * A namespace is the directory <shm>/horus-<uid>/<name>, named by
 * HORUS_NAMESPACE (default "default"), <shm> being HORUS_SHM_DIR (default
 * /dev/shm; when another user squats /dev/shm/horus-<uid>, the private
 * $XDG_RUNTIME_DIR instead).  It holds pools (pool.<id>) and topics
 * (topic.<name>); processes of one namespace see each other's, nothing else
 * does.  Directories are mode 0700 and refused when they are not ours.
 *
 * The listing functions only look: they never create a directory.
 * Thread-safety: every function here may be called from any thread. */
#ifndef HORUS_NAMESPACE_H
#define HORUS_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "topic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The namespace's directory into buf, created (with the per-user one) when
 * `create` and missing.  Errors: HORUS_ENOENT (missing, !create),
 * HORUS_EINVAL (bad HORUS_NAMESPACE or a path too long), HORUS_EPERM (not
 * ours, a symlink, or open to others), HORUS_EIO. */
HORUS_API int horus_namespace_dir(char *buf, size_t len, bool create);

/* Call visit(info, arg) for each readable topic of the namespace (unreadable
 * segments are skipped), in directory order, until visit returns nonzero.
 * Returns 0, visit's negative return, or an error as for
 * horus_namespace_dir (a namespace that does not exist has no topics). */
HORUS_API int horus_namespace_topics(int (*visit)(const horus_topic_info *info, void *arg),
                                     void *arg);

/* Call visit(pool_id, path, arg) for each pool segment of the namespace
 * (without opening it), until visit returns nonzero.  Returns as above. */
HORUS_API int horus_namespace_pools(int (*visit)(uint32_t pool_id, const char *path,
                                                 void *arg),
                                    void *arg);

/* Call visit(name, arg) for each namespace of this user, until visit
 * returns nonzero.  Returns as above. */
HORUS_API int horus_namespaces(int (*visit)(const char *name, void *arg), void *arg);

/* The namespace's topics into out[0..max); returns how many there are (which
 * may exceed max) or a negative error. */
HORUS_API int horus_topic_list(horus_topic_info *out, int max);

/* Remove what is provably unused: a topic whose segment opens and that no
 * live process has open, a pool that opens and in which no live process or
 * topic holds references (each decided and unlinked under the segment's own
 * lock, so no live user is cut off), creators' temporaries older than a
 * minute, and the node files of dead processes.  A segment that cannot be
 * opened (a full holder table, a stopped lock owner, another layout
 * version, a corrupt header) is left alone.  With `all`, every segment of
 * the namespace goes whatever uses it, then its directory (and the per-user
 * one when empty); pools this process has open are retired, so its later
 * work uses fresh ones.  `removed` (if not NULL) is called with each path
 * removed.  Returns the number removed or a negative error. */
HORUS_API int horus_clean(bool all, void (*removed)(const char *path, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_NAMESPACE_H */
