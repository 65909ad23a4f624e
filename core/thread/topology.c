// The machine as hwloc sees it, restricted to the CPUs this process may use,
// and the worker pool's size and binding plan on it.
//
// One thread per core, not per PU: the GEMM micro-kernels keep a core's FMA
// units busy on their own, so an SMT sibling adds no arithmetic and halves
// the L1/L2 each thread's packed blocks were sized for; and parallel_for
// splits work into equal ranges, so one thread slowed by a busy sibling holds
// up the whole job. Users who want the PUs ask with SOMA_NUM_THREADS.
#include <errno.h>
#include <hwloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "thread/pool.h"
#include "thread/topology.h"

static struct {
    hwloc_topology_t t;
    bool ok;
    char error[200]; // why not ok
    int ncores, npus;
    hwloc_obj_type_t core; // HWLOC_OBJ_CORE, or PU where hwloc reports no cores
    hwloc_obj_t *spread;   // the PUs, one per core first, then the second ones...
} topo;

static pthread_once_t topo_once = PTHREAD_ONCE_INIT;

static void topo_load(void) {
    if (hwloc_topology_init(&topo.t) != 0) {
        snprintf(topo.error, sizeof topo.error, "hwloc_topology_init failed: %s", strerror(errno));
        goto fail;
    }
    // IS_THISSYSTEM: binding goes to this machine. RESTRICT_TO_CPUBINDING:
    // the topology holds only the CPUs the process may run on (taskset,
    // cpusets, container runtimes), so every count and plan below respects
    // them. DONT_CHANGE_BINDING: hwloc's x86 backend would otherwise move the
    // calling thread, which belongs to the host, across CPUs to read cpuid.
    unsigned long flags = HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM |
                          HWLOC_TOPOLOGY_FLAG_RESTRICT_TO_CPUBINDING |
                          HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING;
    if (hwloc_topology_set_flags(topo.t, flags) != 0) {
        snprintf(topo.error, sizeof topo.error, "hwloc_topology_set_flags failed: %s",
                 strerror(errno));
        goto fail_destroy;
    }
    if (hwloc_topology_load(topo.t) != 0) {
        snprintf(topo.error, sizeof topo.error, "hwloc_topology_load failed: %s", strerror(errno));
        goto fail_destroy;
    }
    topo.core = HWLOC_OBJ_CORE;
    topo.ncores = hwloc_get_nbobjs_by_type(topo.t, HWLOC_OBJ_CORE);
    topo.npus = hwloc_get_nbobjs_by_type(topo.t, HWLOC_OBJ_PU);
    if (topo.ncores == 0 && topo.npus > 0) {
        // Some virtual machines expose no core topology: each PU is then
        // all hwloc knows of a core, and binding still works.
        topo.core = HWLOC_OBJ_PU;
        topo.ncores = topo.npus;
    }
    if (topo.ncores <= 0 || topo.npus <= 0) {
        snprintf(topo.error, sizeof topo.error, "hwloc found %d cores and %d PUs", topo.ncores,
                 topo.npus);
        goto fail_destroy;
    }
    topo.spread = malloc(sizeof *topo.spread * (size_t)topo.npus);
    if (!topo.spread) {
        snprintf(topo.error, sizeof topo.error, "out of memory");
        goto fail_destroy;
    }
    int k = 0;
    for (int sib = 0; k < topo.npus; sib++) {
        int before = k;
        for (int c = 0; c < topo.ncores; c++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(topo.t, topo.core, (unsigned)c);
            hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(topo.t, core->cpuset, HWLOC_OBJ_PU,
                                                                 (unsigned)sib);
            if (pu && k < topo.npus) topo.spread[k++] = pu;
        }
        if (k == before) break; // PUs outside every core: never seen, but never loop
    }
    if (k < topo.npus) topo.npus = k;
    topo.ok = true;
    return;
fail_destroy:
    hwloc_topology_destroy(topo.t);
fail:
    topo.t = NULL;
    soma_log(SOMA_LOG_WARN, "%s; workers will not be pinned", topo.error);
}

