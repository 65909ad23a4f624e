// Optimizer plugins (plugins/optim/*.c) checked against KERAS.md §3.3: an
// independent double-precision re-implementation of Keras' update rules run
// side by side on random parameters and gradients, small cases worked out by
// hand in the comments, the slot contract, the learning-rate contract
// (info->lr, not the parameter) and parameter validation.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "plugin/registry.h"

static soma_obj *make(const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_OPTIM, spec, &o);
    cr_assert_eq(rc, SOMA_OK, "create '%s' failed: %d %s", spec, rc, soma_last_error());
    cr_assert_not_null(o);
    return o;
}

static double param(const soma_obj *o, const char *key) {
    double v = NAN;
    cr_assert(soma_obj_param(o, key, &v), "'%s' has no parameter '%s'", o->item->name, key);
    return v;
}

// One optimizer instance with the host's side of the slot contract: the
// slots are zeroed, then handed once to init_slots.
typedef struct runner {
    soma_obj *o;
    const soma_optim_vt *vt;
    uint32_t nslots;
    float *slots[4];
    size_t n;
} runner;

static void runner_init(runner *r, const char *spec, size_t n) {
    memset(r, 0, sizeof *r);
    r->o = make(spec);
    r->vt = soma_obj_optim(r->o);
    r->n = n;
    r->nslots = r->vt->slot_count ? r->vt->slot_count(&r->o->inst) : 0;
    cr_assert_leq(r->nslots, 4u);
    for (uint32_t s = 0; s < r->nslots; s++) {
        r->slots[s] = calloc(n ? n : 1, sizeof(float));
        cr_assert_not_null(r->slots[s]);
    }
    if (r->vt->init_slots) {
        soma_ctx c = soma_ctx_make(NULL);
        cr_assert_eq(r->vt->init_slots(&r->o->inst, &c, r->slots, n), SOMA_OK);
    }
}

static void runner_step(runner *r, float *x, const float *g, int64_t t, double lr) {
    soma_ctx c = soma_ctx_make(NULL);
    soma_step_info info = { .size = sizeof info, .t = t, .lr = lr };
    if (r->vt->begin_step)
        cr_assert_eq(r->vt->begin_step(&r->o->inst, &c, &info), SOMA_OK);
    int rc = r->vt->step(&r->o->inst, &c, x, g, r->slots, r->n, &info);
    cr_assert_eq(rc, SOMA_OK, "step %lld failed: %s", (long long)t, soma_last_error());
}

static void runner_free(runner *r) {
    for (uint32_t s = 0; s < r->nslots; s++) free(r->slots[s]);
    soma_obj_free(r->o);
}

// ---------------------------------------------------------------------------
// The reference: KERAS.md §3.3 in double precision. One float32 detail is
// kept because it moves Adam's step by 6.7e-6 relative at t = 1, more than
// our tolerance: Keras raises β cast to float32 to the power t
// (ops.power(ops.cast(beta, dtype), t)), so 1 − β2^t at t = 1 is
// 1 − 0.99900001287 = 9.99987e-4, not 1e-3. (1 − β, by contrast, is formed
// from the Python float, i.e. in double.)
static double f32(double v) { return (double)(float)v; }

typedef struct ref {
    const char *kind; // "sgd" or "adam"
    double lr, momentum, beta_1, beta_2, epsilon;
    int nesterov, amsgrad;
} ref;

typedef struct ref_state {
    double *x, *m, *v, *vh;
    double *path; // Σ|Δx| so far: the scale rounding errors are relative to
} ref_state;

