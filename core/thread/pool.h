/* core/thread — the worker pool: persistent pthreads, created lazily by the
 * first parallel_for that needs them in this process (a fork()ed child starts
 * with none and makes its own), stopped at exit. Each worker binds itself to
 * its core (topology.h has the plan; SOMA_PIN=0 turns it off); the calling
 * thread is the host's and is never bound. One thread configured: no worker
 * is ever started (and any running are stopped). */
#ifndef SOMA_CORE_POOL_H
#define SOMA_CORE_POOL_H

#include "soma/plugin.h"

#include <stddef.h>

#define SOMA_POOL_MAX_THREADS 256

/* Threads compute may use (>= 1): soma_set_num_threads' value, else
 * SOMA_NUM_THREADS, else one per core this process may use (its affinity
 * mask), capped by its cgroup CPU quota (soma_topology_auto_threads). */
int soma_pool_threads(void);
/* The same, and which of those rules decided, in words, into why. */
int soma_pool_threads_why(char *why, size_t len);

/* Runs fn over [0, n) split into at most soma_pool_threads() contiguous
 * ranges of near-equal size; returns when all are done. The calling thread
 * runs range 0, the workers claim the others, and the caller runs any range
 * no worker has started once its own is done. thread_index is the range's
 * index: each index runs on one thread at a time (per-index scratch is safe),
 * not always the same thread. Runs everything inline (one call, [0, n),
 * thread_index 0) when n < 2, when one thread is configured, when called
 * from inside a parallel_for range, or when another thread is using the pool
 * at that moment. ctx may be NULL; when it is not, ctx->thread_count (if > 0)
 * caps the number of ranges. The split of [0, n) depends only on n and the
 * thread count, so callers that need results independent of the thread count
 * must make each index's work independent of the range it falls in. */
void soma_parallel_for(const soma_ctx *ctx, int64_t n, soma_range_fn fn, void *arg);

/* A team: fn(arg, team, index, size) for index 0 … size-1, every member on a
 * thread of its own at the same time, so members may wait for each other
 * with soma_team_barrier (the GEMM packs a block of B together, then each
 * member multiplies its rows by it). size (<= max_size) is fixed before the
 * first member starts: soma_parallel_for's range count, 1 whenever that
 * runs inline. Returns size. */
typedef struct soma_team soma_team;
typedef void (*soma_team_fn)(void *arg, soma_team *team, int index, int size);
int soma_parallel_team(const soma_ctx *ctx, int max_size, soma_team_fn fn, void *arg);
/* Returns once every member of the team has called it (as many times). */
void soma_team_barrier(soma_team *team);

/* Stops and joins the workers (the next parallel_for starts them again).
 * Runs at exit by itself. MUST NOT be called from inside a range. */
void soma_pool_shutdown(void);

#endif
