/* core/thread — the worker pool. Issue 2 runs everything on the calling
 * thread; the pinned hwloc pool of the fast-training issue plugs in here. */
#ifndef SOMA_CORE_POOL_H
#define SOMA_CORE_POOL_H

#include "soma/plugin.h"

/* Threads compute may use (>= 1). */
int soma_pool_threads(void);
/* Runs fn over [0, n) in ranges; returns when all are done. */
void soma_parallel_for(const soma_ctx *ctx, int64_t n, soma_range_fn fn, void *arg);

#endif
