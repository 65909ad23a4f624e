// The worker pool: a plain persistent pthread pool. Workers are created by
// the first parallel_for that needs them, in the process that runs it:
// Criterion (and any host) may fork, and a child must never wait on threads
// that only exist in its parent, so pthread_atfork forgets the workers in the
// child, which then starts its own on demand. Workers spin briefly between
// jobs (a training step issues GEMMs microseconds apart) and then sleep on a
// condition variable. Ranges are claimed, not assigned: a worker the OS has
// descheduled (a busy CI machine) never makes the caller wait a time slice;
// the caller runs the unclaimed ranges itself. A range runs under the
// caller's floating-point controls (cpu/fpenv.h), whoever claims it. At exit
// the workers are stopped and joined so that leak checkers see a clean
// process. Each worker binds itself to its core before it allocates anything,
// so its GEMM packing buffers are first touched on its own NUMA node; a
// binding the system refuses costs a warning, never a computation.
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "cpu/fpenv.h"
#include "cpu/cpu.h"
#include "thread/pool.h"
#include "thread/topology.h"

#define MAX_THREADS SOMA_POOL_MAX_THREADS
// Polls of the job counter before a worker (or the waiting caller) sleeps:
// about 30–150 µs (a pause takes 5–40 ns), longer than the gap between the
// GEMMs of a training step, far shorter than anything a user would notice as
// a busy CPU.
#define SPIN_POLLS 4000

// CPUs (OS numbers below this) on which a pinned pool follows the caller.
#define FOLLOW_CPUS 1024

static _Atomic int requested_threads; // 0 = automatic

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work_cv; // workers wait here for a new generation
    pthread_cond_t done_cv; // the caller waits here for the last range, or
                            // start_workers for the workers to be ready
    pthread_t *threads;
    int nworkers;           // threads besides the caller
    int wanted;             // workers asked for when they were started
    int sleepers;           // workers blocked on work_cv (under lock)
    int ready;              // workers past their start-up (under lock)
    int pinned;             // of those, bound to their CPU set (under lock)
    int pin_errno;          // why the last binding failed (under lock)
    // Following the caller (follow_caller), when every worker is pinned: the
    // plan's slot of each CPU, which worker holds each slot (-1: none), and
    // the slot no worker holds, where the caller is expected. Touched only
    // by the holder of `busy` and by start/stop.
    bool follow;
    int free_slot;
    int16_t slot_of_cpu[FOLLOW_CPUS];
    int16_t worker_of_slot[MAX_THREADS];
    _Atomic bool stop;      // read by workers that may wake up at any time
    _Atomic uint64_t gen;   // bumped once per job (and to stop)
    // Who runs what: job number (low 32 bits of gen) << 32 | next unclaimed
    // range << 16 | ranges. A successful compare-exchange on it claims a
    // range of *this* job, so a worker that wakes up late can never run a
    // range of a job that is already over.
    _Atomic uint64_t claim;
    _Atomic int done;       // ranges 1.. finished in this job
    // The job, written before claim and gen are published; stable while any
    // of its ranges is unfinished, i.e. for whoever holds a claim.
    soma_range_fn fn;
    void *arg;
    int64_t n;
    soma_fpenv fpenv; // the caller's floating-point state, taken by every range
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work_cv = PTHREAD_COND_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
};

// One user of the pool at a time; a second thread runs its ranges inline
// instead of waiting (models may be used from several threads at once).
static atomic_flag busy = ATOMIC_FLAG_INIT;
// Set while this thread runs a range (always, in a worker): a nested
// parallel_for, e.g. a GEMM called from a plugin's range, runs inline.
static _Thread_local bool in_range;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

// ---- thread count ----

// Read once per process (a forked child keeps its parent's answer): the
// environment, else the machine, which is loaded through hwloc only then.
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int auto_threads = 1;
static char auto_why[256] = "";

static void read_env(void) {
    int n = 0;
    const char *v = getenv("SOMA_NUM_THREADS");
    if (v && *v) {
        char *end;
        long x = strtol(v, &end, 10);
        if (*end == '\0' && x > 0) {
            n = x > MAX_THREADS ? MAX_THREADS : (int)x;
            if (x > MAX_THREADS)
                snprintf(auto_why, sizeof auto_why, "SOMA_NUM_THREADS=%s, at most %d", v,
                         MAX_THREADS);
            else
                snprintf(auto_why, sizeof auto_why, "SOMA_NUM_THREADS=%s", v);
        } else {
            soma_log(SOMA_LOG_WARN, "SOMA_NUM_THREADS=%s is not a positive integer; ignored", v);
        }
    }
    if (n == 0) {
        // The CPUs the process may use, not the machine: taskset, cpusets
        // and container runtimes restrict them, and more threads than CPUs
        // only thrash.
        char why[200];
        n = soma_topology_auto_threads(why, sizeof why);
        snprintf(auto_why, sizeof auto_why, "%s%s", why,
                 v && *v ? "; SOMA_NUM_THREADS ignored" : "");
    }
    auto_threads = n;
}

