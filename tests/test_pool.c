// The worker pool on the machine: thread counts (who decides), the CPUs the
// process may use (affinity mask, cgroup quota), pinning, single-thread mode
// and `soma topology`. Criterion runs each test in its own process, so each
// starts with no workers, no topology loaded and the environment it sets.
//
// Expected values come from the kernel (sched_getaffinity, /proc/self/task)
// and from an hwloc topology the test loads itself, without the library's
// flags, and restricts to the affinity mask by hand.
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cpu/fpenv.h"
#include "cpu/cpu.h"
#include "thread/pool.h"
#include "thread/topology.h"

// ---- helpers ------------------------------------------------------------------------------

static void clean_env(void) {
    unsetenv("SOMA_NUM_THREADS");
    unsetenv("SOMA_PIN");
}

// The machine's cores, each as the set of its PUs inside `mask` (cores with
// none left out), from a topology loaded with hwloc's defaults.
typedef struct cores {
    int n;
    cpu_set_t set[1024];
} cores;

static void cores_in_mask(const cpu_set_t *mask, cores *out) {
    hwloc_topology_t t;
    cr_assert_eq(hwloc_topology_init(&t), 0);
    cr_assert_eq(hwloc_topology_load(t), 0);
    out->n = 0;
    int nc = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    for (int c = 0; c < nc && out->n < 1024; c++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, (unsigned)c);
        cpu_set_t s;
        CPU_ZERO(&s);
        for (hwloc_obj_t pu =
                 hwloc_get_next_obj_inside_cpuset_by_type(t, core->cpuset, HWLOC_OBJ_PU, NULL);
             pu; pu = hwloc_get_next_obj_inside_cpuset_by_type(t, core->cpuset, HWLOC_OBJ_PU, pu))
            if (pu->os_index < CPU_SETSIZE && CPU_ISSET(pu->os_index, mask))
                CPU_SET(pu->os_index, &s);
        if (CPU_COUNT(&s) > 0) out->set[out->n++] = s;
    }
    hwloc_topology_destroy(t);
}

static cpu_set_t process_mask(void) {
    cpu_set_t m;
    cr_assert_eq(sched_getaffinity(0, sizeof m, &m), 0);
    return m;
}

// "0-3,8,10-11" (Cpus_allowed_list, taskset -c) into a set.
static bool parse_cpu_list(const char *s, cpu_set_t *out) {
    CPU_ZERO(out);
    while (*s && *s != '\n') {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= CPU_SETSIZE) return false;
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b >= CPU_SETSIZE) return false;
            s = end;
        }
        for (long c = a; c <= b; c++) CPU_SET((int)c, out);
        if (*s == ',') s++;
    }
    return true;
}

static void set_str(const cpu_set_t *s, char *buf, size_t len) {
    size_t u = 0;
    buf[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE && u < len; c++)
        if (CPU_ISSET(c, s)) u += (size_t)snprintf(buf + u, len - u, "%s%d", u ? "," : "", c);
}

// The thread ids of this process.
typedef struct tids {
    int n;
    pid_t id[512];
} tids;

static void list_tasks(tids *t) {
    t->n = 0;
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d, "/proc/self/task: %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) && t->n < 512)
        if (e->d_name[0] != '.') t->id[t->n++] = (pid_t)atoi(e->d_name);
    closedir(d);
}

// A joined thread can stay listed in /proc/self/task for a moment after
// pthread_join returns (the kernel clears the joiner's futex before the task
// is reaped; under qemu-user the window is wider): the list, once it has
// `want` entries, or after 2 s.
static void list_tasks_settled(tids *t, int want) {
    for (int i = 0; i < 200; i++) {
        list_tasks(t);
        if (t->n == want) return;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
}

static bool has_tid(const tids *t, pid_t id) {
    for (int i = 0; i < t->n; i++)
        if (t->id[i] == id) return true;
    return false;
}

static bool task_cpus(pid_t tid, cpu_set_t *out) {
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = false;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            ok = parse_cpu_list(line + 18 + strspn(line + 18, " \t"), out);
            break;
        }
    fclose(f);
    return ok;
}

// The workers: the threads that appeared since `before`, with their CPU sets.
typedef struct workers {
    int n;
    cpu_set_t set[512];
} workers;

