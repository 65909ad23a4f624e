// What the core does around every optimizer (Keras' base optimizer):
// learning-rate schedules, clipping, decoupled weight decay, EMA. Expected
// values are Keras' own test numbers or the formulas of KERAS.md recomputed
// here in double precision.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/optimizer.h"

#define ASSERT_OK(expr)                                                            \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        cr_assert_eq(rc_, SOMA_OK, "%s -> %d: %s", #expr, rc_, soma_last_error()); \
    } while (0)

#define ASSERT_ERR(expr, code, words)                                              \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        cr_assert_eq(rc_, code, "%s -> %d (%s)", #expr, rc_, soma_last_error());    \
        cr_assert(strstr(soma_last_error(), words), "'%s' lacks '%s'", soma_last_error(), words); \
    } while (0)

// One tensor with its slots, owned by the test (the model does this for fit).
typedef struct holder {
    float *value, *grad, *slot_mem, *slots[8];
    soma_ptensor t;
} holder;

static void hold(holder *h, soma_optimizer *o, const float *x, int64_t n) {
    h->value = calloc((size_t)n, sizeof(float));
    h->grad = calloc((size_t)n, sizeof(float));
    uint32_t ns = soma_optimizer_slot_count(o);
    h->slot_mem = calloc((size_t)(n * (ns ? ns : 1)), sizeof(float));
    for (uint32_t s = 0; s < ns; s++) h->slots[s] = h->slot_mem + s * n;
    memcpy(h->value, x, (size_t)n * sizeof(float));
    h->t = (soma_ptensor){.value = h->value, .grad = h->grad, .numel = n, .slots = h->slots, .name = "x"};
    ASSERT_OK(soma_optimizer_init_slots(o, &h->t));
}

static void unhold(holder *h) {
    free(h->value);
    free(h->grad);
    free(h->slot_mem);
}

