/* bench/peak.h — the machine's single-precision FMA peak, measured: what no
 * GEMM can beat, so a table can say how far each library is from it (and
 * whether a ratio target between two libraries is reachable at all).
 *
 * A loop of independent fused multiply-adds on registers only (12 or 16
 * chains, enough to cover the FMA latency on every core we know), in the vector
 * width soma's kernel set computes with, timed on wall clock; the best of
 * several tries, since a neighbour on a shared host can only lower it. */
#ifndef SOMA_BENCH_PEAK_H
#define SOMA_BENCH_PEAK_H

/* GFLOP/s of `threads` threads running the loop at once (their flops over
 * the wall time until the last one finished), best of `tries` tries of about
 * `seconds` each. isa: a soma kernel-set name ("avx2", "avx512", "neon");
 * returns -1 for one this build has no loop for (the generic set) or
 * when this CPU lacks it. */
double bench_fma_peak(const char *isa, int threads, int tries, double seconds);

#endif
