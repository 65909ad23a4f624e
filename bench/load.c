// How busy the machine was (load.h).
#define _POSIX_C_SOURCE 200809L
#include "load.h"

#include <stdio.h>
#include <string.h>
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