static void ref_step(const ref *p, ref_state *s, const float *g, size_t n, int64_t t) {
    if (strcmp(p->kind, "sgd") == 0) {
        for (size_t i = 0; i < n; i++) {
            double d;
            if (p->momentum == 0) {
                d = -p->lr * g[i];
            } else {
                s->m[i] = p->momentum * s->m[i] - p->lr * g[i];
                d = p->nesterov ? p->momentum * s->m[i] - p->lr * g[i] : s->m[i];
            }
            s->x[i] += d;
            s->path[i] += fabs(d);
        }
        return;
    }
    double alpha = p->lr * sqrt(1 - pow(f32(p->beta_2), (double)t)) /
                   (1 - pow(f32(p->beta_1), (double)t));
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        s->m[i] += (gi - s->m[i]) * (1 - p->beta_1);
        s->v[i] += (gi * gi - s->v[i]) * (1 - p->beta_2);
        double den = s->v[i];
        if (p->amsgrad) {
            s->vh[i] = fmax(s->vh[i], s->v[i]);
            den = s->vh[i];
        }
        double d = -alpha * s->m[i] / (sqrt(den) + p->epsilon);
        s->x[i] += d;
        s->path[i] += fabs(d);
    }
}

// Reads the reference's hyper-parameters from the instance (defaults
// included), so the comparison also covers the parameter plumbing.
static ref ref_from(const soma_obj *o) {
    ref p = { .kind = o->item->name };
    p.lr = param(o, "learning_rate");
    if (strcmp(p.kind, "sgd") == 0) {
        p.momentum = param(o, "momentum");
        p.nesterov = param(o, "nesterov") != 0;
    } else {
        p.beta_1 = param(o, "beta_1");
        p.beta_2 = param(o, "beta_2");
        p.epsilon = param(o, "epsilon");
        p.amsgrad = param(o, "amsgrad") != 0;
    }
    return p;
}

#define NSTEP 5
#define N 1003 // odd, so no vector width divides it

// Parameters ~ N(0, 1); gradients ~ N(0, scale_t²) with a scale that jumps
// between steps (so AMSGrad's running max differs from v), and the first 50
// elements a million times smaller (so Adam's ε matters there).
typedef struct data {
    float x0[N];
    float g[NSTEP][N];
    double gmax[N];
} data;

static void make_data(data *d, uint64_t seed) {
    static const float scale[NSTEP] = { 5.0f, 0.1f, 1.0f, 0.01f, 2.0f };
    soma_rng r;
    soma_rng_init(&r, seed, 7);
    soma_rng_normal(&r, d->x0, N, 0.0f, 1.0f);
    for (int t = 0; t < NSTEP; t++) {
        soma_rng_normal(&r, d->g[t], N, 0.0f, scale[t]);
        for (int i = 0; i < 50; i++) d->g[t][i] *= 1e-6f;
    }
    for (int i = 0; i < N; i++) {
        d->gmax[i] = 0;
        for (int t = 0; t < NSTEP; t++) d->gmax[i] = fmax(d->gmax[i], fabs(d->g[t][i]));
    }
}

static void expect_rel(const char *what, const char *spec, int step, int i, double got,
                       double want, double scale) {
    double tol = 1e-6 * (fabs(want) + scale);
    cr_expect(fabs(got - want) <= tol, "%s after step %d, '%s'[%d]: %.9g vs reference %.9g "
              "(diff %.3g, tol %.3g)", what, step, spec, i, got, want, fabs(got - want), tol);
}