static void new_threads(const tids *before, workers *w) {
    tids now;
    list_tasks(&now);
    w->n = 0;
    for (int i = 0; i < now.n; i++)
        if (!has_tid(before, now.id[i])) {
            cr_assert(task_cpus(now.id[i], &w->set[w->n]), "no Cpus_allowed_list for task %d",
                      now.id[i]);
            w->n++;
        }
}

static void touch(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)arg;
    (void)begin;
    (void)end;
    (void)thread_index;
}

// Starts the pool (workers bind themselves before start-up completes).
static void start_pool(void) { soma_parallel_for(NULL, 1000, touch, NULL); }

// ---- parallel_for: every index exactly once ---------------------------------------------------

typedef struct cover {
    _Atomic unsigned char *hits;
    int64_t n;
    int max_parts;
    _Atomic int calls;
    _Atomic int bad_index;
    _Atomic int64_t min_len, max_len;
} cover;

static void cover_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    cover *c = arg;
    if (thread_index < 0 || thread_index >= c->max_parts || begin < 0 || end > c->n || begin >= end)
        atomic_store(&c->bad_index, 1);
    for (int64_t i = begin; i < end && i < c->n; i++)
        if (i >= 0) atomic_fetch_add(&c->hits[i], 1);
    int64_t len = end - begin, m;
    while ((m = atomic_load(&c->min_len)) > len &&
           !atomic_compare_exchange_weak(&c->min_len, &m, len)) {
    }
    while ((m = atomic_load(&c->max_len)) < len &&
           !atomic_compare_exchange_weak(&c->max_len, &m, len)) {
    }
    atomic_fetch_add(&c->calls, 1);
}

static void check_cover(const soma_ctx *ctx, int64_t n, int parts_cap) {
    cover c = {.n = n, .max_parts = parts_cap};
    c.hits = calloc((size_t)n, 1);
    cr_assert_not_null(c.hits);
    atomic_store(&c.min_len, INT64_MAX);
    atomic_store(&c.max_len, 0);
    soma_parallel_for(ctx, n, cover_range, &c);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(c.hits[i], 1, "n = %lld, %d threads: index %lld ran %d times", (long long)n,
                     parts_cap, (long long)i, c.hits[i]);
    cr_assert(!c.bad_index, "n = %lld: a range outside [0, n) or a thread_index >= %d",
              (long long)n, parts_cap);
    int64_t want = n < parts_cap ? n : parts_cap;
    cr_assert_eq(c.calls, want, "n = %lld, %d threads: %d ranges, want %lld", (long long)n,
                 parts_cap, c.calls, (long long)want);
    // Near-equal: sizes differ by at most one.
    cr_assert_leq(c.max_len - c.min_len, 1, "n = %lld: ranges of %lld..%lld", (long long)n,
                  (long long)c.min_len, (long long)c.max_len);
    free(c.hits);
}

Test(pool, parallel_for_covers_each_index_once) {
    clean_env();
    static const int64_t sizes[] = {1,  2,  3,  4,   5,   7,    8,    15,    16,     17,
                                    63, 64, 65, 100, 255, 1000, 4097, 65537, 1000003};
    static const int threads[] = {1, 2, 3, 4, 5, 8};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        soma_set_num_threads(threads[t]);
        cr_assert_eq(soma_get_num_threads(), threads[t]);
        for (int rep = 0; rep < 3; rep++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
                check_cover(NULL, sizes[s], threads[t]);
    }
    // ctx->thread_count caps the ranges below the pool's size.
    soma_set_num_threads(4);
    soma_ctx ctx = {.size = sizeof ctx, .thread_count = 2};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) check_cover(&ctx, sizes[s], 2);
    // n <= 0: nothing runs.
    cover c = {.n = 0, .max_parts = 4};
    soma_parallel_for(NULL, 0, cover_range, &c);
    soma_parallel_for(NULL, -5, cover_range, &c);
    cr_assert_eq(c.calls, 0);
}

// ---- who decides the thread count ----------------------------------------------------------

