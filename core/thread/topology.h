/* core/thread/topology — what hwloc sees of this machine, restricted to the
 * CPUs this process may use, and how the worker pool is sized and pinned on
 * it. The topology is loaded once, lazily, by the first call that needs it
 * (never by a pool whose size and pinning are given: soma_set_num_threads(1)
 * or SOMA_NUM_THREADS with SOMA_PIN=0 never touch hwloc). */
#ifndef SOMA_CORE_TOPOLOGY_H
#define SOMA_CORE_TOPOLOGY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The automatic thread count: one per core in the process' CPU binding
 * (hwloc, loaded with IS_THISSYSTEM | RESTRICT_TO_CPUBINDING), capped by the
 * cgroup CPU quota rounded up; without hwloc, the CPUs of the affinity
 * mask, capped the same way. >= 1. Writes the rule that decided into why. */
int soma_topology_auto_threads(char *why, size_t len);

/* The tightest CPU limit of this process' cgroup and its ancestors, cgroup v2
 * (cpu.max) or v1 (cpu.cfs_quota_us / cpu.cfs_period_us). root prefixes every
 * path read ("" for this system; tests pass a directory holding a fake
 * proc/self/cgroup and sys/fs/cgroup). Returns 1 with *quota_us, *period_us
 * when a limit applies, 0 when none does (or nothing can be read). */
int soma_cgroup_cpu_quota(const char *root, int64_t *quota_us, int64_t *period_us);

/* Threads a quota allows: quota/period rounded up, at least 1. */
int soma_cgroup_quota_threads(int64_t quota_us, int64_t period_us);

/* Whether a pool of `threads` threads (the caller and threads - 1 workers)
 * pins its workers: SOMA_PIN is not 0, hwloc loaded, the system binds
 * threads, and there are no more threads than PUs. Writes why (not) into
 * why (may be NULL). */
bool soma_topology_pinning(int threads, char *why, size_t len);

/* A pinning `threads`-thread pool's plan has one slot per thread, each a
 * CPU set: slot 0 is left to the caller, which is never bound, and worker w
 * starts in slot w. The slots are the first `threads` cores while there are
 * no more threads than cores, else the PUs taken one per core first, then
 * the cores' second PUs, and so on. A worker later found on the caller's
 * core moves to the slot the caller left free (pool.c, follow_caller). */

/* The plan's slots by CPU, for a pool that pins (soma_topology_pinning):
 * map[cpu] (OS numbering, cpu < len) is the slot whose CPU set holds that
 * CPU, or -1 for CPUs in no slot. Returns 0, or -1 (map unchanged) when
 * the pool does not pin. */
int soma_topology_slot_map(int threads, int16_t *map, int len);

/* Binds `thread` (this process's; pthread_self() for the calling one) to
 * the CPU set of slot `slot` (0 .. threads - 1) of a pinning threads-thread
 * pool's plan. 0, or -1 when the system refused (errno kept). */
int soma_topology_bind_thread(pthread_t thread, int slot, int threads);

#endif