// Runs `steps` steps of spec and of the reference on the same data and
// compares parameters and slots after every step.
static void compare(const char *spec, int steps, uint64_t seed) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, seed);
    runner r;
    runner_init(&r, spec, N);
    ref p = ref_from(r.o);
    ref_state s = { calloc(N, sizeof(double)), calloc(N, sizeof(double)),
                    calloc(N, sizeof(double)), calloc(N, sizeof(double)),
                    calloc(N, sizeof(double)) };
    float *x = malloc(N * sizeof(float));
    cr_assert(x && s.x && s.m && s.v && s.vh && s.path);
    for (int i = 0; i < N; i++) x[i] = s.x[i] = d->x0[i];

    for (int t = 1; t <= steps; t++) {
        runner_step(&r, x, d->g[t - 1], t, p.lr);
        ref_step(&p, &s, d->g[t - 1], N, t);
        for (int i = 0; i < N; i++) {
            expect_rel("x", spec, t, i, x[i], s.x[i], fabs(d->x0[i]) + s.path[i]);
            if (strcmp(p.kind, "sgd") == 0) {
                if (p.momentum > 0)
                    expect_rel("velocity", spec, t, i, r.slots[0][i], s.m[i],
                               p.lr * d->gmax[i] * t);
            } else {
                expect_rel("m", spec, t, i, r.slots[0][i], s.m[i], d->gmax[i]);
                expect_rel("v", spec, t, i, r.slots[1][i], s.v[i], 0);
                if (p.amsgrad) expect_rel("v_hat", spec, t, i, r.slots[2][i], s.vh[i], 0);
            }
        }
    }
    free(x);
    free(s.x);
    free(s.m);
    free(s.v);
    free(s.vh);
    free(s.path);
    runner_free(&r);
    free(d);
}

Test(optim, sgd_plain_vs_reference) {
    compare("sgd", 1, 1);
    compare("sgd", 5, 2);
    compare("SGD(learning_rate=0.3)", 5, 3);
    compare("sgd(nesterov=true)", 5, 4); // momentum 0: nesterov has no effect
}

Test(optim, sgd_momentum_vs_reference) {
    compare("sgd(momentum=0.9)", 1, 5);
    compare("sgd(momentum=0.9)", 5, 6);
    compare("sgd(learning_rate=0.05, momentum=0.5)", 5, 7);
    compare("sgd(momentum=1)", 5, 8); // the closed end of [0, 1]
}

Test(optim, sgd_nesterov_vs_reference) {
    compare("sgd(momentum=0.9, nesterov=true)", 1, 9);
    compare("sgd(momentum=0.9, nesterov=true)", 5, 10);
    compare("sgd(learning_rate=0.2, momentum=0.3, nesterov=1)", 5, 11);
}

Test(optim, adam_vs_reference) {
    compare("adam", 1, 12);
    compare("adam", 5, 13);
    compare("Adam(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-3)", 5, 14);
    compare("adam(epsilon=0)", 5, 15);
}

Test(optim, amsgrad_vs_reference) {
    compare("adam(amsgrad=true)", 1, 16);
    compare("adam(amsgrad=true)", 5, 17);
    compare("adam(amsgrad=true, beta_2=0.9)", 5, 18);
    compare("adam(amsgrad=true, beta_1=0.5, beta_2=0.5)", 5, 19);
}

// The data above must make AMSGrad matter, or the amsgrad comparison could
// not tell it from plain Adam.
Test(optim, amsgrad_differs_from_adam_on_test_data) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, 17);
    runner a, b;
    // With β2 = 0.999, v falls by only 0.1% a step and AMSGrad's max barely
    // differs in five steps; β2 = 0.9 lets the jump 5 → 0.1 in scale show.
    runner_init(&a, "adam(beta_2=0.9)", N);
    runner_init(&b, "adam(amsgrad=true, beta_2=0.9)", N);
    float xa[N], xb[N];
    memcpy(xa, d->x0, sizeof xa);
    memcpy(xb, d->x0, sizeof xb);
    for (int t = 1; t <= NSTEP; t++) {
        runner_step(&a, xa, d->g[t - 1], t, 0.001);
        runner_step(&b, xb, d->g[t - 1], t, 0.001);
    }
    int differ = 0;
    for (int i = 0; i < N; i++) differ += fabsf(xa[i] - xb[i]) > 1e-5f;
    cr_expect_gt(differ, N / 2, "amsgrad changed only %d of %d parameters", differ, N);
    runner_free(&a);
    runner_free(&b);
    free(d);
}

// ---------------------------------------------------------------------------
// Small cases worked out by hand.