Test(pool, set_num_threads_beats_environment_beats_machine) {
    clean_env();
    setenv("SOMA_NUM_THREADS", "3", 1);
    char why[256];
    cr_assert_eq(soma_get_num_threads(), 3);
    cr_assert_eq(soma_pool_threads_why(why, sizeof why), 3);
    cr_assert_str_eq(why, "SOMA_NUM_THREADS=3");
    cr_assert_eq(soma_set_num_threads(5), 0);
    cr_assert_eq(soma_get_num_threads(), 5);
    cr_assert_eq(soma_pool_threads_why(why, sizeof why), 5);
    cr_assert_str_eq(why, "soma_set_num_threads(5)");
    cr_assert_eq(soma_set_num_threads(0), 5);
    cr_assert_eq(soma_get_num_threads(), 3);
    // Out of range values are clamped, negative means automatic.
    soma_set_num_threads(100000);
    cr_assert_eq(soma_get_num_threads(), SOMA_POOL_MAX_THREADS);
    soma_set_num_threads(-2);
    cr_assert_eq(soma_get_num_threads(), 3);
}

Test(pool, bad_environment_value_falls_back_to_the_machine) {
    clean_env();
    setenv("SOMA_NUM_THREADS", "many", 1);
    cpu_set_t m = process_mask();
    cores c;
    cores_in_mask(&m, &c);
    int64_t q, p;
    int want = c.n;
    if (soma_cgroup_cpu_quota("", &q, &p) && (q + p - 1) / p < want) want = (int)((q + p - 1) / p);
    cr_assert_eq(soma_get_num_threads(), want);
    char why[256];
    soma_pool_threads_why(why, sizeof why);
    cr_assert(strstr(why, "SOMA_NUM_THREADS ignored"), "rule: %s", why);
}

// One per core of the affinity mask (capped by a cgroup quota where one
// applies): cores counted here from hwloc's full topology and the kernel's
// mask, not from the library's restricted load.
Test(pool, default_is_one_thread_per_core_in_the_affinity_mask) {
    clean_env();
    cpu_set_t m = process_mask();
    cores c;
    cores_in_mask(&m, &c);
    cr_assert_geq(c.n, 1);
    int want = c.n;
    int64_t q, p;
    if (soma_cgroup_cpu_quota("", &q, &p)) {
        int qn = (int)((q + p - 1) / p);
        if (qn < want) want = qn;
    }
    cr_assert_eq(soma_get_num_threads(), want, "%d cores in the mask (%d CPUs), quota cap: want %d",
                 c.n, CPU_COUNT(&m), want);
    char why[256];
    soma_pool_threads_why(why, sizeof why);
    cr_assert(strstr(why, "one per core"), "rule: %s", why);
}

// As taskset does, but from inside: every thread of this process is moved
// to the last CPU of the mask before soma looks at the machine.
Test(pool, restricted_to_one_cpu_uses_only_that_cpu) {
    clean_env();
    cpu_set_t m = process_mask();
    if (CPU_COUNT(&m) < 2) cr_skip_test("this process may use only one CPU: nothing to restrict");
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &m)) last = c;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    tids all;
    list_tasks(&all);
    for (int i = 0; i < all.n; i++)
        cr_assert_eq(sched_setaffinity(all.id[i], sizeof one, &one), 0, "task %d: %s", all.id[i],
                     strerror(errno));
    cr_assert_eq(soma_get_num_threads(), 1);
    char text[8192];
    cr_assert_gt(soma_topology_describe(text, sizeof text), 0);
    char want[64];
    snprintf(want, sizeof want, "allowed cpuset: %d\n", last);
    cr_assert(strstr(text, want), "want '%s' in:\n%s", want, text);
    cr_assert(strstr(text, "threads: 1 ("), "%s", text);
    // Asked for more threads, the workers still stay on that CPU.
    tids before;
    list_tasks(&before);
    soma_set_num_threads(3);
    start_pool();
    workers w;
    new_threads(&before, &w);
    cr_assert_eq(w.n, 2);
    for (int i = 0; i < w.n; i++) {
        char s[256];
        set_str(&w.set[i], s, sizeof s);
        cr_assert(CPU_EQUAL(&w.set[i], &one), "worker %d may run on CPUs %s, want only %d", i, s,
                  last);
    }
}

// The CLI under taskset: a fresh process whose whole life is restricted.
static void run_cli(const char *cpu, const char *env, char *out, size_t len) {
    const char *dir = getenv("SOMA_BUILD_DIR");
    cr_assert_not_null(dir, "SOMA_BUILD_DIR is not set (run through ctest)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s taskset -c %s '%s/bin/soma' topology 2>&1", env, cpu, dir);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "%s: %s", cmd, strerror(errno));
    size_t used = fread(out, 1, len - 1, f);
    out[used] = '\0';
    int st = pclose(f);
    cr_assert_eq(st, 0, "%s exited with %d:\n%s", cmd, st, out);
}

