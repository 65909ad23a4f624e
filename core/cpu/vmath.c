// Vector math for plugins (host->vexp / vlog). libm now; SLEEF kernels of the
// activation issue replace these bodies.
#include <math.h>

#include "cpu/cpu.h"

void soma_vexp(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = expf(in[i]);
}

void soma_vlog(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = logf(in[i]);
}