// Keras' one-step test (sgd_test.py): SGD(learning_rate=0.5), x = [1, 2, 3, 4],
// g = [1, 6, 7, 2]. x − 0.5·g = [0.5, −1, −0.5, 3], exact in float.
Test(optim, sgd_single_step_keras) {
    runner r;
    runner_init(&r, "sgd(learning_rate=0.5)", 4);
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 6, 7, 2 };
    runner_step(&r, x, g, 1, param(r.o, "learning_rate"));
    const float want[4] = { 0.5f, -1.0f, -0.5f, 3.0f };
    for (int i = 0; i < 4; i++) cr_expect_eq(x[i], want[i], "x[%d] = %g", i, x[i]);
    runner_free(&r);
}

// lr 0.1, μ 0.9, g = 1 every step, x0 = 1.
//   plain:    m1 = −0.1,  x1 = 0.9
//             m2 = 0.9·(−0.1) − 0.1 = −0.19,  x2 = 0.71
//             m3 = 0.9·(−0.19) − 0.1 = −0.271, x3 = 0.439
//   nesterov: m1 = −0.1,  x1 = 1 + 0.9·(−0.1) − 0.1 = 0.81
//             m2 = −0.19, x2 = 0.81 + 0.9·(−0.19) − 0.1 = 0.539
//             m3 = −0.271, x3 = 0.539 + 0.9·(−0.271) − 0.1 = 0.1951
Test(optim, sgd_momentum_by_hand) {
    static const double plain[3] = { 0.9, 0.71, 0.439 }, nest[3] = { 0.81, 0.539, 0.1951 };
    static const double vel[3] = { -0.1, -0.19, -0.271 };
    runner a, b;
    runner_init(&a, "sgd(learning_rate=0.1, momentum=0.9)", 1);
    runner_init(&b, "sgd(learning_rate=0.1, momentum=0.9, nesterov=true)", 1);
    float xa = 1, xb = 1, g = 1;
    for (int t = 1; t <= 3; t++) {
        runner_step(&a, &xa, &g, t, 0.1);
        runner_step(&b, &xb, &g, t, 0.1);
        cr_expect_float_eq(xa, plain[t - 1], 1e-6, "plain step %d: %.9g", t, xa);
        cr_expect_float_eq(xb, nest[t - 1], 1e-6, "nesterov step %d: %.9g", t, xb);
        cr_expect_float_eq(a.slots[0][0], vel[t - 1], 1e-6);
        cr_expect_float_eq(b.slots[0][0], vel[t - 1], 1e-6);
    }
    runner_free(&a);
    runner_free(&b);
}

// The set-up of Keras' golden tests: ten parameters at 1, a first gradient of
// 0.01 everywhere, then g_j = 0.1·(j+1) for four more steps.
static void golden_grads(int t, float g[10]) {
    for (int j = 0; j < 10; j++) g[j] = t == 1 ? 0.01f : 0.1f * (float)(j + 1);
}

// SGD(nesterov=True) with the default momentum 0 is plain SGD, lr 0.01:
//   x1 = 1 − 0.01·0.01 = 0.9999;  x_s = 0.9999 − (s−1)·0.01·0.1·(j+1)
// e.g. element 0: 0.9999, 0.9989, 0.9979, 0.9969, 0.9959.
Test(optim, sgd_golden_five_steps) {
    runner r;
    runner_init(&r, "sgd(nesterov=true)", 10);
    cr_expect_eq(r.nslots, 0u);
    float x[10], g[10];
    for (int j = 0; j < 10; j++) x[j] = 1;
    for (int s = 1; s <= 5; s++) {
        golden_grads(s, g);
        runner_step(&r, x, g, s, param(r.o, "learning_rate"));
        for (int j = 0; j < 10; j++) {
            double want = 0.9999 - (s - 1) * 0.01 * 0.1 * (j + 1);
            cr_expect_float_eq(x[j], want, 1e-6, "step %d x[%d] = %.9g want %.9g", s, j,
                               x[j], want);
        }
    }
    runner_free(&r);
}