static bool have_taskset(void) { return system("command -v taskset >/dev/null 2>&1") == 0; }

Test(pool, cli_under_taskset_reports_one_thread_and_only_that_cpu) {
    clean_env();
    if (!have_taskset()) cr_skip_test("taskset is not installed (util-linux)");
    cpu_set_t m = process_mask();
    if (CPU_COUNT(&m) < 2) cr_skip_test("this process may use only one CPU");
    if (!CPU_ISSET(0, &m)) cr_skip_test("CPU 0 is not in this process' affinity mask");
    char out[16384];
    run_cli("0", "", out, sizeof out);
    cr_assert(strstr(out, "\nthreads: 1 ("), "want 1 thread:\n%s", out);
    cr_assert(strstr(out, "\nallowed cpuset: 0\n"), "want only CPU 0:\n%s", out);
    cr_assert(strstr(out, "\naffinity mask of this thread: 0 (1 CPU)\n"), "%s", out);
    cr_assert(strstr(out, "\nbinding plan: none"), "%s", out);
    cr_assert(strstr(out, " 1 core, 1 PU,"), "hwloc should see one core and one PU:\n%s", out);
    // The thread count asked for wins, but nothing lands outside CPU 0.
    run_cli("0", "SOMA_NUM_THREADS=2", out, sizeof out);
    cr_assert(strstr(out, "\nthreads: 2 (SOMA_NUM_THREADS=2)\n"), "%s", out);
    cr_assert(strstr(out, "\nallowed cpuset: 0\n"), "%s", out);
    cr_assert_null(strstr(out, "CPUs 1"), "a worker planned outside CPU 0:\n%s", out);
}

Test(pool, cli_unrestricted_plans_one_worker_per_other_core) {
    clean_env();
    if (!have_taskset()) cr_skip_test("taskset is not installed (util-linux)");
    cpu_set_t m = process_mask();
    cores c;
    cores_in_mask(&m, &c);
    if (c.n < 2) cr_skip_test("fewer than two cores in this process' affinity mask");
    char list[1024], out[65536];
    set_str(&m, list, sizeof list);
    run_cli(list, "", out, sizeof out);
    char want[128];
    snprintf(want, sizeof want, "\nthreads: %d (one per core", c.n);
    int64_t q, p;
    if (!soma_cgroup_cpu_quota("", &q, &p))
        cr_assert(strstr(out, want), "want '%s':\n%s", want + 1, out);
    cr_assert(strstr(out, "\npinning: on"), "%s", out);
    // Every worker gets a core of its own, none gets core 0 (the caller's).
    int workers = 0;
    for (const char *s = strstr(out, "  worker "); s; s = strstr(s + 1, "  worker ")) {
        int w = 0, core = -1;
        cr_assert_eq(sscanf(s, "  worker %d -> core %d", &w, &core), 2, "%.80s", s);
        cr_assert_eq(core, w, "worker %d on core %d", w, core);
        workers++;
    }
    cr_assert_eq(workers, (q > 0 && (q + p - 1) / p < c.n ? (int)((q + p - 1) / p) : c.n) - 1, "%s",
                 out);
}

// ---- pinning --------------------------------------------------------------------------------

// Each worker may run on exactly the PUs of one core, a different core for
// each; the caller's own mask is untouched.
Test(pool, workers_are_pinned_one_per_core) {
    clean_env();
    cpu_set_t m = process_mask();
    cores c;
    cores_in_mask(&m, &c);
    if (c.n < 2) cr_skip_test("fewer than two cores in this process' affinity mask");
    int threads = c.n < 8 ? c.n : 8;
    tids before;
    list_tasks(&before);
    soma_set_num_threads(threads);
    start_pool();
    workers w;
    new_threads(&before, &w);
    cr_assert_eq(w.n, threads - 1);
    int used[1024] = {0};
    for (int i = 0; i < w.n; i++) {
        char s[256];
        set_str(&w.set[i], s, sizeof s);
        int core = -1;
        for (int k = 0; k < c.n; k++)
            if (CPU_EQUAL(&w.set[i], &c.set[k])) core = k;
        cr_assert_geq(core, 0, "worker %d may run on CPUs %s: not the PUs of one core", i, s);
        cr_assert_eq(used[core]++, 0, "two workers on the core of CPUs %s", s);
    }
    cpu_set_t after = process_mask();
    cr_assert(CPU_EQUAL(&after, &m), "the calling thread was re-bound");
}