static bool topo_get(void) {
    pthread_once(&topo_once, topo_load);
    return topo.ok;
}

// ---- cgroup CPU quota ----

static bool read_two(const char *path, char *a, size_t alen, char *b, size_t blen) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[128];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok) return false;
    char *save = NULL, *x = strtok_r(line, " \t\n", &save), *y = strtok_r(NULL, " \t\n", &save);
    if (!x) return false;
    snprintf(a, alen, "%s", x);
    snprintf(b, blen, "%s", y ? y : "");
    return true;
}

static bool parse_i64(const char *s, int64_t *out) {
    if (!*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

// Keeps the tighter of (q, p) and (*bq, *bp).
static void keep_tightest(int64_t q, int64_t p, int64_t *bq, int64_t *bp, int *found) {
    if (q <= 0 || p <= 0) return;
    if (!*found || (double)q / (double)p < (double)*bq / (double)*bp) {
        *bq = q;
        *bp = p;
    }
    *found = 1;
}

// dir/name into out; false when it does not fit (no such file is real).
static bool join(char *out, size_t len, const char *dir, const char *name) {
    int w = snprintf(out, len, "%s/%s", dir, name);
    return w >= 0 && (size_t)w < len;
}

// The limit in dir (cgroup v2 cpu.max, or v1's pair of files).
static void read_limit(const char *dir, bool v2, int64_t *bq, int64_t *bp, int *found) {
    char path[4096], a[64], b[64], c[64];
    int64_t q, p;
    if (v2) {
        // "max 100000" is no limit; "150000 100000" is 1.5 CPUs.
        if (join(path, sizeof path, dir, "cpu.max") && read_two(path, a, sizeof a, b, sizeof b) &&
            parse_i64(a, &q) && parse_i64(b, &p))
            keep_tightest(q, p, bq, bp, found);
        return;
    }
    if (!join(path, sizeof path, dir, "cpu.cfs_quota_us") ||
        !read_two(path, a, sizeof a, c, sizeof c) || !parse_i64(a, &q))
        return; // -1: none
    if (join(path, sizeof path, dir, "cpu.cfs_period_us") &&
        read_two(path, b, sizeof b, c, sizeof c) && parse_i64(b, &p))
        keep_tightest(q, p, bq, bp, found);
}

// The cgroup's directory and each ancestor's up to the mount point: a
// parent's limit binds its children. Inside a container the process' path
// may name a directory that is not there (the mount point already is the
// container's cgroup); the walk then still reads the mount point itself.
static void walk_up(const char *root, const char *mount, const char *cgpath, bool v2, int64_t *bq,
                    int64_t *bp, int *found) {
    char rel[4096];
    int w = snprintf(rel, sizeof rel, "%s", cgpath[0] == '/' ? cgpath : "/");
    if (w < 0 || (size_t)w >= sizeof rel) return;
    for (;;) {
        char dir[4096];
        w = snprintf(dir, sizeof dir, "%s%s%s", root, mount, strcmp(rel, "/") == 0 ? "" : rel);
        if (w >= 0 && (size_t)w < sizeof dir) read_limit(dir, v2, bq, bp, found);
        char *slash = strrchr(rel, '/');
        if (!slash || slash == rel) {
            if (strcmp(rel, "/") == 0) break;
            strcpy(rel, "/");
        } else {
            *slash = '\0';
        }
    }
}

int soma_cgroup_cpu_quota(const char *root, int64_t *quota_us, int64_t *period_us) {
    char path[4096];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root ? root : "");
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int64_t bq = 0, bp = 0;
    int found = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        // "hierarchy-ID:controllers:path"; v2 is "0::path".
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2) continue;
        *c1 = *c2 = '\0';
        const char *ctrls = c1 + 1, *cg = c2 + 1;
        if (strcmp(line, "0") == 0 && *ctrls == '\0') {
            walk_up(root ? root : "", "/sys/fs/cgroup", cg, true, &bq, &bp, &found);
            continue;
        }
        char list[1024];
        snprintf(list, sizeof list, "%s", ctrls);
        bool has_cpu = false;
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (strcmp(tok, "cpu") == 0) has_cpu = true;
        if (!has_cpu) continue;
        // v1 mounts the controller at /sys/fs/cgroup/<controllers>, usually
        // with a /sys/fs/cgroup/cpu link beside it when they are co-mounted.
        char mount[1100];
        snprintf(mount, sizeof mount, "/sys/fs/cgroup/%s", ctrls);
        walk_up(root ? root : "", mount, cg, false, &bq, &bp, &found);
        if (strcmp(ctrls, "cpu") != 0)
            walk_up(root ? root : "", "/sys/fs/cgroup/cpu", cg, false, &bq, &bp, &found);
    }
    fclose(f);
    if (!found) return 0;
    *quota_us = bq;
    *period_us = bp;
    return 1;
}

