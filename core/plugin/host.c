/* core/plugin/host.c — the services table every plugin is handed, and the
 * call context for compute functions. */
#include "base/base.h"
#include "cpu/cpu.h"
#include "registry.h"
#include "thread/pool.h"

// Static and const: plugins may keep the pointer for as long as they are
// loaded, and every function in it is thread-safe.
static const soma_host g_host = {
    .size = sizeof(soma_host),
    .abi_major = SOMA_ABI_MAJOR,
    .abi_minor = SOMA_ABI_MINOR,
    .alloc = soma_alloc,
    .free = soma_free,
    .set_error = soma_error_set,
    .log = soma_log,
    .rng_u64 = soma_rng_u64,
    .rng_uniform = soma_rng_uniform,
    .rng_normal = soma_rng_normal,
    .rng_truncated_normal = soma_rng_truncated_normal,
    .sgemm = soma_sgemm,
    .vexp = soma_vexp,
    .vlog = soma_vlog,
    .parallel_for = soma_parallel_for,
};

const soma_host *soma_host_table(void) { return &g_host; }

soma_ctx soma_ctx_make(soma_rng *rng) {
    return (soma_ctx){
        .size = sizeof(soma_ctx),
        .host = &g_host,
        .rng = rng,
        .thread_index = 0,
        .thread_count = soma_pool_threads(),
    };
}
