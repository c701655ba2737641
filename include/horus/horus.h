/* horus/horus.h - umbrella header of libhorus: shared-memory pools, tensors,
 * images, point clouds, depth images, topics, namespaces and the scheduler.
 *
 * Conventions (as in libuv): every public name starts with horus_ / HORUS_;
 * handles are opaque; fallible functions return 0 or a negative HORUS_E*
 * code (horus/error.h) and give results through out-parameters.  No
 * function may be called from a signal handler (they allocate and take
 * locks) except horus_sched_stop, which says so. */
#ifndef HORUS_HORUS_H
#define HORUS_HORUS_H

#include "horus/dlpack.h"
#include "horus/error.h"
#include "horus/pool.h"
#include "horus/tensor.h"
#include "horus/msg.h"
#include "horus/frame.h"
#include "horus/image.h"
#include "horus/pointcloud.h"
#include "horus/depth.h"
#include "horus/topic.h"
#include "horus/namespace.h"
#include "horus/sched.h"
#include "horus/wire.h"
#include "horus/version.h"


#endif /* HORUS_HORUS_H */