// From inside the ranges: a worker's own view of its mask is one core.
typedef struct seen {
    cpu_set_t mask[8];
    _Atomic int got[8];
    pthread_t tid[8];
} seen;

static void record_mask(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)begin;
    (void)end;
    seen *s = arg;
    if (thread_index < 0 || thread_index >= 8) return;
    sched_getaffinity(0, sizeof s->mask[thread_index], &s->mask[thread_index]);
    s->tid[thread_index] = pthread_self();
    // Hold the range a moment so that the workers, not the caller, claim the others.
    nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    atomic_store(&s->got[thread_index], 1);
}

// Whether mask is exactly the PUs of one of the cores c.
static bool one_core(const cpu_set_t *mask, const cores *c) {
    for (int k = 0; k < c->n; k++)
        if (CPU_EQUAL(mask, &c->set[k])) return true;
    return false;
}

// Runs two-range jobs until a worker, not the caller, ran range 1 (20
// tries); s then holds what range 1 saw.
static bool range_on_worker(seen *s) {
    for (int rep = 0; rep < 20; rep++) {
        memset(s, 0, sizeof *s);
        soma_parallel_for(NULL, 2, record_mask, s);
        if (!pthread_equal(s->tid[1], pthread_self())) return true;
    }
    return false;
}

// A pool of two threads, started, in a process whose mask (*m) holds at
// least two cores (*c), and one job whose range 1 ran on the worker (*s);
// the test is skipped without two cores.
static void start_two_thread_pool(cpu_set_t *m, cores *c, seen *s) {
    clean_env();
    *m = process_mask();
    cores_in_mask(m, c);
    if (c->n < 2) cr_skip_test("fewer than two cores in this process' affinity mask");
    soma_set_num_threads(2);
    start_pool();
    cr_assert(range_on_worker(s), "no range ever ran on a worker");
}

Test(pool, ranges_on_workers_see_one_core) {
    cpu_set_t m;
    cores c;
    seen s;
    start_two_thread_pool(&m, &c, &s);
    cr_assert(CPU_EQUAL(&s.mask[0], &m), "the caller's mask changed");
    char str[256];
    set_str(&s.mask[1], str, sizeof str);
    cr_assert(one_core(&s.mask[1], &c), "range 1 ran on a worker that may use CPUs %s", str);
}

// The caller is never bound, so the scheduler may run it on a worker's core;
// before the next job the pool moves that worker to the core left to the
// caller, rather than have the two share one core (on 2 vCPUs that halved
// a GEMM's speed for as long as the scheduler left them there).
Test(pool, a_worker_moves_off_the_callers_core) {
    cpu_set_t m;
    cores c;
    seen s;
    start_two_thread_pool(&m, &c, &s);
    int cpu = -1;
    for (int k = 0; k < CPU_SETSIZE && cpu < 0; k++)
        if (CPU_ISSET(k, &s.mask[1])) cpu = k;
    cr_assert_geq(cpu, 0, "the worker may run on no CPU");
    // This thread (the caller) onto the worker's core: Criterion gave the
    // test a process of its own.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0, "%s", strerror(errno));
    cr_assert(range_on_worker(&s), "no range ever ran on a worker");
    char str[256];
    set_str(&s.mask[1], str, sizeof str);
    cr_assert(!CPU_ISSET(cpu, &s.mask[1]),
              "the caller runs on CPU %d and the worker may still run there (CPUs %s)", cpu, str);
    cr_assert(one_core(&s.mask[1], &c), "the worker moved to CPUs %s, not the PUs of one core",
              str);
    cr_assert(CPU_EQUAL(&s.mask[0], &one), "the pool changed the caller's mask");
}

typedef struct fp_seen {
    soma_fpenv env[2];
    pthread_t tid[2];
} fp_seen;

