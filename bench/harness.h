/* bench/harness.h — register C benchmark functions with Google Benchmark.
 * The C side sees only this header; harness.cc is the thin C++ shim. */
#ifndef SOMA_BENCH_HARNESS_H
#define SOMA_BENCH_HARNESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct soma_bench_state soma_bench_state;
/* Body of one benchmark: call soma_bench_next(s) until it returns 0 and do
 * one iteration of work per true return. */
typedef void (*soma_bench_fn)(soma_bench_state *s, void *arg);

int soma_bench_next(soma_bench_state *s);
/* Per-iteration work for the GFLOP/s counter (a rate on real time). */
void soma_bench_set_flops(soma_bench_state *s, double flops_per_iter);
void soma_bench_register(const char *name, soma_bench_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