SOMA_API int soma_set_num_threads(int n) {
    int old = atomic_exchange(&requested_threads, n < 0 ? 0 : n > MAX_THREADS ? MAX_THREADS : n);
    // Single-thread mode means no threads at all, also after a larger pool
    // ran: an embedding host that asks for one thread gets its process back.
    if (soma_pool_threads() == 1) soma_pool_shutdown();
    return old;
}

SOMA_API int soma_get_num_threads(void) { return soma_pool_threads(); }

int soma_pool_threads(void) {
    int r = atomic_load_explicit(&requested_threads, memory_order_relaxed);
    if (r > 0) return r;
    pthread_once(&env_once, read_env);
    return auto_threads;
}

int soma_pool_threads_why(char *why, size_t len) {
    int r = atomic_load_explicit(&requested_threads, memory_order_relaxed);
    if (r > 0) {
        if (len) snprintf(why, len, "soma_set_num_threads(%d)", r);
        return r;
    }
    pthread_once(&env_once, read_env);
    if (len) snprintf(why, len, "%s", auto_why);
    return auto_threads;
}

// ---- workers ----

static void run_range(int64_t n, int parts, int index, soma_range_fn fn, void *arg) {
    int64_t begin = n * index / parts, end = n * (index + 1) / parts;
    if (begin < end) fn(arg, begin, end, index);
}

// Claims and runs ranges of job `job` until none is left; shared by the
// workers and the caller. The range's index is its thread_index: each index
// runs on one thread at a time, whichever thread that is.
static void run_claimed(uint32_t job) {
    uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != job) return;
        int next = (int)((c >> 16) & 0xffff), parts = (int)(c & 0xffff);
        if (next >= parts) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + (1u << 16),
                                                   memory_order_acq_rel, memory_order_acquire))
            continue;
        soma_fpenv_adopt(pool.fpenv);
        run_range(pool.n, parts, next, pool.fn, pool.arg);
        if (atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel) + 1 == parts - 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done_cv);
            pthread_mutex_unlock(&pool.lock);
        }
        c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

typedef struct worker_start {
    uint64_t gen;     // the generation current when the worker was created
    int slot;         // the plan's slot to bind this worker to; 0: unbound
    int threads;      // of a pool of this many threads (topology.h)
} worker_start;

static void *worker_main(void *p) {
    worker_start start = *(worker_start *)p;
    free(p);
    in_range = true;
    bool bound = false;
    int bind_errno = 0;
    if (start.slot) {
        bound = soma_topology_bind_thread(pthread_self(), start.slot, start.threads) == 0;
        if (!bound) bind_errno = errno ? errno : EINVAL;
    }
    // Allocate now, while start_workers waits, not at a first use in some
    // later job (which would allocate in the middle of a training step).
    soma_cpu_thread_init();
    pthread_mutex_lock(&pool.lock);
    if (bound) pool.pinned++;
    if (bind_errno) pool.pin_errno = bind_errno;
    pool.ready++;
    pthread_cond_broadcast(&pool.done_cv);
    pthread_mutex_unlock(&pool.lock);
    uint64_t seen = start.gen;
    for (;;) {
        uint64_t g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        for (int i = 0; g == seen && i < SPIN_POLLS; i++) {
            cpu_relax();
            g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.lock);
            pool.sleepers++;
            while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.work_cv, &pool.lock);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.lock);
        }
        seen = g;
        if (pool.stop) break;
        run_claimed((uint32_t)g);
    }
    return NULL;
}

// The pool as before any worker started (the workers are gone or joined).
static void forget_workers(void) {
    free(pool.threads);
    pool.threads = NULL;
    pool.nworkers = 0;
    pool.wanted = 0;
    pool.ready = 0;
    pool.pinned = 0;
    pool.pin_errno = 0;
    pool.follow = false;
    pool.stop = false;
}

static void stop_workers(void) {
    if (pool.nworkers == 0) return;
    pthread_mutex_lock(&pool.lock);
    pool.stop = true;
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.work_cv);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.nworkers; i++) pthread_join(pool.threads[i], NULL);
    forget_workers();
}

