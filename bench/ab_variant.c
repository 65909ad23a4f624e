// One build of soma's GEMM as a shared object for soma_ab (tools/ab links
// this file with a revision's libsoma_static.a): the library's symbols are
// hidden, so two builds loaded side by side never call into each other;
// only these two are exported. Compiled against the revision's own headers.
#include <stdint.h>

#include "cpu/cpu.h"
#include "soma/soma.h"

#define AB_EXPORT __attribute__((visibility("default")))

AB_EXPORT void ab_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc) {
    soma_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

AB_EXPORT void ab_set_threads(int n) { soma_set_num_threads(n); }