int soma_cgroup_quota_threads(int64_t quota_us, int64_t period_us) {
    if (quota_us <= 0 || period_us <= 0) return 1;
    int64_t n = quota_us / period_us + (quota_us % period_us != 0);
    return n < 1 ? 1 : n > SOMA_POOL_MAX_THREADS ? SOMA_POOL_MAX_THREADS : (int)n;
}

// ---- thread count and pinning ----

static int affinity_cpus(void) {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

// snprintf into why unless why is NULL or len 0.
static void say(char *why, size_t len, const char *fmt, ...) SOMA_PRINTF(3, 4);
static void say(char *why, size_t len, const char *fmt, ...) {
    if (!why || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

int soma_topology_auto_threads(char *why, size_t len) {
    int n;
    char base[128], cap[128] = "";
    if (topo_get()) {
        n = topo.ncores;
        say(base, sizeof base, "one per core the process may use: %d core%s", n, n == 1 ? "" : "s");
    } else {
        n = affinity_cpus();
        say(base, sizeof base, "hwloc unavailable: the %d CPU%s of the affinity mask", n,
            n == 1 ? "" : "s");
    }
    int64_t q, p;
    if (soma_cgroup_cpu_quota("", &q, &p)) {
        int qn = soma_cgroup_quota_threads(q, p);
        if (qn < n) {
            n = qn;
            say(cap, sizeof cap,
                ", capped by the cgroup CPU quota %" PRId64 "/%" PRId64 " us -> %d", q, p, qn);
        }
    }
    say(why, len, "%s%s", base, cap);
    return n > SOMA_POOL_MAX_THREADS ? SOMA_POOL_MAX_THREADS : n;
}

static bool pin_env_off(void) {
    const char *v = getenv("SOMA_PIN");
    return v && (strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0 || strcasecmp(v, "no") == 0 ||
                 strcasecmp(v, "false") == 0);
}

bool soma_topology_pinning(int threads, char *why, size_t len) {
    if (pin_env_off()) {
        say(why, len, "off (SOMA_PIN=%s)", getenv("SOMA_PIN"));
        return false;
    }
    if (threads <= 1) {
        say(why, len, "off (one thread: no worker to pin, the caller is never bound)");
        return false;
    }
    if (!topo_get()) {
        say(why, len, "off (%s)", topo.error);
        return false;
    }
    const struct hwloc_topology_support *s = hwloc_topology_get_support(topo.t);
    if (!s || !s->cpubind || !s->cpubind->set_thisthread_cpubind) {
        say(why, len, "off (this system cannot bind threads)");
        return false;
    }
    if (threads > topo.npus) {
        // Pinning more threads than PUs would stack some on one PU for good;
        // unpinned, the scheduler at least moves them around.
        say(why, len, "off (%d threads for %d PU%s: oversubscribed, left to the scheduler)",
            threads, topo.npus, topo.npus == 1 ? "" : "s");
        return false;
    }
    say(why, len, "on (one worker per %s; SOMA_PIN=0 disables)",
        threads <= topo.ncores ? "core" : "PU");
    return true;
}

// Slot `slot` of a `threads`-thread pool's plan (topology.h): 0 is left to
// the caller, worker w starts in slot w.
static hwloc_obj_t plan_slot(int slot, int threads) {
    if (slot < 0 || slot >= threads) return NULL;
    if (threads <= topo.ncores) return hwloc_get_obj_by_type(topo.t, topo.core, (unsigned)slot);
    return slot < topo.npus ? topo.spread[slot] : NULL;
}

int soma_topology_slot_map(int threads, int16_t *map, int len) {
    // Pinning means threads <= PUs: every slot exists.
    if (!soma_topology_pinning(threads, NULL, 0)) return -1;
    for (int i = 0; i < len; i++) map[i] = -1;
    for (int slot = 0; slot < threads; slot++) {
        hwloc_obj_t o = plan_slot(slot, threads);
        int cpu;
        hwloc_bitmap_foreach_begin(cpu, o->cpuset) {
            if (cpu < len) map[cpu] = (int16_t)slot;
        }
        hwloc_bitmap_foreach_end();
    }
    return 0;
}

int soma_topology_bind_thread(pthread_t thread, int slot, int threads) {
    hwloc_obj_t o = topo.ok ? plan_slot(slot, threads) : NULL;
    if (!o) {
        errno = EINVAL;
        return -1;
    }
    return hwloc_set_thread_cpubind(topo.t, thread, o->cpuset, HWLOC_CPUBIND_THREAD) == 0 ? 0 : -1;
}

// ---- soma_topology_describe ----

typedef struct text {
    char *buf;
    size_t len, used; // used: the whole text's length so far, even past len
} text;

static void put(text *t, const char *fmt, ...) SOMA_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->used < t->len ? t->len - t->used : 0;
    int n = vsnprintf(room ? t->buf + t->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) t->used += (size_t)n;
}

static void put_size(text *t, uint64_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        put(t, "%" PRIu64 " MiB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        put(t, "%" PRIu64 " KiB", bytes >> 10);
    else
        put(t, "%" PRIu64 " B", bytes);
}

static void put_set(text *t, hwloc_const_bitmap_t set) {
    char s[1024];
    hwloc_bitmap_list_snprintf(s, sizeof s, set);
    put(t, "%s", s);
}

// "core 1 (CPUs 2,3)" / "PU 3 (CPU 5)": hwloc's logical index, then the
// operating system's CPU numbers (what taskset and /proc speak).
static void put_obj(text *t, hwloc_obj_t o) {
    if (o->type == HWLOC_OBJ_PU) {
        put(t, "PU %u (CPU %u)", o->logical_index, o->os_index);
        return;
    }
    put(t, "core %u (CPUs ", o->logical_index);
    put_set(t, o->cpuset);
    put(t, ")");
}

static void put_caches(text *t) {
    static const struct {
        hwloc_obj_type_t type;
        const char *name;
    } levels[] = {{HWLOC_OBJ_L1CACHE, "L1d"}, {HWLOC_OBJ_L2CACHE, "L2"}, {HWLOC_OBJ_L3CACHE, "L3"}};
    put(t, "caches:");
    bool any = false;
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        // Group the level's caches by size and by the cores sharing each.
        uint64_t size[8];
        int cores[8], count[8], groups = 0;
        for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo.t, levels[l].type, NULL); o;
             o = hwloc_get_next_obj_by_type(topo.t, levels[l].type, o)) {
            int sharing = hwloc_get_nbobjs_inside_cpuset_by_type(topo.t, o->cpuset, topo.core);
            int g = 0;
            while (g < groups && (size[g] != o->attr->cache.size || cores[g] != sharing)) g++;
            if (g == groups) {
                if (groups == 8) continue;
                size[g] = o->attr->cache.size;
                cores[g] = sharing;
                count[g] = 0;
                groups++;
            }
            count[g]++;
        }
        for (int g = 0; g < groups; g++) {
            put(t, "%s %s ", any ? "," : "", levels[l].name);
            put_size(t, size[g]);
            put(t, " x%d (%d core%s each)", count[g], cores[g], cores[g] == 1 ? "" : "s");
            any = true;
        }
    }
    put(t, "%s\n", any ? "" : " none reported");
}

