// The worker pool. For now every range runs on the calling thread: the
// foundation is single-threaded by design and the pinned hwloc pool of the
// fast-training issue replaces this file. soma_set_num_threads already
// records the request so hosts can set it today.
#include <stdlib.h>

#include "base/base.h"
#include "thread/pool.h"

static int requested_threads; // 0 = automatic

SOMA_API int soma_set_num_threads(int n) {
    int old = requested_threads;
    requested_threads = n < 0 ? 0 : n;
    return old;
}

SOMA_API int soma_get_num_threads(void) { return soma_pool_threads(); }

int soma_pool_threads(void) { return 1; }

void soma_parallel_for(const soma_ctx *ctx, int64_t n, soma_range_fn fn, void *arg) {
    (void)ctx;
    if (n > 0) fn(arg, 0, n, 0);
}