static void record_fpenv(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)begin;
    (void)end;
    fp_seen *s = arg;
    if (thread_index < 0 || thread_index >= 2) return;
    s->env[thread_index] = soma_fpenv_get();
    s->tid[thread_index] = pthread_self();
    nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL); // let a worker claim range 1
}

// A range computes under the caller's floating-point state (flush-to-zero on
// or off) whichever thread runs it, job after job: results cannot depend on
// the thread. Runs on one CPU too (the worker then shares it).
Test(pool, workers_take_the_callers_floating_point_state) {
    clean_env();
    soma_set_num_threads(2);
    start_pool();
    soma_fpenv user = soma_fpenv_get(), flushing = soma_fpenv_flushing(user);
    int on_worker = 0;
    for (int rep = 0; rep < 40 && on_worker < 4; rep++) {
        soma_fpenv want = rep % 2 ? user : flushing;
        soma_fpenv_set(want);
        fp_seen s;
        memset(&s, 0, sizeof s);
        soma_parallel_for(NULL, 2, record_fpenv, &s);
        soma_fpenv_set(user);
        if (pthread_equal(s.tid[1], pthread_self())) continue; // the caller took range 1
        on_worker++;
        cr_assert_eq(s.env[0], want);
        cr_assert_eq(s.env[1], want, "rep %d: the worker computed under state %#llx, the caller "
                     "asked for %#llx", rep, (unsigned long long)s.env[1], (unsigned long long)want);
    }
    cr_assert(on_worker >= 2, "ranges ran on a worker only %d times", on_worker);
#if defined(__x86_64__) || defined(__aarch64__)
    cr_assert_neq(flushing, user, "this test needs a caller that does not flush denormals");
#endif
}

Test(pool, pin_off_leaves_workers_on_the_whole_mask) {
    clean_env();
    setenv("SOMA_PIN", "0", 1);
    cpu_set_t m = process_mask();
    if (CPU_COUNT(&m) < 2) cr_skip_test("one CPU: bound and unbound look the same");
    tids before;
    list_tasks(&before);
    soma_set_num_threads(3);
    start_pool();
    workers w;
    new_threads(&before, &w);
    cr_assert_eq(w.n, 2);
    for (int i = 0; i < w.n; i++) {
        char s[256], want[256];
        set_str(&w.set[i], s, sizeof s);
        set_str(&m, want, sizeof want);
        cr_assert(CPU_EQUAL(&w.set[i], &m), "SOMA_PIN=0 but worker %d may use CPUs %s, not %s", i,
                  s, want);
    }
    char text[8192];
    soma_topology_describe(text, sizeof text);
    cr_assert(strstr(text, "pinning: off (SOMA_PIN=0)"), "%s", text);
}

// More threads than PUs: pinning would stack workers for good; they are
// left to the scheduler on the whole mask.
Test(pool, oversubscribed_workers_are_not_pinned) {
    clean_env();
    cpu_set_t m = process_mask();
    int threads = CPU_COUNT(&m) + 1;
    if (threads > 64) cr_skip_test("%d CPUs: too many threads for a quick test", threads - 1);
    tids before;
    list_tasks(&before);
    soma_set_num_threads(threads);
    start_pool();
    workers w;
    new_threads(&before, &w);
    cr_assert_eq(w.n, threads - 1);
    for (int i = 0; i < w.n; i++) cr_assert(CPU_EQUAL(&w.set[i], &m), "worker %d was pinned", i);
}

// ---- single-thread mode ---------------------------------------------------------------------

static void gemm_once(void) {
    int64_t m = 96, n = 300, k = 200;
    float *a = soma_alloc(sizeof(float) * (size_t)(m * k), 64);
    float *b = soma_alloc(sizeof(float) * (size_t)(k * n), 64);
    float *c = soma_alloc(sizeof(float) * (size_t)(m * n), 64);
    for (int64_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) - 3;
    for (int64_t i = 0; i < k * n; i++) b[i] = (float)(i % 5) - 2;
    soma_sgemm(0, 0, m, n, k, 1, a, k, b, n, 0, c, n);
    // Row 0, column 0 in double: the GEMM really ran.
    double ref = 0;
    for (int64_t p = 0; p < k; p++) ref += (double)a[p] * b[p * n];
    cr_assert_eq(c[0], (float)ref);
    soma_free(a);
    soma_free(b);
    soma_free(c);
}

