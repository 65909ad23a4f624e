/* core/cpu/fpenv.h — the floating-point control state soma computes under:
 * MXCSR on x86-64, FPCR on AArch64 (rounding mode, flush-to-zero), as one
 * integer. Only the controls: x86's sticky exception flags stay the
 * thread's own, raised by whatever it computes. fit, evaluate and predict run with denormals flushed to zero
 * (TensorFlow's setting, and far faster: Adam's moments of rarely active
 * weights decay into the denormal range, where every operation on them costs
 * tens of cycles); the pool's workers take the caller's state for every
 * range they run, so a result never depends on which thread computed it.
 * Elsewhere (other architectures) these are no-ops. */
#ifndef SOMA_CORE_FPENV_H
#define SOMA_CORE_FPENV_H

#include <stdint.h>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

typedef uint64_t soma_fpenv;

static inline soma_fpenv soma_fpenv_get(void) {
#if defined(__x86_64__)
    return _mm_getcsr() & ~0x3fu; // bits 0-5 are the exception flags
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
#else
    return 0;
#endif
}

static inline void soma_fpenv_set(soma_fpenv e) {
#if defined(__x86_64__)
    _mm_setcsr((_mm_getcsr() & 0x3fu) | ((unsigned)e & ~0x3fu));
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" : : "r"(e));
#else
    (void)e;
#endif
}

/* e with denormal results flushed to zero and denormal inputs read as zero
 * (x86: FTZ | DAZ; AArch64: FZ, which does both). */
static inline soma_fpenv soma_fpenv_flushing(soma_fpenv e) {
#if defined(__x86_64__)
    return e | 0x8040u;
#elif defined(__aarch64__)
    return e | (UINT64_C(1) << 24);
#else
    return e;
#endif
}

/* Sets e when the thread's state differs (a write costs more than a read). */
static inline void soma_fpenv_adopt(soma_fpenv e) {
    if (soma_fpenv_get() != e) soma_fpenv_set(e);
}

#endif