static void atfork_prepare(void) { pthread_mutex_lock(&pool.lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&pool.lock); }
// The child has none of the parent's workers: forget them (their handles and
// the condition variables they waited on) and let the child start its own.
static void atfork_child(void) {
    forget_workers();
    pool.sleepers = 0;
    atomic_store(&pool.claim, 0);
    pthread_cond_init(&pool.work_cv, NULL);
    pthread_cond_init(&pool.done_cv, NULL);
    atomic_flag_clear(&busy);
    pthread_mutex_unlock(&pool.lock);
}

static void at_exit(void) { soma_pool_shutdown(); }

static void register_hooks(void) {
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    atexit(at_exit);
}

// Starts `want` workers; fewer if the system refuses threads (the pool then
// runs with what it got; ranges of missing workers go to the caller).
static void start_workers(int want) {
    static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
    pthread_once(&hooks_once, register_hooks);
    pool.wanted = want;
    pool.threads = calloc((size_t)want, sizeof *pool.threads);
    if (!pool.threads) return;
    // Workers take no signals: they belong to the host's threads.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    uint64_t gen = atomic_load(&pool.gen);
    // Plan (and load the topology) before any worker exists: hwloc takes the
    // process' binding from all its threads, which must be the host's alone.
    bool pin = soma_topology_pinning(want + 1, NULL, 0);
    for (int i = 0; i < want; i++) {
        worker_start *s = malloc(sizeof *s);
        if (!s) break;
        *s = (worker_start){.gen = gen, .slot = pin ? i + 1 : 0, .threads = want + 1};
        if (pthread_create(&pool.threads[i], NULL, worker_main, s) != 0) {
            free(s);
            soma_log(SOMA_LOG_WARN, "thread pool: started %d of %d workers", i, want);
            break;
        }
        pool.nworkers = i + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&pool.lock);
    while (pool.ready < pool.nworkers) pthread_cond_wait(&pool.done_cv, &pool.lock);
    int pinned = pool.pinned, pin_errno = pool.pin_errno;
    pthread_mutex_unlock(&pool.lock);
    soma_log(SOMA_LOG_DEBUG, "thread pool: %d workers started, %d pinned", pool.nworkers, pinned);
    if (pin && pinned < pool.nworkers)
        soma_log(SOMA_LOG_WARN,
                 "thread pool: %d of %d workers could not be pinned (%s); they run unpinned",
                 pool.nworkers - pinned, pool.nworkers,
                 pin_errno ? strerror(pin_errno) : "no CPU set");
    if (pin && pool.nworkers == want && pinned == want &&
        soma_topology_slot_map(want + 1, pool.slot_of_cpu, FOLLOW_CPUS) == 0) {
        pool.follow = true;
        pool.free_slot = 0;
        pool.worker_of_slot[0] = -1;
        for (int w = 0; w < want; w++) pool.worker_of_slot[w + 1] = (int16_t)w;
    }
}

// The caller is never bound (its thread belongs to the host), and the plan
// leaves it a core of its own; but the scheduler may run it on a worker's
// core, where the two then share one core for as long as the scheduler
// leaves them there: each waits for the other's half of every job while
// that one spins or computes on the CPU it needs. On Zen 3 (2 vCPUs, one
// process alternating libraries every 25 ms), the GEMM 128×128×784 NN on 2
// threads ran at 44-78 GFLOP/s while the caller sat on the worker's CPU
// (up to 13 rounds in a row) and at 84-176 once it had moved; oneDNN, whose
// threads are not bound, ran at 74-160 in the same rounds. So before each
// job the pool asks where the caller runs (sched_getcpu: 3.5 ns here, no
// system call: glibc 2.35 and later read it from the rseq area, and x86-64
// has it in the vDSO besides) and moves a worker found on its core
// to the slot the caller left free: in the same rounds as the unmoved pool's
// 42-69, 77-148. A refused binding ends the following, with the worker
// left where it was.
static void follow_caller(void) {
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= FOLLOW_CPUS) return;
    const int slot = pool.slot_of_cpu[cpu];
    if (slot < 0 || slot == pool.free_slot) return;
    const int w = pool.worker_of_slot[slot];
    if (w < 0 || w >= pool.nworkers) return;
    if (soma_topology_bind_thread(pool.threads[w], pool.free_slot, pool.wanted + 1) != 0) {
        soma_log(SOMA_LOG_WARN, "thread pool: worker %d could not move off the caller's CPU %d (%s)",
                 w + 1, cpu, strerror(errno));
        pool.follow = false;
        return;
    }
    soma_log(SOMA_LOG_DEBUG, "thread pool: the caller runs on CPU %d; worker %d moved to slot %d",
             cpu, w + 1, pool.free_slot);
    pool.worker_of_slot[pool.free_slot] = (int16_t)w;
    pool.worker_of_slot[slot] = -1;
    pool.free_slot = slot;
}