// hwloc cannot load (here: told to read a topology file that is not there):
// a warning, the affinity mask's CPUs as the count, workers unpinned, and
// the computation is as right as ever.
static _Atomic int hwloc_warned;

static void catch_log(int level, const char *msg, void *user) {
    (void)user;
    if (level >= SOMA_LOG_WARN && strstr(msg, "hwloc") && strstr(msg, "not be pinned"))
        atomic_store(&hwloc_warned, 1);
}

Test(pool, hwloc_failure_falls_back_to_unpinned_workers) {
    clean_env();
    setenv("HWLOC_COMPONENTS", "xml,stop", 1);
    setenv("HWLOC_XMLFILE", "/nonexistent/soma-test-topology.xml", 1);
    setenv("HWLOC_HIDE_ERRORS", "2", 1);
    soma_set_log(catch_log, NULL, SOMA_LOG_WARN);
    cpu_set_t m = process_mask();
    int want = CPU_COUNT(&m);
    int64_t q, p;
    if (soma_cgroup_cpu_quota("", &q, &p) && (q + p - 1) / p < want) want = (int)((q + p - 1) / p);
    cr_assert_eq(soma_get_num_threads(), want);
    cr_assert(atomic_load(&hwloc_warned), "no warning logged");
    char text[8192];
    soma_topology_describe(text, sizeof text);
    cr_assert(strstr(text, "hwloc: unavailable ("), "%s", text);
    cr_assert(strstr(text, "\npinning: off ("), "%s", text);
    tids before;
    list_tasks(&before);
    soma_set_num_threads(2);
    check_cover(NULL, 100003, 2);
    gemm_once();
    workers w;
    new_threads(&before, &w);
    cr_assert_eq(w.n, 1);
    cr_assert(CPU_EQUAL(&w.set[0], &m), "the worker was pinned without hwloc");
    soma_set_log(NULL, NULL, SOMA_LOG_WARN);
}

Test(pool, one_thread_starts_no_thread) {
    clean_env();
    tids before, after;
    list_tasks(&before);
    soma_set_num_threads(1);
    check_cover(NULL, 100000, 1);
    gemm_once();
    list_tasks(&after);
    cr_assert_eq(after.n, before.n, "%d threads before, %d after", before.n, after.n);
}

Test(pool, one_thread_from_environment_starts_no_thread) {
    clean_env();
    setenv("SOMA_NUM_THREADS", "1", 1);
    tids before, after;
    list_tasks(&before);
    check_cover(NULL, 100000, 1);
    gemm_once();
    list_tasks(&after);
    cr_assert_eq(after.n, before.n, "%d threads before, %d after", before.n, after.n);
}

// Back to one thread after a larger pool ran: the workers are gone.
Test(pool, switching_to_one_thread_stops_the_workers) {
    clean_env();
    tids before, mid, after;
    list_tasks(&before);
    soma_set_num_threads(3);
    start_pool();
    list_tasks(&mid);
    cr_assert_eq(mid.n, before.n + 2);
    soma_set_num_threads(1);
    list_tasks_settled(&after, before.n);
    cr_assert_eq(after.n, before.n, "%d threads before, %d after", before.n, after.n);
    check_cover(NULL, 1000, 1);
    soma_set_num_threads(2);
    check_cover(NULL, 1000, 2);
    list_tasks_settled(&after, before.n + 1);
    cr_assert_eq(after.n, before.n + 1);
}

// ---- cgroup CPU quota -----------------------------------------------------------------------

static void put_file(const char *root, const char *rel, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    // mkdir -p of the directories on the way.
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void rm_tree(const char *root) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

static char *fake_root(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/soma-cgroup-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "%s", strerror(errno));
    return dir;
}

