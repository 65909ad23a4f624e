// How busy the machine was (load.h).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "load.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

bench_jiffies bench_jiffies_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    bench_jiffies j = {0, 0, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec};
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        long long v[8] = {0};
        if (fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
            j.system_busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; // all but idle, iowait
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[1024];
        if (fgets(line, sizeof line, f)) {
            // utime and stime follow the command name, which may hold spaces.
            const char *p = strrchr(line, ')');
            long long ut = 0, st = 0;
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut,
                            &st) == 2)
                j.self = ut + st;
        }
        fclose(f);
    }
    return j;
}

bench_load bench_load_between(bench_jiffies a, bench_jiffies b) {
    double tck = (double)sysconf(_SC_CLK_TCK);
    bench_load l = {b.wall - a.wall, 0, 0, 0};
    if (l.wall_s <= 0 || tck <= 0) return l;
    long long other = (b.system_busy - a.system_busy) - (b.self - a.self);
    l.other_cpu_s = (double)(other > 0 ? other : 0) / tck;
    l.busy = l.other_cpu_s / l.wall_s;
    l.cpu_per_wall = (double)(b.self - a.self) / tck / l.wall_s;
    return l;
}

// ---- core-to-core round trip ----

#define RTT_TRIPS 4000 // per batch: ~0.3-1.5 ms
#define RTT_BATCHES 5  // the median batch is reported
#define RTT_GIVE_UP_S 0.1

typedef struct rtt_pair {
    _Alignas(64) atomic_long flag; // odd: the pinger's turn is over; even: the ponger's
    int cpu;
} rtt_pair;

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *ponger(void *arg) {
    rtt_pair *p = arg;
    (void)pin_to(p->cpu); // unpinned it still answers; the measurement is then rougher
    for (long want = 1;; want += 2) {
        long got;
        while ((got = atomic_load_explicit(&p->flag, memory_order_acquire)) != want)
            if (got < 0) return NULL;
        atomic_store_explicit(&p->flag, want + 1, memory_order_release);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    const double pos = q * (n - 1);
    const int lo = (int)pos;
    return lo + 1 < n ? v[lo] + (pos - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_core_rtt_us(void) {
    cpu_set_t mine, saved;
    if (sched_getaffinity(0, sizeof mine, &mine)) return -1;
    int cpus[2], n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &mine)) cpus[n++] = c;
    if (n < 2) return -1;
    // The calling thread pings: its affinity is put back afterwards.
    if (pthread_getaffinity_np(pthread_self(), sizeof saved, &saved)) return -1;
    static rtt_pair pair;
    atomic_store(&pair.flag, 0);
    pair.cpu = cpus[1];
    pthread_t th;
    if (pthread_create(&th, NULL, ponger, &pair)) return -1;
    // A core that another process holds can keep the ponger off it for whole
    // time slices: the probe gives up after RTT_GIVE_UP_S (-1) instead of
    // stalling the benchmark for seconds.
    double us[RTT_BATCHES], result = -1;
    int batches = 0;
    if (pin_to(cpus[0]) == 0) {
        const double give_up = bench_now_s() + RTT_GIVE_UP_S;
        long i = 0;
        bool late = false;
        for (; batches < RTT_BATCHES && !late; batches++) {
            const double t0 = bench_now_s();
            for (int t = 0; t < RTT_TRIPS; t++, i++) {
                atomic_store_explicit(&pair.flag, 2 * i + 1, memory_order_release);
                for (unsigned spin = 1;
                     atomic_load_explicit(&pair.flag, memory_order_acquire) != 2 * i + 2; spin++)
                    if (spin % 4096 == 0 && bench_now_s() > give_up) break;
                if (t % 256 == 255 || atomic_load(&pair.flag) != 2 * i + 2)
                    if (bench_now_s() > give_up) {
                        late = true;
                        break;
                    }
            }
            us[batches] = (bench_now_s() - t0) * 1e6 / RTT_TRIPS;
        }
        if (!late) result = bench_quantile(us, RTT_BATCHES, 0.5);
    }
    atomic_store(&pair.flag, -1); // the ponger stops at a negative flag
    pthread_join(th, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return result;
}

static double process_cpu_s(void) {
    struct rusage r;
    if (getrusage(RUSAGE_SELF, &r) != 0) return 0;
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           1e-6 * (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

double bench_settle(int max_ms) {
    const double t0 = bench_now_s();
    double c0 = process_cpu_s(), t = t0;
    while ((t - t0) * 1e3 < max_ms) {
        nanosleep(&(struct timespec){0, 5000000L}, NULL);
        const double c1 = process_cpu_s(), t1 = bench_now_s();
        const bool quiet = c1 - c0 < 0.05 * (t1 - t);
        c0 = c1, t = t1;
        if (quiet) break;
    }
    return (t - t0) * 1e3;
}