// soma_parallel_for, and the team call: with `team` set, n becomes the number
// of ranges once that is known (each range one index, each on its own
// thread), and *team gets it before any range runs.
static void parallel(const soma_ctx *ctx, int64_t n, soma_range_fn fn, void *arg, int *team) {
    if (n <= 0) return;
    int parts = soma_pool_threads();
    if (ctx && ctx->thread_count > 0 && ctx->thread_count < parts) parts = ctx->thread_count;
    if (parts > n) parts = (int)n;
    if (parts <= 1 || in_range || atomic_flag_test_and_set_explicit(&busy, memory_order_acquire)) {
        bool outer = in_range;
        in_range = true;
        if (team) *team = 1;
        fn(arg, 0, team ? 1 : n, 0);
        in_range = outer;
        return;
    }
    if (pool.wanted != soma_pool_threads() - 1) {
        stop_workers();
        start_workers(soma_pool_threads() - 1);
    }
    int helpers = pool.nworkers < parts - 1 ? pool.nworkers : parts - 1;
    parts = helpers + 1;
    if (team) *team = parts, n = parts;
    uint32_t job = 0;
    if (helpers > 0) {
        if (pool.follow) follow_caller();
        pool.fn = fn;
        pool.arg = arg;
        pool.n = n;
        pool.fpenv = soma_fpenv_get();
        atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
        // Only the holder of `busy` publishes, so gen + 1 is the new job.
        uint64_t g = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
        job = (uint32_t)g;
        atomic_store_explicit(&pool.claim, (uint64_t)job << 32 | 1u << 16 | (uint64_t)parts,
                              memory_order_release);
        pthread_mutex_lock(&pool.lock);
        atomic_store_explicit(&pool.gen, g, memory_order_release);
        if (pool.sleepers) pthread_cond_broadcast(&pool.work_cv);
        pthread_mutex_unlock(&pool.lock);
    }
    in_range = true;
    run_range(n, parts, 0, fn, arg);
    if (helpers > 0) run_claimed(job); // what the workers have not started yet
    in_range = false;
    if (helpers > 0) {
        for (int i = 0; i < SPIN_POLLS; i++) {
            if (atomic_load_explicit(&pool.done, memory_order_acquire) == parts - 1) break;
            cpu_relax();
        }
        if (atomic_load_explicit(&pool.done, memory_order_acquire) != parts - 1) {
            pthread_mutex_lock(&pool.lock);
            while (atomic_load_explicit(&pool.done, memory_order_acquire) != parts - 1)
                pthread_cond_wait(&pool.done_cv, &pool.lock);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    atomic_flag_clear_explicit(&busy, memory_order_release);
}

void soma_parallel_for(const soma_ctx *ctx, int64_t n, soma_range_fn fn, void *arg) {
    parallel(ctx, n, fn, arg, NULL);
}

// ---- teams ----

struct soma_team {
    soma_team_fn fn;
    void *arg;
    int size;
    _Atomic int arrived;   // members at the current barrier
    _Atomic unsigned phase; // barriers passed
};

// A team's range is one index (parallel() made n the team's size).
static void team_range(void *arg, int64_t begin, int64_t end, int index) {
    (void)end, (void)index;
    soma_team *t = arg;
    t->fn(t->arg, t, (int)begin, t->size);
}

int soma_parallel_team(const soma_ctx *ctx, int max_size, soma_team_fn fn, void *arg) {
    soma_team t = {.fn = fn, .arg = arg, .size = 1};
    parallel(ctx, max_size < 1 ? 1 : max_size, team_range, &t, &t.size);
    return t.size;
}

void soma_team_barrier(soma_team *t) {
    if (t->size <= 1) return;
    const unsigned phase = atomic_load_explicit(&t->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) + 1 == t->size) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&t->phase, phase + 1, memory_order_release);
        return;
    }
    // Every member has a thread of its own, so the wait ends; a member the
    // OS has descheduled is waited for with the CPU given up, not spun on.
    for (long polls = 0; atomic_load_explicit(&t->phase, memory_order_acquire) == phase; polls++) {
        if (polls < SPIN_POLLS) cpu_relax();
        else sched_yield();
    }
}

void soma_pool_shutdown(void) {
    if (in_range) return;
    // Another thread may be inside a parallel_for (exit() called while a
    // host thread computes): wait a little, then leave the workers alone.
    for (int tries = 0; atomic_flag_test_and_set_explicit(&busy, memory_order_acquire); tries++) {
        if (tries == 10000) return;
        sched_yield();
    }
    stop_workers();
    atomic_flag_clear_explicit(&busy, memory_order_release);
}