Test(cgroup, v2_takes_the_tightest_limit_up_the_tree) {
    char *root = fake_root();
    put_file(root, "proc/self/cgroup", "0::/user.slice/app.scope\n");
    put_file(root, "sys/fs/cgroup/user.slice/app.scope/cpu.max", "max 100000\n");
    put_file(root, "sys/fs/cgroup/user.slice/cpu.max", "150000 100000\n");
    put_file(root, "sys/fs/cgroup/cpu.max", "400000 100000\n");
    int64_t q = 0, p = 0;
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 1);
    cr_assert_eq(q, 150000);
    cr_assert_eq(p, 100000);
    cr_assert_eq(soma_cgroup_quota_threads(q, p), 2); // 1.5 CPUs, rounded up
    // A tighter limit deeper down wins, with another period.
    put_file(root, "sys/fs/cgroup/user.slice/app.scope/cpu.max", "25000 50000\n");
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 1);
    cr_assert_eq(q, 25000);
    cr_assert_eq(p, 50000);
    cr_assert_eq(soma_cgroup_quota_threads(q, p), 1); // half a CPU: at least one thread
    rm_tree(root);
}

Test(cgroup, v2_in_a_container_reads_the_mount_point) {
    // A cgroup namespace shows "/" and the container's limit at the root.
    char *root = fake_root();
    put_file(root, "proc/self/cgroup", "0::/\n");
    put_file(root, "sys/fs/cgroup/cpu.max", "300000 100000\n");
    int64_t q = 0, p = 0;
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 1);
    cr_assert_eq(soma_cgroup_quota_threads(q, p), 3);
    // No namespace: the path names a directory the container does not see.
    put_file(root, "proc/self/cgroup", "0::/docker/abc123\n");
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 1);
    cr_assert_eq(q, 300000);
    rm_tree(root);
}

Test(cgroup, v1_cfs_quota) {
    char *root = fake_root();
    put_file(root, "proc/self/cgroup",
             "12:pids:/a\n4:cpu,cpuacct:/docker/x\n2:memory:/docker/x\n1:name=systemd:/x\n");
    put_file(root, "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us", "250000\n");
    put_file(root, "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
    put_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put_file(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    int64_t q = 0, p = 0;
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 1);
    cr_assert_eq(q, 250000);
    cr_assert_eq(p, 100000);
    cr_assert_eq(soma_cgroup_quota_threads(q, p), 3);
    rm_tree(root);
}

Test(cgroup, no_limit_none_and_garbage) {
    char *root = fake_root();
    int64_t q = -7, p = -7;
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 0, "no /proc/self/cgroup");
    put_file(root, "proc/self/cgroup", "0::/a\n");
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 0, "no cpu.max anywhere");
    put_file(root, "sys/fs/cgroup/a/cpu.max", "max 100000\n");
    put_file(root, "sys/fs/cgroup/cpu.max", "lots 100000\n");
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 0, "max and garbage are no limit");
    put_file(root, "sys/fs/cgroup/cpu.max", "0 100000\n");
    cr_assert_eq(soma_cgroup_cpu_quota(root, &q, &p), 0, "a zero quota is no limit either");
    cr_assert_eq(q, -7);
    rm_tree(root);
    cr_assert_eq(soma_cgroup_quota_threads(100000, 100000), 1);
    cr_assert_eq(soma_cgroup_quota_threads(100001, 100000), 2);
    cr_assert_eq(soma_cgroup_quota_threads(1, 100000), 1);
}

// ---- soma_topology_describe -----------------------------------------------------------------

Test(topology, describe_is_snprintf_like_and_names_the_rule) {
    clean_env();
    int n = soma_topology_describe(NULL, 0);
    cr_assert_gt(n, 100);
    char *full = malloc((size_t)n + 1);
    cr_assert_eq(soma_topology_describe(full, (size_t)n + 1), n);
    cr_assert_eq(strlen(full), (size_t)n);
    char small[16];
    memset(small, 'x', sizeof small);
    cr_assert_eq(soma_topology_describe(small, sizeof small), n);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(small, full, sizeof small - 1), 0);
    cr_assert_eq(soma_topology_describe(NULL, 4), SOMA_E_INVALID);
    char want[64];
    snprintf(want, sizeof want, "\nthreads: %d (", soma_get_num_threads());
    cr_assert(strstr(full, want), "want '%s' in:\n%s", want + 1, full);
    cr_assert(strstr(full, "caches:"), "%s", full);
    cr_assert(strstr(full, "cgroup CPU quota: "), "%s", full);
    cr_assert(strstr(full, "\npinning: "), "%s", full);
    free(full);
    soma_set_num_threads(2);
    char text[8192];
    soma_topology_describe(text, sizeof text);
    cr_assert(strstr(text, "\nthreads: 2 (soma_set_num_threads(2))\n"), "%s", text);
}