// Keras' one-step Adam test: Adam(learning_rate=0.5), x = [1, 2, 3, 4],
// g = [1, 6, 7, 2]. At t = 1: m = 0.1·g, v = 0.001·g² (0.1f, 0.001f), and
// with β in float32 (0.89999998, 0.99900001):
//   α = 0.5·sqrt(1 − 0.99900001287)/(1 − 0.89999997616)
//     = 0.5·0.031622573/0.10000002384 = 0.158112827,
//   Δ = α·0.1g/(sqrt(0.001)·|g| + 1e-7):
//   g = 1: 0.499995077, 6: 0.499996394, 7: 0.499996432, 2: 0.499995867,
// so x ≈ [0.5000049, 1.5000036, 2.5000036, 3.5000041] (Keras: ≈ [0.5, 1.5, 2.5, 3.5]).
Test(optim, adam_single_step_keras) {
    runner r;
    runner_init(&r, "adam(learning_rate=0.5)", 4);
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 6, 7, 2 };
    runner_step(&r, x, g, 1, param(r.o, "learning_rate"));
    const double want[4] = { 1 - 0.499995077, 2 - 0.499996394, 3 - 0.499996432,
                             4 - 0.499995867 };
    for (int i = 0; i < 4; i++) {
        cr_expect(fabs(x[i] - want[i]) <= 5e-7, "x[%d] = %.9g want %.9g", i, x[i], want[i]);
        cr_expect(fabs(x[i] - (i + 0.5)) <= 1e-4, "x[%d] = %.9g, Keras ≈ %g", i, x[i], i + 0.5);
    }
    // m = 0.1·g and v = 0.001·g² (the (1 − β) factors formed in float32).
    for (int i = 0; i < 4; i++) {
        cr_expect_float_eq(r.slots[0][i], 0.1 * g[i], 1e-6 * g[i]);
        cr_expect_float_eq(r.slots[1][i], 0.001 * g[i] * g[i], 1e-6 * g[i] * g[i]);
    }
    runner_free(&r);
}

// Adam(amsgrad=True) on the golden set-up, element 0 (g = 0.01, then 0.1):
// (β^t with β in float32, as above):
//   t=1: m = 0.001, v = 1e-7, sqrt(v) = 3.16227766e-4,
//        α = 0.001·sqrt(9.99987125e-4)/0.10000002384 = 3.16225655e-4,
//        Δ = α·0.001/(3.16227766e-4 + 1e-7) = 9.99677199e-4 → x = 0.999000323
//   t=2: m = 0.9·0.001 + 0.1·0.1 = 0.0109,
//        v = 1e-7 + (0.01 − 1e-7)·0.001 = 1.00999e-5, sqrt = 3.17803398e-3,
//        α = 0.001·sqrt(1 − 0.99900001²)/(1 − 0.89999998²)
//          = 0.001·sqrt(1.99897428e-3)/0.19000004292 = 2.35315158e-4,
//        Δ = α·0.0109/(3.17803398e-3 + 1e-7) = 8.07056983e-4 → x = 0.998193266
// Keras' golden table gives, for every element, ≈ 0.999, 0.9982, 0.9974,
// 0.9965, 0.9955 at 4 digits; the elements differ by up to 1.3e-4 from that.
Test(optim, adam_amsgrad_golden_five_steps) {
    static const double table[5] = { 0.999, 0.9982, 0.9974, 0.9965, 0.9955 };
    runner r;
    runner_init(&r, "adam(amsgrad=true)", 10);
    float x[10], g[10];
    for (int j = 0; j < 10; j++) x[j] = 1;
    for (int s = 1; s <= 5; s++) {
        golden_grads(s, g);
        runner_step(&r, x, g, s, param(r.o, "learning_rate"));
        if (s == 1) cr_expect_float_eq(x[0], 0.999000323, 1e-7, "t=1: %.9g", x[0]);
        if (s == 2) cr_expect_float_eq(x[0], 0.998193266, 1e-7, "t=2: %.9g", x[0]);
        for (int j = 0; j < 10; j++)
            cr_expect(fabs(x[j] - table[s - 1]) <= 2e-4, "step %d x[%d] = %.6f, Keras ≈ %g", s,
                      j, x[j], table[s - 1]);
    }
    runner_free(&r);
}

