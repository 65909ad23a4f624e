/* bench/load.h — how busy the machine was while a measurement ran: CPU time
 * the whole system spent outside this process (from /proc/stat minus
 * /proc/self/stat), so a table can say "disturbed" instead of leaving the
 * reader to guess. On 2 cores one busy neighbour halves a 2-thread result.
 * Shared by bench_gemm.c and bench_train.c; Linux only (zeros elsewhere). */
#ifndef SOMA_BENCH_LOAD_H
#define SOMA_BENCH_LOAD_H

typedef struct bench_jiffies {
    long long system_busy, self; /* clock ticks: all CPUs but idle/iowait, this process */
    double wall;                 /* CLOCK_MONOTONIC seconds */
} bench_jiffies;

typedef struct bench_load {
    double wall_s;       /* between the two readings */
    double other_cpu_s;  /* CPU seconds other processes used */
    double busy;         /* the same in CPUs: other_cpu_s / wall_s */
    double cpu_per_wall; /* this process: > 1 only when it really ran in parallel */
} bench_load;

bench_jiffies bench_jiffies_now(void);
bench_load bench_load_between(bench_jiffies a, bench_jiffies b);

#endif