SOMA_API int soma_topology_describe(char *buf, size_t len) {
    if (!buf && len > 0)
        return soma_error_set(SOMA_E_INVALID, "soma_topology_describe: buf is NULL, len %zu", len);
    if (len > 0) buf[0] = '\0';
    text t = {buf, len, 0};
    bool ok = topo_get();
    if (ok) {
        int np = hwloc_get_nbobjs_by_type(topo.t, HWLOC_OBJ_PACKAGE);
        int nn = hwloc_get_nbobjs_by_type(topo.t, HWLOC_OBJ_NUMANODE);
        put(&t,
            "hwloc %s: %d package%s, %d core%s, %d PU%s, %d NUMA node%s (the CPUs this "
            "process may use)\n",
            HWLOC_VERSION, np, np == 1 ? "" : "s", topo.ncores, topo.ncores == 1 ? "" : "s",
            topo.npus, topo.npus == 1 ? "" : "s", nn, nn == 1 ? "" : "s");
        if (topo.core == HWLOC_OBJ_PU)
            put(&t, "  (hwloc reports no cores: each PU counts as one)\n");
        for (int p = 0; p < np; p++) {
            hwloc_obj_t pkg = hwloc_get_obj_by_type(topo.t, HWLOC_OBJ_PACKAGE, (unsigned)p);
            int nc = hwloc_get_nbobjs_inside_cpuset_by_type(topo.t, pkg->cpuset, topo.core);
            put(&t, "  package %d: %d core%s, CPUs ", p, nc, nc == 1 ? "" : "s");
            put_set(&t, pkg->cpuset);
            put(&t, "\n");
        }
        put_caches(&t);
        put(&t, "allowed cpuset: ");
        put_set(&t, hwloc_topology_get_allowed_cpuset(topo.t));
        put(&t, "\n");
    } else {
        put(&t, "hwloc: unavailable (%s)\n", topo.error);
    }
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
        put(&t, "affinity mask of this thread:");
        for (int c = 0, first = 1; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &mask)) {
                int e = c;
                while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &mask)) e++;
                put(&t, "%s%d", first ? " " : ",", c);
                if (e > c) put(&t, "-%d", e);
                first = 0;
                c = e;
            }
        put(&t, " (%d CPU%s)\n", CPU_COUNT(&mask), CPU_COUNT(&mask) == 1 ? "" : "s");
    }
    int64_t q, p;
    if (soma_cgroup_cpu_quota("", &q, &p))
        put(&t, "cgroup CPU quota: %" PRId64 "/%" PRId64 " us = %.2f CPUs -> at most %d thread%s\n",
            q, p, (double)q / (double)p, soma_cgroup_quota_threads(q, p),
            soma_cgroup_quota_threads(q, p) == 1 ? "" : "s");
    else
        put(&t, "cgroup CPU quota: none\n");
    char why[256];
    int threads = soma_pool_threads_why(why, sizeof why);
    put(&t, "threads: %d (%s)\n", threads, why);
    bool pin = soma_topology_pinning(threads, why, sizeof why);
    put(&t, "pinning: %s\n", why);
    if (threads == 1) {
        put(&t, "binding plan: none: the caller runs everything, no worker thread is started\n");
        return t.used > INT32_MAX ? INT32_MAX : (int)t.used;
    }
    put(&t, "binding plan (%d threads):\n", threads);
    put(&t, "  thread 0: the caller, never bound (it is the host's thread)");
    if (pin) {
        put(&t, "; ");
        put_obj(&t, plan_slot(0, threads));
        put(&t, " is left to it (a worker found on the caller's core moves there)");
    }
    put(&t, "\n");
    for (int w = 1; w < threads; w++) {
        hwloc_obj_t o = pin ? plan_slot(w, threads) : NULL;
        if (!o) {
            put(&t, "  worker %d -> not bound\n", w);
            continue;
        }
        put(&t, "  worker %d -> ", w);
        put_obj(&t, o);
        put(&t, "\n");
    }
    return t.used > INT32_MAX ? INT32_MAX : (int)t.used;
}