// ---------------------------------------------------------------------------
// Contracts.

Test(optim, slot_counts_and_initial_slots) {
    static const struct { const char *spec; uint32_t slots; } cases[] = {
        { "sgd", 0 },
        { "sgd(nesterov=true)", 0 },
        { "sgd(momentum=0.5)", 1 },
        { "sgd(momentum=0.5, nesterov=true)", 1 },
        { "adam", 2 },
        { "adam(amsgrad=true)", 3 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        runner r;
        runner_init(&r, cases[k].spec, 37);
        cr_expect_eq(r.nslots, cases[k].slots, "'%s': %u slots, want %u", cases[k].spec,
                     r.nslots, cases[k].slots);
        // Keras starts every slot of these optimizers at 0.
        for (uint32_t s = 0; s < r.nslots; s++)
            for (int i = 0; i < 37; i++)
                cr_expect_eq(r.slots[s][i], 0.0f, "'%s' slot %u[%d] = %g after init",
                             cases[k].spec, s, i, r.slots[s][i]);
        runner_free(&r);
    }
}

Test(optim, keras_defaults) {
    soma_obj *o = make("sgd");
    cr_expect_eq(param(o, "learning_rate"), 0.01);
    cr_expect_eq(param(o, "momentum"), 0.0);
    cr_expect_eq(param(o, "nesterov"), 0.0);
    soma_obj_free(o);
    o = make("adam");
    cr_expect_eq(param(o, "learning_rate"), 0.001);
    cr_expect_eq(param(o, "beta_1"), 0.9);
    cr_expect_eq(param(o, "beta_2"), 0.999);
    cr_expect_eq(param(o, "epsilon"), 1e-7);
    cr_expect_eq(param(o, "amsgrad"), 0.0);
    soma_obj_free(o);
    o = make("Adam(learning_rate=0.25)");
    cr_expect_eq(param(o, "learning_rate"), 0.25);
    soma_obj_free(o);
}

// The host passes the rate to use in info->lr (schedules change it); the
// learning_rate parameter is only the host's starting point.
Test(optim, step_uses_info_lr_not_the_param) {
    float g[3] = { 1.0f, -2.0f, 4.0f };
    runner r;
    runner_init(&r, "sgd(learning_rate=0.5)", 3);
    float x[3] = { 0, 0, 0 };
    runner_step(&r, x, g, 1, 0.01);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(x[i], -0.01 * g[i], 1e-9);
    runner_free(&r);

    // Adam at t = 1 moves each coordinate by ≈ lr (see adam_single_step_keras).
    runner_init(&r, "adam(learning_rate=0.5)", 3);
    float y[3] = { 0, 0, 0 };
    runner_step(&r, y, g, 1, 0.002);
    for (int i = 0; i < 3; i++)
        cr_expect(fabs(fabs(y[i]) - 0.002) <= 1e-7, "adam moved %g, want 0.002", y[i]);
    runner_free(&r);
}

// step must be elementwise: the host may cut one tensor into ranges and run
// them apart, so two half calls must give the same bits as one whole call.
Test(optim, step_is_elementwise) {
    static const char *const specs[] = { "sgd", "sgd(momentum=0.9)",
                                         "sgd(momentum=0.9, nesterov=true)", "adam",
                                         "adam(amsgrad=true)" };
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, 99);
    const size_t cut = 389;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        runner whole, split;
        runner_init(&whole, specs[k], N);
        runner_init(&split, specs[k], N);
        float xw[N], xs[N];
        memcpy(xw, d->x0, sizeof xw);
        memcpy(xs, d->x0, sizeof xs);
        soma_ctx c = soma_ctx_make(NULL);
        for (int t = 1; t <= NSTEP; t++) {
            runner_step(&whole, xw, d->g[t - 1], t, 0.01);
            soma_step_info info = { .size = sizeof info, .t = t, .lr = 0.01 };
            float *hi[4] = { 0 };
            for (uint32_t s = 0; s < split.nslots; s++) hi[s] = split.slots[s] + cut;
            // The upper range first, to show order does not matter either.
            cr_assert_eq(split.vt->step(&split.o->inst, &c, xs + cut, d->g[t - 1] + cut, hi,
                                        N - cut, &info), SOMA_OK);
            cr_assert_eq(split.vt->step(&split.o->inst, &c, xs, d->g[t - 1], split.slots, cut,
                                        &info), SOMA_OK);
        }
        cr_expect(memcmp(xw, xs, sizeof xw) == 0, "'%s': split steps differ", specs[k]);
        for (uint32_t s = 0; s < whole.nslots; s++)
            cr_expect(memcmp(whole.slots[s], split.slots[s], N * sizeof(float)) == 0,
                      "'%s': slot %u differs when split", specs[k], s);
        runner_free(&whole);
        runner_free(&split);
    }
    free(d);
}