Test(schedules, keras_formulas) {
    soma_obj *s;
    ASSERT_OK(soma_schedule_create("exponential_decay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 0), 0.1, 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 5), 0.1 * pow(0.5, 0.5), 1e-12);
    soma_obj_free(s);
    ASSERT_OK(soma_schedule_create("ExponentialDecay(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5, staircase=true)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 19), 0.05, 1e-12);
    soma_obj_free(s);
    // Keras' docstring example: [100000, 110000] / [1.0, 0.5, 0.1]; values[i] for b[i-1] < step <= b[i]
    ASSERT_OK(soma_schedule_create("piecewise_constant_decay(boundaries='100000,110000', values='1.0,0.5,0.1')", &s));
    cr_assert_eq(soma_schedule_eval(s, 100000), 1.0);
    cr_assert_eq(soma_schedule_eval(s, 100001), 0.5);
    cr_assert_eq(soma_schedule_eval(s, 110001), 0.1);
    soma_obj_free(s);
    ASSERT_OK(soma_schedule_create("polynomial_decay(initial_learning_rate=0.1, decay_steps=100, end_learning_rate=0.01, power=0.5)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 25), 0.09 * sqrt(0.75) + 0.01, 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 500), 0.01, 1e-12); // clamped at decay_steps
    soma_obj_free(s);
    ASSERT_OK(soma_schedule_create("polynomial_decay(initial_learning_rate=0.1, decay_steps=100, end_learning_rate=0.01, cycle=true)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 150), 0.09 * (1 - 150.0 / 200) + 0.01, 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 0), 0.1, 1e-12);
    soma_obj_free(s);
    ASSERT_OK(soma_schedule_create("inverse_time_decay(initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 4), 0.1 / 3, 1e-12);
    soma_obj_free(s);
    ASSERT_OK(soma_schedule_create("cosine_decay(initial_learning_rate=0.1, decay_steps=1000, alpha=0.1)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 500), 0.1 * (0.9 * 0.5 + 0.1), 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 5000), 0.01, 1e-12);
    soma_obj_free(s);
    // warmup from 0 to 0.1 over 1000 steps, then cosine from 0.1 over 1000
    ASSERT_OK(soma_schedule_create("cosine_decay(initial_learning_rate=0, decay_steps=1000, warmup_target=0.1, warmup_steps=1000)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 250), 0.025, 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 1000), 0.1, 1e-12);
    cr_assert_float_eq(soma_schedule_eval(s, 1500), 0.05, 1e-12);
    soma_obj_free(s);
    // restarts with t_mul=2: periods of 10, 20, 40 steps
    ASSERT_OK(soma_schedule_create("cosine_decay_restarts(initial_learning_rate=1, first_decay_steps=10, m_mul=0.5)", &s));
    cr_assert_float_eq(soma_schedule_eval(s, 5), 0.5, 1e-9);
    cr_assert_float_eq(soma_schedule_eval(s, 10), 0.5, 1e-9);        // restart at half height
    cr_assert_float_eq(soma_schedule_eval(s, 20), 0.5 * 0.5, 1e-9);  // halfway through period 2
    soma_obj_free(s);
}

Test(schedules, bad_specs) {
    soma_obj *s;
    ASSERT_ERR(soma_schedule_create("cosine_decay(initial_learning_rate=0.1)", &s), SOMA_E_INVALID, "decay_steps");
    ASSERT_ERR(soma_schedule_create("cosine_decay(initial_learning_rate=0.1, decay_steps=0)", &s), SOMA_E_INVALID, "> 0");
    ASSERT_ERR(soma_schedule_create("step_decay(x=1)", &s), SOMA_E_NOT_FOUND, "unknown schedule 'step_decay'");
    ASSERT_ERR(soma_schedule_create("piecewise_constant_decay(boundaries='1,2', values='1,2')", &s), SOMA_E_INVALID, "need 3 values");
}

// SGD(lr=0.1) with learning_rate=exponential_decay: the plugin sees the
// schedule's value at iterations 0, 1, 2.
Test(optimizer, schedule_drives_the_step) {
    soma_optimizer *o;
    ASSERT_OK(soma_optimizer_create("sgd(learning_rate=exponential_decay(initial_learning_rate=1.0, decay_steps=1, decay_rate=0.5))", &o));
    float x0 = 10;
    holder h;
    hold(&h, o, &x0, 1);
    double want = 10;
    for (int k = 0; k < 3; k++) {
        h.grad[0] = 1;
        want -= pow(0.5, k);
        ASSERT_OK(soma_optimizer_apply(o, &h.t, 1));
        cr_assert_float_eq(h.value[0], want, 1e-6);
    }
    unhold(&h);
    soma_optimizer_free(o);
}

// Keras' test_clip_norm / test_clip_value: [100, 100] → [√2/2, √2/2] / [1, 1].
Test(optimizer, clipping_as_keras) {
    const float x[2] = {0, 0};
    soma_optimizer *o;
    holder h;
    ASSERT_OK(soma_optimizer_create("sgd(learning_rate=1, clipnorm=1)", &o));
    hold(&h, o, x, 2);
    h.grad[0] = h.grad[1] = 100;
    ASSERT_OK(soma_optimizer_apply(o, &h.t, 1));
    cr_assert_float_eq(h.value[0], -sqrt(2) / 2, 1e-6);
    unhold(&h);
    soma_optimizer_free(o);
    ASSERT_OK(soma_optimizer_create("sgd(learning_rate=1, clipvalue=1)", &o));
    hold(&h, o, x, 2);
    h.grad[0] = 100;
    h.grad[1] = -0.5f;
    ASSERT_OK(soma_optimizer_apply(o, &h.t, 1));
    cr_assert_float_eq(h.value[0], -1, 1e-7);
    cr_assert_float_eq(h.value[1], 0.5, 1e-7);
    unhold(&h);
    soma_optimizer_free(o);
    // global: two tensors [3] and [4] have global norm 5; clip to 1 → [0.6], [0.8]
    ASSERT_OK(soma_optimizer_create("sgd(learning_rate=1, global_clipnorm=1)", &o));
    holder a, b;
    hold(&a, o, x, 1);
    hold(&b, o, x, 1);
    a.grad[0] = 3;
    b.grad[0] = 4;
    soma_ptensor both[2] = {a.t, b.t};
    ASSERT_OK(soma_optimizer_apply(o, both, 2));
    cr_assert_float_eq(a.value[0], -0.6, 1e-6);
    cr_assert_float_eq(b.value[0], -0.8, 1e-6);
    unhold(&a);
    unhold(&b);
    soma_optimizer_free(o);
    ASSERT_ERR(soma_optimizer_create("sgd(clipnorm=1, clipvalue=1)", &o), SOMA_E_INVALID, "only one of");
    ASSERT_ERR(soma_optimizer_create("sgd(clipnorm=0)", &o), SOMA_E_INVALID, "> 0");
}

// Keras' test_weight_decay: lr 1, wd 0.004, zero gradient, three applies:
// 2·0.996³ = 1.9760959 — for optimizers that do not declare weight_decay too.
Test(optimizer, decoupled_weight_decay_for_any_optimizer) {
    const char *specs[] = {"sgd(learning_rate=1.0, weight_decay=0.004)",
                           "adam(learning_rate=1.0, weight_decay=0.004)"};
    for (int i = 0; i < 2; i++) {
        soma_optimizer *o;
        ASSERT_OK(soma_optimizer_create(specs[i], &o));
        float x = 2;
        holder h;
        hold(&h, o, &x, 1);
        for (int k = 0; k < 3; k++) {
            h.grad[0] = 0;
            ASSERT_OK(soma_optimizer_apply(o, &h.t, 1));
        }
        cr_assert_float_eq(h.value[0], 1.9760959, 1e-6, "%s: %.8f", specs[i], h.value[0]);
        unhold(&h);
        soma_optimizer_free(o);
    }
}

// EMA: the average starts at the first updated weights, then follows
// avg = μ·avg + (1−μ)·x; overwrite every k steps; finalize copies it in.
Test(optimizer, moving_average_of_weights) {
    soma_optimizer *o;
    ASSERT_OK(soma_optimizer_create("sgd(learning_rate=1, use_ema=true, ema_momentum=0.5, ema_overwrite_frequency=3)", &o));
    cr_assert_eq(soma_optimizer_slot_count(o), 1);
    float x0 = 0;
    holder h;
    hold(&h, o, &x0, 1);
    double x = 0, avg = 0;
    for (int k = 0; k < 4; k++) {
        h.grad[0] = -1; // x grows by 1 per step
        ASSERT_OK(soma_optimizer_apply(o, &h.t, 1));
        x += 1;
        avg = k == 0 ? x : 0.5 * avg + 0.5 * x;
        if ((k + 1) % 3 == 0) x = avg;
        cr_assert_float_eq(h.value[0], x, 1e-6, "step %d", k);
        cr_assert_float_eq(h.slots[0][0], avg, 1e-6, "step %d", k);
    }
    soma_optimizer_finalize(o, &h.t, 1);
    cr_assert_float_eq(h.value[0], avg, 1e-6);
    unhold(&h);
    soma_optimizer_free(o);
    ASSERT_ERR(soma_optimizer_create("adam(use_ema=true, ema_momentum=2)", &o), SOMA_E_INVALID, "ema_momentum");
    ASSERT_ERR(soma_optimizer_create("adam(learning_rate=cosine_decay(decay_steps=3))", &o), SOMA_E_INVALID,
               "initial_learning_rate");
    ASSERT_ERR(soma_optimizer_create("adam(beta_1=cosine_decay(decay_steps=3))", &o), SOMA_E_INVALID, "beta_1");
}

// The plugin's step runs over all tensors as one index space split among the
// threads: several tensors of mixed sizes (together past the parallel
// threshold) get, on 1, 2 and 3 threads, the bits each gets stepped alone by
// an optimizer of its own.
Test(optimizer, all_tensors_in_one_parallel_step) {
    static const int64_t sizes[] = {20000, 17, 15001, 1, 3000};
    enum { NT = sizeof sizes / sizeof *sizes };
    for (int threads = 1; threads <= 3; threads++) {
        soma_set_num_threads(threads);
        soma_optimizer *all, *alone[NT];
        ASSERT_OK(soma_optimizer_create("adam(learning_rate=0.01)", &all));
        holder h[NT], r[NT];
        soma_ptensor ts[NT];
        for (int i = 0; i < NT; i++) {
            ASSERT_OK(soma_optimizer_create("adam(learning_rate=0.01)", &alone[i]));
            float *x0 = malloc(sizeof(float) * (size_t)sizes[i]);
            for (int64_t k = 0; k < sizes[i]; k++) x0[k] = (float)((k * 7 + i) % 11) * 0.1f - 0.5f;
            hold(&h[i], all, x0, sizes[i]);
            hold(&r[i], alone[i], x0, sizes[i]);
            free(x0);
            ts[i] = h[i].t;
        }
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < NT; i++)
                for (int64_t k = 0; k < sizes[i]; k++)
                    h[i].grad[k] = r[i].grad[k] = (float)((k * 13 + step + i) % 17) * 0.03f - 0.2f;
            ASSERT_OK(soma_optimizer_apply(all, ts, NT));
            for (int i = 0; i < NT; i++) ASSERT_OK(soma_optimizer_apply(alone[i], &r[i].t, 1));
        }
        for (int i = 0; i < NT; i++) {
            cr_assert(memcmp(h[i].value, r[i].value, sizeof(float) * (size_t)sizes[i]) == 0,
                      "%d threads: tensor %d differs from its own step", threads, i);
            unhold(&h[i]);
            unhold(&r[i]);
            soma_optimizer_free(alone[i]);
        }
        soma_optimizer_free(all);
    }
    soma_set_num_threads(0);
}
