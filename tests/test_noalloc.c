// A training step never allocates: malloc and friends are interposed here and
// counted between the fit callback of one batch and the next. The first two
// steps may set things up lazily (GEMM packing buffers, the worker pool);
// every later step must make no heap allocation at all.
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "soma/soma.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static atomic_int counting;
static atomic_long n_allocs;

#ifndef SANITIZED
// glibc's own entry points, so the interposed functions can forward to them.
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static void note(void) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_allocs, 1);
}
void *malloc(size_t n) {
    note();
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    note();
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    note();
    return __libc_realloc(p, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
    note();
    void *p = __libc_memalign(align, n);
    if (!p) return 12; // ENOMEM
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n) {
    note();
    return __libc_memalign(align, n);
}
#endif

typedef struct watch {
    long worst;        // most allocations seen in one steady-state step
    int64_t worst_step;
    int steps;
} watch;

static int on_event(void *user, int event, int epoch, int64_t step, const soma_logs *logs) {
    (void)logs;
    watch *w = user;
    atomic_store(&counting, 0);
    if (event == SOMA_FIT_BATCH_END) {
        long n = atomic_exchange(&n_allocs, 0);
        // Step 0 and 1 of the first epoch may allocate lazily; none after.
        if ((epoch > 0 || step >= 2) && n > w->worst) {
            w->worst = n;
            w->worst_step = step;
        }
        w->steps++;
    } else {
        // Epoch boundaries (history, validation) may allocate; count from here.
        atomic_store(&n_allocs, 0);
    }
    atomic_store(&counting, 1); // count the next step
    return 0;
}

__attribute__((unused)) // under ASan the test that calls it is skipped
static void run(int threads, const char *optimizer, const char *activation) {
    enum { N = 512, IN = 64 };
    static float xs[N * IN], ys[N];
    for (int i = 0; i < N * IN; i++) xs[i] = (float)((i * 7919) % 101) / 101.0f;
    for (int i = 0; i < N; i++) ys[i] = (float)(i % 10);
    soma_set_num_threads(threads);
    soma_tensor *x, *y;
    int64_t xd[2] = {N, IN}, yd[1] = {N};
    cr_assert_eq(soma_tensor_create(&x, 2, xd, xs), SOMA_OK);
    cr_assert_eq(soma_tensor_create(&y, 1, yd, ys), SOMA_OK);
    soma_model *m;
    int64_t in[1] = {IN};
    cr_assert_eq(soma_model_create(&m), SOMA_OK);
    cr_assert_eq(soma_model_add_input(m, 1, in), SOMA_OK);
    cr_assert_eq(soma_model_add_dense(m, 128, activation, "he_normal", NULL), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_model_add_dense(m, 64, "relu", "he_normal", NULL), SOMA_OK);
    cr_assert_eq(soma_model_add_dense(m, 10, "softmax", NULL, NULL), SOMA_OK);
    cr_assert_eq(soma_model_compile(m, optimizer, "sparse_categorical_crossentropy", "accuracy, sparse_top_k_categorical_accuracy(k=3)"),
                 SOMA_OK, "%s", soma_last_error());
    watch w = {0};
    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = 2;
    fc.verbose = 0;
    fc.callback = on_event;
    fc.callback_user = &w;
    int rc = soma_model_fit(m, x, y, &fc);
    atomic_store(&counting, 0);
    cr_assert_eq(rc, SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(w.steps, 2 * N / 32);
    cr_assert_eq(w.worst, 0, "%s, %d thread(s): step %lld made %ld heap allocations", optimizer, threads,
                 (long long)w.worst_step, w.worst);
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}

Test(noalloc, steady_state_training_step) {
#ifdef SANITIZED
    cr_skip_test("malloc cannot be interposed under AddressSanitizer; the plain build runs this test");
#else
    // The counter must see allocations at all, or a zero proves nothing.
    atomic_store(&n_allocs, 0);
    atomic_store(&counting, 1);
    void *volatile probe = malloc(16);
    atomic_store(&counting, 0);
    free(probe);
    cr_assert_eq(atomic_load(&n_allocs), 1, "the malloc interposer is not in effect");
    run(1, "adam", "relu");
    run(2, "adam(clipnorm=1, use_ema=true)", "gelu");
    run(2, "nadam(learning_rate=cosine_decay(initial_learning_rate=0.01, decay_steps=20))", "tanh");
#endif
}

// Returning non-zero from the callback stops training, with the history so far.
static int stop_after_3(void *user, int event, int epoch, int64_t step, const soma_logs *logs) {
    (void)logs;
    (void)epoch;
    int *seen = user;
    if (event == SOMA_FIT_BATCH_END) (*seen)++;
    return event == SOMA_FIT_BATCH_END && step == 2;
}

Test(noalloc, callback_stops_training) {
    enum { N = 256 };
    static float xs[N * 4], ys[N];
    for (int i = 0; i < N * 4; i++) xs[i] = (float)(i % 13) / 13.0f;
    for (int i = 0; i < N; i++) ys[i] = (float)(i % 2);
    soma_tensor *x, *y;
    int64_t xd[2] = {N, 4}, yd[1] = {N};
    cr_assert_eq(soma_tensor_create(&x, 2, xd, xs), SOMA_OK);
    cr_assert_eq(soma_tensor_create(&y, 1, yd, ys), SOMA_OK);
    soma_model *m;
    cr_assert_eq(soma_model_create(&m), SOMA_OK);
    cr_assert_eq(soma_model_add_dense(m, 2, "softmax", NULL, NULL), SOMA_OK);
    cr_assert_eq(soma_model_compile(m, "sgd", "sparse_categorical_crossentropy", NULL), SOMA_OK);
    int seen = 0;
    soma_fit_config fc = soma_fit_defaults();
    fc.epochs = 5;
    fc.verbose = 0;
    fc.callback = stop_after_3;
    fc.callback_user = &seen;
    cr_assert_eq(soma_model_fit(m, x, y, &fc), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(seen, 3);
    cr_assert_eq(soma_model_history_length(m), 1);
    soma_model_free(m);
    soma_tensor_free(x);
    soma_tensor_free(y);
}