Test(optim, empty_tensor_step) {
    runner r;
    runner_init(&r, "adam", 0);
    runner_step(&r, NULL, NULL, 1, 0.001);
    runner_free(&r);
}

static void expect_rejected(const char *spec, int code, const char *mention) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_OPTIM, spec, &o);
    cr_expect_lt(rc, 0, "'%s' was accepted", spec);
    if (code != 0) cr_expect_eq(rc, code, "'%s': got %d, want %d", spec, rc, code);
    cr_expect(strstr(soma_last_error(), mention) != NULL,
              "'%s': message does not mention '%s': %s", spec, mention, soma_last_error());
    if (rc == SOMA_OK) soma_obj_free(o);
}

Test(optim, invalid_params_rejected) {
    expect_rejected("sgd(momentum=-0.1)", SOMA_E_INVALID, "momentum");
    expect_rejected("sgd(momentum=1.5)", SOMA_E_INVALID, "momentum");
    expect_rejected("sgd(momentum=0.9, nesterov=maybe)", 0, "nesterov");
    expect_rejected("sgd(lr=0.1)", 0, "lr"); // Keras 3 names it learning_rate
    expect_rejected("adam(beta_1=1)", SOMA_E_INVALID, "beta_1");
    expect_rejected("adam(beta_2=-0.5)", SOMA_E_INVALID, "beta_2");
    expect_rejected("adam(epsilon=-1e-7)", SOMA_E_INVALID, "epsilon");
    // momentum 0 and 1 are inside [0, 1].
    soma_obj *o = make("sgd(momentum=0)");
    soma_obj_free(o);
    o = make("sgd(momentum=1)");
    soma_obj_free(o);
}

Test(optim, adam_rejects_step_zero) {
    runner r;
    runner_init(&r, "adam", 2);
    float x[2] = { 1, 1 }, g[2] = { 1, 1 };
    soma_ctx c = soma_ctx_make(NULL);
    soma_step_info info = { .size = sizeof info, .t = 0, .lr = 0.001 };
    cr_expect_eq(r.vt->step(&r.o->inst, &c, x, g, r.slots, 2, &info), SOMA_E_INVALID);
    cr_expect(x[0] == 1.0f && x[1] == 1.0f, "x changed on a rejected step");
    runner_free(&r);
}

Test(optim, keras_names_resolve) {
    static const struct { const char *spec, *canonical; } cases[] = {
        { "sgd", "sgd" }, { "SGD", "sgd" }, { "adam", "adam" }, { "Adam", "adam" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = make(cases[i].spec);
        cr_expect_str_eq(o->item->name, cases[i].canonical);
        cr_expect_eq(o->kind, SOMA_KIND_OPTIM);
        soma_obj_free(o);
    }
}
