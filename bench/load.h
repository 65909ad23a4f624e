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
/* Round trip of a cache line between the first two CPUs this process may
 * use, in µs (two threads pinned there hand a flag back and forth); -1 with
 * fewer than two CPUs. It tells where the host put them: on a VM the same two
 * vCPUs read 0.08 µs on one die and 0.38 µs on two, and in the latter every
 * multi-threaded number drops (data one core wrote, the other must fetch
 * across the dies) -- at times for minutes, which is why runs record it.
 * Also -1 when the other CPU is too busy to answer within 0.1 s. */
double bench_core_rtt_us(void);
/* Above this a report calls the placement slow (train_report.py: the same). */
#define BENCH_CORE_RTT_SLOW_US 0.2
bench_load bench_load_between(bench_jiffies a, bench_jiffies b);

/* CLOCK_MONOTONIC in seconds. */
double bench_now_s(void);
/* The q-quantile (0..1) of v[0..n), n >= 1, linear between neighbours;
 * sorts v in place. */
double bench_quantile(double *v, int n, double q);

/* Sleeps until this process's other threads have gone idle: a library's
 * workers keep spinning after a multi-threaded call, on this 2-vCPU host
 * OpenBLAS's for about 110 ms, BLIS's for 85 and oneDNN's (libgomp) for 60
 * (one CPU busy, from getrusage in 20 ms windows after the last call), and
 * they would take a CPU from whatever runs next. Polls the process's CPU
 * time over 5 ms sleeps until one used less than 5% of a CPU, at most
 * max_ms; returns the milliseconds waited. */
double bench_settle(int max_ms);

#endif
