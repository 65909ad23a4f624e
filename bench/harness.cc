// Thin C++ shim: Google Benchmark drives C benchmark functions.
#include <benchmark/benchmark.h>

#include "harness.h"

struct soma_bench_state {
    benchmark::State *st;
    double flops;
};

extern "C" int soma_bench_next(soma_bench_state *s) { return s->st->KeepRunning() ? 1 : 0; }

extern "C" void soma_bench_set_flops(soma_bench_state *s, double flops) { s->flops = flops; }

extern "C" void soma_bench_register(const char *name, soma_bench_fn fn, void *arg) {
    benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
        soma_bench_state s{&st, 0};
        fn(&s, arg);
        if (s.flops > 0)
            st.counters["GFLOP/s"] = benchmark::Counter(
                s.flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    })->UseRealTime();
}

extern "C" void soma_bench_register_all(void);

int main(int argc, char **argv) {
    soma_bench_register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
