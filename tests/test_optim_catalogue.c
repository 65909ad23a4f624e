// The rest of Keras' optimizers (plugins/optim/{adamw,rmsprop,adagrad,
// adadelta,adamax,nadam,ftrl,lion}.c) checked four ways:
//   1. Keras' own numbers: the one-step and five-step "golden" tests of
//      keras/src/optimizers/*_test.py, with Keras' tolerances;
//   2. an independent double-precision re-implementation of KERAS.md §3.3
//      run side by side for 5 steps on random parameters and gradients;
//   3. the elementwise contract (a tensor split into ranges gives the same
//      bits) and Nadam's once-per-apply schedule;
//   4. validation, Keras' defaults and Keras' class names.
// The test drives each optimizer as the core does: slot_count() zeroed
// buffers, init_slots once, then begin_step + step per apply, t = 1, 2, ...
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/optimizer.h"
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

#define MAX_SLOTS 4

typedef struct runner {
    soma_obj *o;
    const soma_optim_vt *vt;
    uint32_t nslots;
    float *slots[MAX_SLOTS];
    size_t n;
    double weight_decay; // 0 unless the spec has (or AdamW defaults) weight_decay
} runner;

static void runner_init(runner *r, const char *spec, size_t n) {
    memset(r, 0, sizeof *r);
    r->o = make(spec);
    r->vt = soma_obj_optim(r->o);
    r->n = n;
    r->nslots = r->vt->slot_count ? r->vt->slot_count(&r->o->inst) : 0;
    cr_assert_leq(r->nslots, (uint32_t)MAX_SLOTS);
    for (uint32_t s = 0; s < r->nslots; s++) {
        r->slots[s] = calloc(n ? n : 1, sizeof(float));
        cr_assert_not_null(r->slots[s]);
    }
    if (r->vt->init_slots) {
        soma_ctx c = soma_ctx_make(NULL);
        int rc = r->vt->init_slots(&r->o->inst, &c, r->slots, n);
        cr_assert_eq(rc, SOMA_OK, "init_slots '%s': %s", spec, soma_last_error());
    }
    double wd = 0;
    if (soma_obj_option(r->o, "weight_decay", &wd)) r->weight_decay = wd;
}

// In real use the core applies Keras' decoupled weight decay, x −= x·wd·lr
// on the pre-step weights, for every optimizer whose weight_decay option is
// set (AdamW's defaults to 0.004); the plugins never do. The test does it in
// the core's place, in float32 as Keras' base optimizer (x·wd, then ·lr).
static void core_weight_decay(const runner *r, float *x, double lr) {
    if (r->weight_decay == 0) return;
    const float wd = (float)r->weight_decay, lrf = (float)lr;
    for (size_t i = 0; i < r->n; i++) x[i] -= x[i] * wd * lrf;
}

static void runner_step(runner *r, float *x, const float *g, int64_t t, double lr) {
    soma_ctx c = soma_ctx_make(NULL);
    soma_step_info info = { .size = sizeof info, .t = t, .lr = lr };
    core_weight_decay(r, x, lr);
    if (r->vt->begin_step) {
        int rc = r->vt->begin_step(&r->o->inst, &c, &info);
        cr_assert_eq(rc, SOMA_OK, "begin_step %lld: %s", (long long)t, soma_last_error());
    }
    int rc = r->vt->step(&r->o->inst, &c, x, g, r->slots, r->n, &info);
    cr_assert_eq(rc, SOMA_OK, "step %lld failed: %s", (long long)t, soma_last_error());
}

static void runner_free(runner *r) {
    for (uint32_t s = 0; s < r->nslots; s++) free(r->slots[s]);
    soma_obj_free(r->o);
}

// ---------------------------------------------------------------------------
// 1. Keras' own numbers (keras/src/optimizers/*_test.py).
//
// test_single_step: x = [1, 2, 3, 4], g = [1, 6, 7, 2], one apply with the
// rate given, assertAllClose(rtol = atol = 1e-4).
static void keras_single_step(const char *spec, const double want[4]) {
    runner r;
    runner_init(&r, spec, 4);
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 6, 7, 2 };
    runner_step(&r, x, g, 1, param(r.o, "learning_rate"));
    for (int i = 0; i < 4; i++)
        cr_expect(fabs(x[i] - want[i]) <= 1e-4 + 1e-4 * fabs(want[i]),
                  "'%s' x[%d] = %.6f, Keras %.4f", spec, i, x[i], want[i]);
    runner_free(&r);
}

// test_correctness_with_golden: x = ones(10); one apply of g = 0.01, then
// golden[k] must hold before the (k+1)-th apply of g = arange(0.1, 1.1, 0.1),
// assertAllClose(rtol = atol = 5e-4).
static void keras_golden(const char *spec, const double golden[5][10]) {
    runner r;
    runner_init(&r, spec, 10);
    const double lr = param(r.o, "learning_rate");
    float x[10], g0[10], g[10];
    for (int j = 0; j < 10; j++) {
        x[j] = 1.0f;
        g0[j] = 0.01f;
        g[j] = (float)(0.1 + 0.1 * j); // numpy's arange: start + j·step
    }
    runner_step(&r, x, g0, 1, lr);
    for (int k = 0; k < 5; k++) {
        for (int j = 0; j < 10; j++)
            cr_expect(fabs(x[j] - golden[k][j]) <= 5e-4 + 5e-4 * fabs(golden[k][j]),
                      "'%s' golden[%d][%d]: x = %.6f, Keras %.4f", spec, k, j, x[j],
                      golden[k][j]);
        runner_step(&r, x, g, k + 2, lr);
    }
    runner_free(&r);
}

// Keras' tables where every element is the same.
static void keras_golden_flat(const char *spec, const double rows[5]) {
    double golden[5][10];
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < 10; j++) golden[k][j] = rows[k];
    keras_golden(spec, golden);
}

// RMSprop(0.5): v = 0.1·g², inc = 0.5·g/sqrt(0.1·g² + 1e-7) ≈ 0.5/sqrt(0.1)
// = 1.5811 for every g, so x − 1.5811.
Test(keras, rmsprop) {
    keras_single_step("RMSprop(learning_rate=0.5)",
                      (const double[4]){ -0.5811, 0.4189, 1.4189, 2.4189 });
    keras_golden_flat("RMSprop(centered=True)",
                      (const double[5]){ 0.9967, 0.9933, 0.9908, 0.9885, 0.9864 });
}

// Adagrad(0.5): acc = 0.1 + g², x −= 0.5·g/sqrt(acc), e.g. g = 1:
// 0.5/sqrt(1.1) = 0.4767 → 0.5233.
Test(keras, adagrad) {
    keras_single_step("Adagrad(learning_rate=0.5)",
                      (const double[4]){ 0.5233, 1.5007, 2.5005, 3.5061 });
    static const double golden[5][10] = {
        { 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963, 0.9963 },
        { 0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209 },
        { 0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891 },
        { 0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579 },
        { 0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825 },
    };
    keras_golden("Adagrad(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6)",
                 golden);
}

// Adadelta(0.5) at t = 1: Δ = −sqrt(1e-7)·g/sqrt(0.05·g² + 1e-7) ≈ −1.414e-3,
// x += 0.5·Δ → x − 0.0007.
Test(keras, adadelta) {
    keras_single_step("Adadelta(learning_rate=0.5)",
                      (const double[4]){ 0.9993, 1.9993, 2.9993, 3.9993 });
    keras_golden_flat("Adadelta(learning_rate=1.0, rho=0.8, epsilon=1e-6)",
                      (const double[5]){ 0.9978, 0.9947, 0.9915, 0.9882, 0.9849 });
}

// Adamax(0.5) at t = 1: m = 0.1·g, u = |g|, x −= 0.5·0.1g/(0.1·|g|) = 0.5.
Test(keras, adamax) {
    keras_single_step("Adamax(learning_rate=0.5)",
                      (const double[4]){ 0.5, 1.5, 2.5, 3.5 });
    static const double golden[5][10] = {
        { 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8 },
        { 0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691 },
        { 0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466 },
        { 0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848 },
        { 0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126 },
    };
    keras_golden("Adamax(learning_rate=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6)", golden);
}

Test(keras, nadam) {
    keras_single_step("Nadam(learning_rate=0.5)",
                      (const double[4]){ 0.4686, 1.4686, 2.4686, 3.4686 });
    static const double golden[5][10] = {
        { 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281 },
        { -0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718,
          -0.1717 },
        { -0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085,
          -0.7084 },
        { -1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23,
          -1.2299 },
        { -1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455,
          -1.7454 },
    };
    keras_golden("Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5)", golden);
}

Test(keras, ftrl) {
    keras_single_step("Ftrl(learning_rate=0.5)",
                      (const double[4]){ 0.2218, 1.3954, 2.3651, 2.8814 });
    static const double golden[5][10] = {
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
        { -0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325,
          -0.0354 },
        { -0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631,
          -0.0685 },
        { -0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922,
          -0.0999 },
        { -0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201,
          -0.1299 },
    };
    keras_golden("Ftrl(learning_rate=0.05, learning_rate_power=-0.2, "
                 "initial_accumulator_value=0.4, l1_regularization_strength=0.05, "
                 "l2_regularization_strength=0.15, "
                 "l2_shrinkage_regularization_strength=0.01, beta=0.3)",
                 golden);
}

// Lion(0.5) at t = 1: sign(0.1·g) = 1, x − 0.5.
Test(keras, lion) {
    keras_single_step("Lion(learning_rate=0.5)", (const double[4]){ 0.5, 1.5, 2.5, 3.5 });
    keras_golden_flat("Lion()", (const double[5]){ 0.999, 0.998, 0.997, 0.996, 0.995 });
}

// AdamW(0.5): the core's decay x·(1 − 0.5·0.004) = 0.998·x, then Adam's
// first step of ≈ lr = 0.5: [0.498, 1.496, 2.494, 3.492].
Test(keras, adamw) {
    keras_single_step("AdamW(learning_rate=0.5)",
                      (const double[4]){ 0.4980, 1.4960, 2.494, 3.492 });
    static const double golden[5][10] = {
        { 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998 },
        { 0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382 },
        { 0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003 },
        { 0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258 },
        { 0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159 },
    };
    keras_golden("AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2)", golden);
}

// Keras' test_weight_decay: lr 1, wd 0.004, g = 0, three applies on 2.0 give
// 2·0.996³ = 1.9760959; with g = 0 Adam's own step is 0 (m = 0), so this pins
// that the plugin adds nothing to the core's decay.
Test(keras, adamw_weight_decay_only) {
    runner r;
    runner_init(&r, "AdamW(learning_rate=1.0, weight_decay=0.004)", 1);
    float x = 2.0f, g = 0.0f;
    for (int t = 1; t <= 3; t++) runner_step(&r, &x, &g, t, 1.0);
    cr_expect(fabs(x - 1.9760959) <= 5e-7, "x = %.8f, Keras 1.9760959", x);
    runner_free(&r);
}

// The same golden trajectories through the core's own apply (the real use):
// there the core, not the test, applies AdamW's default-or-given weight decay
// and calls Nadam's begin_step once per apply.
static void keras_golden_core(const char *spec, const double golden[5][10]) {
    soma_optimizer *o = NULL;
    int rc = soma_optimizer_create(spec, &o);
    cr_assert_eq(rc, SOMA_OK, "'%s': %s", spec, soma_last_error());
    uint32_t ns = soma_optimizer_slot_count(o);
    cr_assert_leq(ns, (uint32_t)MAX_SLOTS);
    float x[10], g[10], store[MAX_SLOTS][10];
    float *slots[MAX_SLOTS];
    memset(store, 0, sizeof store);
    for (uint32_t s = 0; s < ns; s++) slots[s] = store[s];
    soma_ptensor t = { .value = x, .grad = g, .numel = 10, .slots = slots, .name = "x" };
    for (int j = 0; j < 10; j++) x[j] = 1.0f;
    cr_assert_eq(soma_optimizer_init_slots(o, &t), SOMA_OK);
    for (int k = -1; k < 5; k++) {
        if (k >= 0)
            for (int j = 0; j < 10; j++)
                cr_expect(fabs(x[j] - golden[k][j]) <= 5e-4 + 5e-4 * fabs(golden[k][j]),
                          "core '%s' golden[%d][%d]: x = %.6f, Keras %.4f", spec, k, j, x[j],
                          golden[k][j]);
        // The core may clip gradients in place, so they are set before each apply.
        for (int j = 0; j < 10; j++) g[j] = k < 0 ? 0.01f : (float)(0.1 + 0.1 * j);
        cr_assert_eq(soma_optimizer_apply(o, &t, 1), SOMA_OK, "%s", soma_last_error());
    }
    soma_optimizer_free(o);
}

Test(keras, golden_through_the_core) {
    static const double adamw[5][10] = {
        { 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998, 0.4998 },
        { 0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382 },
        { 0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003 },
        { 0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258 },
        { 0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159 },
    };
    keras_golden_core("AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2)", adamw);
    static const double nadam[5][10] = {
        { 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281, 0.4281 },
        { -0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718,
          -0.1717 },
        { -0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085,
          -0.7084 },
        { -1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23,
          -1.2299 },
        { -1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455,
          -1.7454 },
    };
    keras_golden_core("Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5)", nadam);
    static const double ftrl[5][10] = {
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
        { -0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325,
          -0.0354 },
        { -0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631,
          -0.0685 },
        { -0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922,
          -0.0999 },
        { -0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201,
          -0.1299 },
    };
    keras_golden_core("Ftrl(learning_rate=0.05, learning_rate_power=-0.2, "
                      "initial_accumulator_value=0.4, l1_regularization_strength=0.05, "
                      "l2_regularization_strength=0.15, "
                      "l2_shrinkage_regularization_strength=0.01, beta=0.3)",
                      ftrl);
}

// Keras' test_weight_decay through the core: AdamW's declared default 0.004
// is the decay the core applies when the spec does not name it.
Test(keras, adamw_default_decay_through_the_core) {
    soma_optimizer *o = NULL;
    cr_assert_eq(soma_optimizer_create("AdamW(learning_rate=1.0)", &o), SOMA_OK, "%s",
                 soma_last_error());
    float x = 2.0f, g = 0.0f, m = 0, v = 0;
    float *slots[2] = { &m, &v };
    soma_ptensor t = { .value = &x, .grad = &g, .numel = 1, .slots = slots, .name = "x" };
    cr_assert_eq(soma_optimizer_slot_count(o), 2u);
    for (int k = 0; k < 3; k++) cr_assert_eq(soma_optimizer_apply(o, &t, 1), SOMA_OK);
    cr_expect(fabs(x - 1.9760959) <= 5e-7, "x = %.8f, Keras 1.9760959", x);
    soma_optimizer_free(o);
}

// Keras' float32 conventions move single steps by ~1e-5 relative: less than
// Keras' own tolerances and the reference comparison below resolve, so they
// are pinned here on the one-step set-up, worked out by hand.
// AdamW (decay 0, so Adam's step alone): 1 − β comes from the Python float,
// so v = (1 − 0.999)·g² = 0.001·g² (0.001f); β^t uses β in float32
// (0.89999998, 0.99900001287):
//   α = 0.5·sqrt(1 − 0.99900001287)/(1 − 0.89999998) = 0.158112827,
//   Δ = α·0.1g/(sqrt(0.001)·|g| + 1e-7):
//   g = 1: 0.499995077, 6: 0.499996394, 7: 0.499996432, 2: 0.499995867.
// (With β2^t in double, Δ would be 6.4e-6 relative larger.)
Test(keras, adamw_float32_conventions) {
    runner r;
    runner_init(&r, "adamw(learning_rate=0.5, weight_decay=0)", 4);
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 6, 7, 2 };
    runner_step(&r, x, g, 1, 0.5);
    static const double delta[4] = { 0.499995077, 0.499996394, 0.499996432, 0.499995867 };
    for (int i = 0; i < 4; i++) {
        cr_expect(fabs(x[i] - (i + 1 - delta[i])) <= 5e-7, "x[%d] = %.9f want %.9f", i, x[i],
                  i + 1 - delta[i]);
        double v = 0.001 * g[i] * g[i];
        cr_expect(fabs(r.slots[1][i] - v) <= 1e-6 * v, "v[%d] = %.9g want %.9g", i,
                  r.slots[1][i], v);
    }
    runner_free(&r);
}

// Nadam casts β1, β2 and 0.96 to float32 first, so 1 − β2 = 9.9998713e-4 and
// v = 9.9998713e-4·g², and v̂ = v/(1 − β2) = g² exactly at t = 1. With
// β1 = 0.89999998, 0.96f = 0.95999998:
//   u_1 = β1(1 − 0.5·0.96) = 0.467999997,  u_2 = β1(1 − 0.5·0.96²) = 0.485280006,
//   u_prod = u_1,  u_prod·u_2 = 0.227111041,
//   m̂ = u_2·0.1g/(1 − 0.227111041) + (1 − u_1)·g/(1 − u_1)
//   Δ = 0.5·m̂/(|g| + 1e-7):
//   g = 1: 0.531393856, 6: 0.531393901, 7: 0.531393902, 2: 0.531393883
// (Keras' test: x ≈ [0.4686, 1.4686, 2.4686, 3.4686]). Forming 1 − β2 in
// double, as Adam does, would move Δ by 6.4e-6 relative.
Test(keras, nadam_float32_conventions) {
    runner r;
    runner_init(&r, "nadam(learning_rate=0.5)", 4);
    float x[4] = { 1, 2, 3, 4 }, g[4] = { 1, 6, 7, 2 };
    runner_step(&r, x, g, 1, 0.5);
    static const double delta[4] = { 0.531393856, 0.531393901, 0.531393902, 0.531393883 };
    for (int i = 0; i < 4; i++) {
        cr_expect(fabs(x[i] - (i + 1 - delta[i])) <= 5e-7, "x[%d] = %.9f want %.9f", i, x[i],
                  i + 1 - delta[i]);
        double v = 9.9998713e-4 * g[i] * g[i];
        cr_expect(fabs(r.slots[1][i] - v) <= 1e-6 * v, "v[%d] = %.9g want %.9g", i,
                  r.slots[1][i], v);
    }
    runner_free(&r);
}

// ---------------------------------------------------------------------------
// 2. The reference: KERAS.md §3.3 in double precision, one function per rule,
// written from the formulas (not from the plugins). It keeps the float32
// conventions of Keras that move results by more than the tolerance:
// - β^t is the power of β cast to float32 (Adam, AdamW, Adamax, Nadam): at
//   t = 1, 1 − 0.999f = 9.99987e-4, not 1e-3 (1.3e-5 relative);
// - Nadam casts β1, β2 to float32 before forming 1 − β as well.
// Everything else is exact math; the tolerance is 1e-5 of the magnitudes the
// float32 result is built from (see `scale`).
static double f32(double v) { return (double)(float)v; }

typedef enum kind { K_ADAMW, K_RMSPROP, K_ADAGRAD, K_ADADELTA, K_ADAMAX, K_NADAM, K_FTRL,
                    K_LION } kind;

typedef struct hyper {
    kind k;
    double lr, wd, b1, b2, eps, rho, mu, a0, power, l1, l2, shr, beta;
    int amsgrad, centered;
} hyper;

// Per element: x, the slots in the plugin's documented order, and for each
// the scale its float32 rounding errors are relative to.
typedef struct ref {
    size_t n;
    int nslots;
    double *x, *xs;
    double *s[MAX_SLOTS], *ss[MAX_SLOTS];
} ref;

static void ref_alloc(ref *r, size_t n, int nslots) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->nslots = nslots;
    r->x = calloc(n, sizeof(double));
    r->xs = calloc(n, sizeof(double));
    cr_assert(r->x && r->xs);
    for (int k = 0; k < MAX_SLOTS; k++) {
        r->s[k] = calloc(n, sizeof(double));
        r->ss[k] = calloc(n, sizeof(double));
        cr_assert(r->s[k] && r->ss[k]);
    }
}

static void ref_free(ref *r) {
    free(r->x);
    free(r->xs);
    for (int k = 0; k < MAX_SLOTS; k++) {
        free(r->s[k]);
        free(r->ss[k]);
    }
}

// Sets slot k of element i, growing its error scale by the change.
static void set_slot(ref *r, int k, size_t i, double v) {
    r->ss[k][i] += fabs(v - r->s[k][i]) + fabs(v);
    r->s[k][i] = v;
}

static void move_x(ref *r, size_t i, double d) {
    r->x[i] += d;
    r->xs[i] += fabs(d);
}

static double sgn(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

// Nadam's u_s = β1(1 − 0.5·0.96^s) and u_prod = Π_{s ≤ t} u_s, from scratch.
static double nadam_u(double b1, double s) { return b1 * (1 - 0.5 * pow(0.96, s)); }
static double nadam_prod(double b1, int64_t t) {
    double p = 1;
    for (int64_t s = 1; s <= t; s++) p *= nadam_u(b1, (double)s);
    return p;
}

// Returns the number of Lion elements whose update direction was too close to
// 0 to call (their x is then taken from the plugin, `got`).
static int ref_step(const hyper *h, ref *r, const float *g, int64_t t, const float *got) {
    const double lr = h->lr, td = (double)t;
    int ambiguous = 0;
    if (h->k == K_ADAMW)
        for (size_t i = 0; i < r->n; i++) move_x(r, i, -lr * h->wd * r->x[i]);
    for (size_t i = 0; i < r->n; i++) {
        const double gi = g[i];
        switch (h->k) {
        case K_ADAMW: {
            set_slot(r, 0, i, r->s[0][i] + (gi - r->s[0][i]) * (1 - h->b1));
            set_slot(r, 1, i, r->s[1][i] + (gi * gi - r->s[1][i]) * (1 - h->b2));
            double v = r->s[1][i];
            if (h->amsgrad) {
                set_slot(r, 2, i, fmax(r->s[2][i], v));
                v = r->s[2][i];
            }
            double a = lr * sqrt(1 - pow(f32(h->b2), td)) / (1 - pow(f32(h->b1), td));
            move_x(r, i, -a * r->s[0][i] / (sqrt(v) + h->eps));
            break;
        }
        case K_RMSPROP: {
            // slots: v, then mom if μ > 0, then mg if centered
            const int km = 1, kg = h->mu > 0 ? 2 : 1;
            set_slot(r, 0, i, h->rho * r->s[0][i] + (1 - h->rho) * gi * gi);
            double den = r->s[0][i] + h->eps;
            if (h->centered) {
                set_slot(r, kg, i, h->rho * r->s[kg][i] + (1 - h->rho) * gi);
                den = r->s[0][i] - r->s[kg][i] * r->s[kg][i] + h->eps;
            }
            double inc = lr * gi / sqrt(den);
            if (h->mu > 0) {
                set_slot(r, km, i, h->mu * r->s[km][i] + inc);
                move_x(r, i, -r->s[km][i]);
            } else {
                move_x(r, i, -inc);
            }
            break;
        }
        case K_ADAGRAD:
            set_slot(r, 0, i, r->s[0][i] + gi * gi);
            move_x(r, i, -lr * gi / sqrt(r->s[0][i] + h->eps));
            break;
        case K_ADADELTA: {
            set_slot(r, 0, i, h->rho * r->s[0][i] + (1 - h->rho) * gi * gi);
            double d = -sqrt(r->s[1][i] + h->eps) * gi / sqrt(r->s[0][i] + h->eps);
            set_slot(r, 1, i, h->rho * r->s[1][i] + (1 - h->rho) * d * d);
            move_x(r, i, lr * d);
            break;
        }
        case K_ADAMAX:
            set_slot(r, 0, i, r->s[0][i] + (gi - r->s[0][i]) * (1 - h->b1));
            set_slot(r, 1, i, fmax(h->b2 * r->s[1][i], fabs(gi)));
            move_x(r, i, -lr * r->s[0][i] /
                             ((1 - pow(f32(h->b1), td)) * (r->s[1][i] + h->eps)));
            break;
        case K_NADAM: {
            const double b1 = f32(h->b1), b2 = f32(h->b2);
            const double ut = nadam_u(b1, td), ut1 = nadam_u(b1, td + 1);
            const double up = nadam_prod(b1, t), up1 = up * ut1;
            set_slot(r, 0, i, r->s[0][i] + (gi - r->s[0][i]) * (1 - b1));
            set_slot(r, 1, i, r->s[1][i] + (gi * gi - r->s[1][i]) * (1 - b2));
            double mh = ut1 * r->s[0][i] / (1 - up1) + (1 - ut) * gi / (1 - up);
            double vh = r->s[1][i] / (1 - pow(b2, td));
            move_x(r, i, -lr * mh / (sqrt(vh) + h->eps));
            break;
        }
        case K_FTRL: {
            // slots: n (accumulator), z (linear)
            const double x = r->x[i], n = r->s[0][i];
            const double l2r = h->l2 + h->beta / (2 * lr);
            const double gs = gi + 2 * h->shr * x;
            const double nn = n + gi * gi;
            const double pn = pow(nn, -h->power), po = pow(n, -h->power);
            // n'^(−p) − n^(−p) cancels: its rounding is relative to both terms.
            r->ss[1][i] += fabs(gs) + (pn + po) / lr * fabs(x);
            r->s[1][i] += gs - (pn - po) / lr * x;
            const double z = r->s[1][i], q = pn / lr + 2 * l2r;
            const double xn = (fmin(fmax(z, -h->l1), h->l1) - z) / q;
            r->xs[i] = r->ss[1][i] / q;
            r->x[i] = xn;
            set_slot(r, 0, i, nn);
            break;
        }
        case K_LION: {
            const double m = r->s[0][i];
            const double c = h->b1 * m + (1 - h->b1) * gi;
            const double terms = fabs(h->b1 * m) + fabs((1 - h->b1) * gi);
            if (terms > 0 && fabs(c) <= 1e-5 * terms) {
                ambiguous++;
                r->x[i] = got[i];
            } else {
                move_x(r, i, -lr * sgn(c));
            }
            set_slot(r, 0, i, h->b2 * m + (1 - h->b2) * gi);
            break;
        }
        }
    }
    return ambiguous;
}

// The reference's hyper-parameters are read from the instance (defaults
// included), so the comparison also covers the parameter plumbing.
static hyper hyper_from(const soma_obj *o, double lr) {
    hyper h = { .lr = lr };
    const char *name = o->item->name;
    if (strcmp(name, "adamw") == 0) {
        h.k = K_ADAMW;
        h.wd = param(o, "weight_decay");
        h.b1 = param(o, "beta_1");
        h.b2 = param(o, "beta_2");
        h.eps = param(o, "epsilon");
        h.amsgrad = param(o, "amsgrad") != 0;
    } else if (strcmp(name, "rmsprop") == 0) {
        h.k = K_RMSPROP;
        h.rho = param(o, "rho");
        h.mu = param(o, "momentum");
        h.eps = param(o, "epsilon");
        h.centered = param(o, "centered") != 0;
    } else if (strcmp(name, "adagrad") == 0) {
        h.k = K_ADAGRAD;
        h.a0 = param(o, "initial_accumulator_value");
        h.eps = param(o, "epsilon");
    } else if (strcmp(name, "adadelta") == 0) {
        h.k = K_ADADELTA;
        h.rho = param(o, "rho");
        h.eps = param(o, "epsilon");
    } else if (strcmp(name, "adamax") == 0 || strcmp(name, "nadam") == 0) {
        h.k = strcmp(name, "adamax") == 0 ? K_ADAMAX : K_NADAM;
        h.b1 = param(o, "beta_1");
        h.b2 = param(o, "beta_2");
        h.eps = param(o, "epsilon");
    } else if (strcmp(name, "ftrl") == 0) {
        h.k = K_FTRL;
        h.power = param(o, "learning_rate_power");
        h.a0 = param(o, "initial_accumulator_value");
        h.l1 = param(o, "l1_regularization_strength");
        h.l2 = param(o, "l2_regularization_strength");
        h.shr = param(o, "l2_shrinkage_regularization_strength");
        h.beta = param(o, "beta");
    } else if (strcmp(name, "lion") == 0) {
        h.k = K_LION;
        h.b1 = param(o, "beta_1");
        h.b2 = param(o, "beta_2");
    } else {
        cr_assert_fail("no reference for '%s'", name);
    }
    return h;
}

// Slots the reference expects, from the formulas.
static int ref_slots(const hyper *h) {
    switch (h->k) {
    case K_ADAMW: return h->amsgrad ? 3 : 2;
    case K_RMSPROP: return 1 + (h->mu > 0) + h->centered;
    case K_ADAGRAD: case K_LION: return 1;
    default: return 2;
    }
}

#define NSTEP 5
#define N 1003 // odd, so no vector width divides it

// Parameters ~ N(0, 1); gradients ~ N(0, scale_t²) with a scale that jumps
// between steps (so running maxima and averages lag), and the first 50
// elements a million times smaller (so every ε matters there).
typedef struct data {
    float x0[N];
    float g[NSTEP][N];
} data;

static void make_data(data *d, uint64_t seed) {
    static const float scale[NSTEP] = { 5.0f, 0.1f, 1.0f, 0.01f, 2.0f };
    soma_rng r;
    soma_rng_init(&r, seed, 11);
    soma_rng_normal(&r, d->x0, N, 0.0f, 1.0f);
    for (int t = 0; t < NSTEP; t++) {
        soma_rng_normal(&r, d->g[t], N, 0.0f, scale[t]);
        for (int i = 0; i < 50; i++) d->g[t][i] *= 1e-6f;
    }
}

#define REL 1e-5

static int expect_close(const char *what, const char *spec, int t, size_t i, double got,
                        double want, double scale) {
    double tol = REL * (fabs(want) + scale);
    int ok = fabs(got - want) <= tol;
    cr_expect(ok, "%s after step %d, '%s'[%zu]: %.9g vs reference %.9g (diff %.3g, tol %.3g)",
              what, t, spec, i, got, want, fabs(got - want), tol);
    return ok;
}

// Runs `steps` applies of spec and of the reference on the same data (rate lr
// passed in info->lr, whatever the spec's learning_rate) and compares x and
// every slot after each.
static void compare(const char *spec, double lr, uint64_t seed) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, seed);
    runner r;
    runner_init(&r, spec, N);
    hyper h = hyper_from(r.o, lr);
    ref f;
    ref_alloc(&f, N, ref_slots(&h));
    cr_assert_eq((int)r.nslots, f.nslots, "'%s': %u slots, the formulas need %d", spec,
                 r.nslots, f.nslots);
    float *x = malloc(N * sizeof(float));
    cr_assert_not_null(x);
    for (size_t i = 0; i < N; i++) {
        x[i] = d->x0[i];
        f.x[i] = d->x0[i];
        f.xs[i] = fabs(d->x0[i]);
        // Keras' initial slot values: the accumulators of Adagrad and Ftrl
        // start at initial_accumulator_value, everything else at 0.
        if (h.k == K_ADAGRAD || h.k == K_FTRL) f.s[0][i] = f32(h.a0);
    }
    // init_slots must have produced Keras' starting values.
    for (int k = 0; k < f.nslots; k++)
        for (size_t i = 0; i < N; i++)
            cr_assert_eq((double)r.slots[k][i], f.s[k][i], "'%s' slot %d[%zu] starts at %g",
                         spec, k, i, r.slots[k][i]);

    int bad = 0, ambiguous = 0;
    for (int t = 1; t <= NSTEP && bad < 10; t++) {
        runner_step(&r, x, d->g[t - 1], t, lr);
        ambiguous += ref_step(&h, &f, d->g[t - 1], t, x);
        for (size_t i = 0; i < N && bad < 10; i++) {
            bad += !expect_close("x", spec, t, i, x[i], f.x[i], f.xs[i]);
            for (int k = 0; k < f.nslots; k++)
                bad += !expect_close("slot", spec, t, i, r.slots[k][i], f.s[k][i],
                                     f.ss[k][i]);
        }
    }
    // A handful of near-ties at most, or Lion's comparison would be empty.
    cr_expect_leq(ambiguous, 5, "'%s': %d undecidable signs", spec, ambiguous);
    free(x);
    ref_free(&f);
    runner_free(&r);
    free(d);
}

Test(reference, adamw) {
    compare("adamw", 0.001, 1);
    compare("AdamW(weight_decay=0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-3)", 0.01, 2);
    compare("adamw(amsgrad=true, beta_2=0.9)", 0.001, 3);
    compare("adamw(weight_decay=0)", 0.001, 4);
}

Test(reference, rmsprop) {
    compare("rmsprop", 0.001, 5);
    compare("rmsprop(centered=true)", 0.001, 6);
    compare("rmsprop(momentum=0.9)", 0.001, 7);
    compare("rmsprop(momentum=0.5, centered=true, rho=0.7, epsilon=1e-4)", 0.01, 8);
    compare("rmsprop(rho=1, momentum=1)", 0.001, 9); // the closed ends of [0, 1]
}

Test(reference, adagrad) {
    compare("adagrad", 0.001, 10);
    compare("adagrad(initial_accumulator_value=0, epsilon=1e-3)", 0.1, 11);
    compare("adagrad(initial_accumulator_value=2.5, epsilon=0)", 0.5, 12);
}

Test(reference, adadelta) {
    compare("adadelta", 0.001, 13);
    compare("adadelta(rho=0.5, epsilon=1e-6)", 1.0, 14);
}

Test(reference, adamax) {
    compare("adamax", 0.001, 15);
    compare("adamax(beta_1=0.5, beta_2=0.8, epsilon=1e-3)", 0.02, 16);
    compare("adamax(beta_2=1)", 0.001, 17);
}

Test(reference, nadam) {
    compare("nadam", 0.001, 18);
    compare("nadam(beta_1=0.5, beta_2=0.67, epsilon=1e-5)", 0.05, 19);
    compare("nadam(beta_1=0.99, beta_2=0.9)", 0.001, 20);
}

Test(reference, ftrl) {
    compare("ftrl", 0.001, 21);
    compare("ftrl(learning_rate_power=-0.2, initial_accumulator_value=0.4, "
            "l1_regularization_strength=0.05, l2_regularization_strength=0.15, "
            "l2_shrinkage_regularization_strength=0.01, beta=0.3)", 0.05, 22);
    compare("ftrl(learning_rate_power=0, l1_regularization_strength=0.5, "
            "l2_shrinkage_regularization_strength=0.2)", 0.1, 23);
    compare("ftrl(learning_rate_power=-1, beta=2, initial_accumulator_value=1)", 0.01, 24);
    compare("ftrl(l1_regularization_strength=0.001, l2_regularization_strength=1)", 0.5, 25);
}

Test(reference, lion) {
    compare("lion", 0.001, 26);
    compare("lion(beta_1=0.5, beta_2=0.9)", 0.01, 27);
    compare("lion(beta_1=1, beta_2=0)", 0.001, 28);
}

// The host hands the rate to use in info->lr (schedules change it); the spec's
// learning_rate is only its starting point. Every comparison above passes a
// rate in info->lr; here the two differ by 100x.
Test(reference, rate_comes_from_info_not_param) {
    static const char *const specs[] = {
        "adamw(learning_rate=0.5)", "rmsprop(learning_rate=0.5, momentum=0.5)",
        "adagrad(learning_rate=0.5)", "adadelta(learning_rate=0.5)",
        "adamax(learning_rate=0.5)", "nadam(learning_rate=0.5)",
        "ftrl(learning_rate=0.5, beta=0.1)", "lion(learning_rate=0.5)",
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) compare(specs[k], 0.005, 30 + k);
}

// The random data must make the features the comparisons claim to cover
// matter: Ftrl's l1 must zero some weights but not all.
Test(reference, ftrl_l1_zeroes_some_weights) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, 23);
    runner r;
    runner_init(&r, "ftrl(learning_rate_power=0, l1_regularization_strength=0.5, "
                    "l2_shrinkage_regularization_strength=0.2)", N);
    float x[N];
    memcpy(x, d->x0, sizeof x);
    for (int t = 1; t <= NSTEP; t++) runner_step(&r, x, d->g[t - 1], t, 0.1);
    int zero = 0;
    for (int i = 0; i < N; i++) zero += x[i] == 0.0f;
    cr_expect(zero > N / 20 && zero < N - N / 20, "%d of %d weights are 0", zero, N);
    runner_free(&r);
    free(d);
}

// ---------------------------------------------------------------------------
// 3. Contracts.

static const char *const all_specs[] = {
    "adamw", "adamw(amsgrad=true)", "rmsprop", "rmsprop(momentum=0.9)",
    "rmsprop(centered=true)", "rmsprop(momentum=0.9, centered=true)", "adagrad",
    "adadelta", "adamax", "nadam",
    "ftrl(l1_regularization_strength=0.01, l2_regularization_strength=0.1, "
    "l2_shrinkage_regularization_strength=0.05, beta=0.2, learning_rate_power=-0.3)",
    "ftrl", "lion",
};

// step must be elementwise: the host may cut one tensor into ranges and run
// them apart (begin_step still once per apply), so two calls on two ranges,
// the upper one first, must give the same bits as one call on the whole.
Test(contract, split_ranges_bit_identical) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, 99);
    const size_t cut = 389;
    for (size_t k = 0; k < sizeof all_specs / sizeof all_specs[0]; k++) {
        runner whole, split;
        runner_init(&whole, all_specs[k], N);
        runner_init(&split, all_specs[k], N);
        float xw[N], xs[N];
        memcpy(xw, d->x0, sizeof xw);
        memcpy(xs, d->x0, sizeof xs);
        soma_ctx c = soma_ctx_make(NULL);
        for (int t = 1; t <= NSTEP; t++) {
            runner_step(&whole, xw, d->g[t - 1], t, 0.01);
            soma_step_info info = { .size = sizeof info, .t = t, .lr = 0.01 };
            core_weight_decay(&split, xs, 0.01);
            if (split.vt->begin_step)
                cr_assert_eq(split.vt->begin_step(&split.o->inst, &c, &info), SOMA_OK);
            float *hi[MAX_SLOTS] = { 0 };
            for (uint32_t s = 0; s < split.nslots; s++) hi[s] = split.slots[s] + cut;
            cr_assert_eq(split.vt->step(&split.o->inst, &c, xs + cut, d->g[t - 1] + cut, hi,
                                        N - cut, &info), SOMA_OK, "%s", soma_last_error());
            cr_assert_eq(split.vt->step(&split.o->inst, &c, xs, d->g[t - 1], split.slots, cut,
                                        &info), SOMA_OK, "%s", soma_last_error());
        }
        cr_expect(memcmp(xw, xs, sizeof xw) == 0, "'%s': split steps differ", all_specs[k]);
        for (uint32_t s = 0; s < whole.nslots; s++)
            cr_expect(memcmp(whole.slots[s], split.slots[s], N * sizeof(float)) == 0,
                      "'%s': slot %u differs when split", all_specs[k], s);
        runner_free(&whole);
        runner_free(&split);
    }
    free(d);
}

// Slots per configuration, and the starting values init_slots leaves.
Test(contract, slot_counts_and_initial_values) {
    static const struct { const char *spec; uint32_t slots; float init0; } cases[] = {
        { "adamw", 2, 0 },
        { "adamw(amsgrad=true)", 3, 0 },
        { "rmsprop", 1, 0 },
        { "rmsprop(momentum=0.1)", 2, 0 },
        { "rmsprop(centered=true)", 2, 0 },
        { "rmsprop(momentum=0.1, centered=true)", 3, 0 },
        { "adagrad", 1, 0.1f },
        { "adagrad(initial_accumulator_value=0.75)", 1, 0.75f },
        { "adadelta", 2, 0 },
        { "adamax", 2, 0 },
        { "nadam", 2, 0 },
        { "ftrl", 2, 0.1f },
        { "ftrl(initial_accumulator_value=0)", 2, 0 },
        { "lion", 1, 0 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        runner r;
        runner_init(&r, cases[k].spec, 37);
        cr_expect_eq(r.nslots, cases[k].slots, "'%s': %u slots, want %u", cases[k].spec,
                     r.nslots, cases[k].slots);
        for (uint32_t s = 0; s < r.nslots; s++)
            for (int i = 0; i < 37; i++) {
                float want = s == 0 ? cases[k].init0 : 0.0f;
                cr_expect_eq(r.slots[s][i], want, "'%s' slot %u[%d] = %g after init, want %g",
                             cases[k].spec, s, i, r.slots[s][i], want);
            }
        runner_free(&r);
    }
}

Test(contract, empty_tensor_step) {
    for (size_t k = 0; k < sizeof all_specs / sizeof all_specs[0]; k++) {
        runner r;
        runner_init(&r, all_specs[k], 0);
        runner_step(&r, NULL, NULL, 1, 0.001);
        runner_free(&r);
    }
}

static void step_expect(runner *r, float *x, const float *g, int64_t t, double lr, int code) {
    soma_ctx c = soma_ctx_make(NULL);
    soma_step_info info = { .size = sizeof info, .t = t, .lr = lr };
    int rc = r->vt->step(&r->o->inst, &c, x, g, r->slots, r->n, &info);
    cr_expect_eq(rc, code, "'%s' step t=%lld lr=%g: %d, want %d", r->o->item->name,
                 (long long)t, lr, rc, code);
}

// The bias-corrected optimizers divide by 1 − β^t, which is 0 at t = 0.
Test(contract, step_zero_rejected) {
    static const char *const specs[] = { "adamw", "adamax" };
    for (size_t k = 0; k < 2; k++) {
        runner r;
        runner_init(&r, specs[k], 2);
        float x[2] = { 1, 1 }, g[2] = { 1, 1 };
        step_expect(&r, x, g, 0, 0.001, SOMA_E_INVALID);
        cr_expect(x[0] == 1.0f && x[1] == 1.0f, "x changed on a rejected step");
        runner_free(&r);
    }
    runner r;
    runner_init(&r, "nadam", 2);
    soma_ctx c = soma_ctx_make(NULL);
    soma_step_info info = { .size = sizeof info, .t = 0, .lr = 0.001 };
    cr_expect_eq(r.vt->begin_step(&r.o->inst, &c, &info), SOMA_E_INVALID);
    runner_free(&r);
}

// Ftrl divides by lr and by 2·lr: a zero rate would give NaN weights.
Test(contract, ftrl_rejects_zero_rate) {
    runner r;
    runner_init(&r, "ftrl", 2);
    float x[2] = { 1, 1 }, g[2] = { 1, 1 };
    step_expect(&r, x, g, 1, 0.0, SOMA_E_INVALID);
    cr_expect(strstr(soma_last_error(), "learning rate") != NULL, "%s", soma_last_error());
    cr_expect(x[0] == 1.0f && x[1] == 1.0f, "x changed on a rejected step");
    runner_free(&r);
}

// Nadam's u_prod is advanced by begin_step, once per apply; a step for an
// apply whose begin_step did not run is refused rather than silently using
// the previous schedule.
Test(contract, nadam_step_needs_begin_step) {
    runner r;
    runner_init(&r, "nadam", 3);
    float x[3] = { 1, 2, 3 }, g[3] = { 0.5f, -1, 2 };
    step_expect(&r, x, g, 1, 0.001, SOMA_E_STATE);
    cr_expect(strstr(soma_last_error(), "begin_step") != NULL, "%s", soma_last_error());
    runner_step(&r, x, g, 1, 0.001);
    step_expect(&r, x, g, 2, 0.001, SOMA_E_STATE);
    runner_free(&r);
}

// begin_step twice for the same apply must not advance u_prod twice; and an
// instance that first sees step t (a resumed run) must hold the same u_prod
// as one that went through 1..t: both show in bit-identical updates.
Test(contract, nadam_schedule_once_per_apply) {
    data *d = malloc(sizeof *d);
    cr_assert_not_null(d);
    make_data(d, 7);
    runner a, b, c;
    runner_init(&a, "nadam(beta_1=0.5)", N);
    runner_init(&b, "nadam(beta_1=0.5)", N);
    runner_init(&c, "nadam(beta_1=0.5)", N);
    float xa[N], xb[N], xc[N];
    memcpy(xa, d->x0, sizeof xa);
    memcpy(xb, d->x0, sizeof xb);
    soma_ctx ctx = soma_ctx_make(NULL);
    for (int t = 1; t <= 4; t++) {
        runner_step(&a, xa, d->g[t - 1], t, 0.01);
        soma_step_info info = { .size = sizeof info, .t = t, .lr = 0.01 };
        cr_assert_eq(b.vt->begin_step(&b.o->inst, &ctx, &info), SOMA_OK);
        runner_step(&b, xb, d->g[t - 1], t, 0.01); // begin_step again, same t
    }
    cr_expect(memcmp(xa, xb, sizeof xa) == 0, "a repeated begin_step changed the result");
    // c starts at t = 4 from a's state after step 3: rerun a's step 4 on c.
    runner_free(&a);
    runner_init(&a, "nadam(beta_1=0.5)", N);
    memcpy(xa, d->x0, sizeof xa);
    for (int t = 1; t <= 3; t++) runner_step(&a, xa, d->g[t - 1], t, 0.01);
    memcpy(xc, xa, sizeof xc);
    for (int s = 0; s < 2; s++) memcpy(c.slots[s], a.slots[s], N * sizeof(float));
    runner_step(&a, xa, d->g[3], 4, 0.01);
    runner_step(&c, xc, d->g[3], 4, 0.01);
    cr_expect(memcmp(xa, xc, sizeof xa) == 0, "resuming at t = 4 changed the result");
    runner_free(&a);
    runner_free(&b);
    runner_free(&c);
    free(d);
}

// ---------------------------------------------------------------------------
// 4. Parameters.

static void expect_rejected(const char *spec, int code, const char *mention) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(SOMA_KIND_OPTIM, spec, &o);
    cr_expect_lt(rc, 0, "'%s' was accepted", spec);
    if (code != 0) cr_expect_eq(rc, code, "'%s': got %d, want %d", spec, rc, code);
    cr_expect(strstr(soma_last_error(), mention) != NULL,
              "'%s': message does not mention '%s': %s", spec, mention, soma_last_error());
    if (rc == SOMA_OK) soma_obj_free(o);
}

static void expect_accepted(const char *spec) { soma_obj_free(make(spec)); }

// What Keras' constructors refuse (rmsprop_test, lion_test, Ftrl.__init__),
// plus the values that would divide by zero or take the root of a negative.
Test(params, invalid_rejected) {
    // RMSprop: rho and momentum in [0, 1], epsilon > 0.
    expect_rejected("rmsprop(rho=-0.1)", SOMA_E_INVALID, "rho");
    expect_rejected("rmsprop(rho=1.1)", SOMA_E_INVALID, "rho");
    expect_rejected("rmsprop(rho=2)", SOMA_E_INVALID, "rho");
    expect_rejected("rmsprop(momentum=-0.1)", SOMA_E_INVALID, "momentum");
    expect_rejected("rmsprop(momentum=1.1)", SOMA_E_INVALID, "momentum");
    expect_rejected("rmsprop(epsilon=0)", SOMA_E_INVALID, "epsilon");
    expect_rejected("rmsprop(epsilon=-1e-7)", SOMA_E_INVALID, "epsilon");
    expect_accepted("rmsprop(rho=0, momentum=0)");
    expect_accepted("rmsprop(rho=1, momentum=1)");
    expect_accepted("rmsprop(epsilon=1e-12)");
    // Lion: beta_1 in (0, 1].
    expect_rejected("lion(beta_1=0)", SOMA_E_INVALID, "beta_1");
    expect_rejected("lion(beta_1=1.1)", SOMA_E_INVALID, "beta_1");
    expect_rejected("lion(beta_1=-0.1)", SOMA_E_INVALID, "beta_1");
    expect_rejected("lion(beta_2=1.5)", SOMA_E_INVALID, "beta_2");
    expect_accepted("lion(beta_1=1)");
    // Ftrl: Keras' five checks.
    expect_rejected("ftrl(initial_accumulator_value=-0.1)", SOMA_E_INVALID,
                    "initial_accumulator_value");
    expect_rejected("ftrl(learning_rate_power=0.5)", SOMA_E_INVALID, "learning_rate_power");
    expect_rejected("ftrl(l1_regularization_strength=-1)", SOMA_E_INVALID,
                    "l1_regularization_strength");
    expect_rejected("ftrl(l2_regularization_strength=-1)", SOMA_E_INVALID,
                    "l2_regularization_strength");
    expect_rejected("ftrl(l2_shrinkage_regularization_strength=-1)", SOMA_E_INVALID,
                    "l2_shrinkage_regularization_strength");
    expect_accepted("ftrl(learning_rate_power=0, initial_accumulator_value=0)");
    // AdamW: weight_decay must be a number (Keras refuses None) >= 0.
    expect_rejected("adamw(weight_decay=-0.1)", SOMA_E_INVALID, "weight_decay");
    expect_rejected("adamw(beta_1=1)", SOMA_E_INVALID, "beta_1");
    expect_rejected("adamw(beta_2=1)", SOMA_E_INVALID, "beta_2");
    expect_rejected("adamw(epsilon=-1)", SOMA_E_INVALID, "epsilon");
    expect_accepted("adamw(weight_decay=0)");
    // The rest: ranges where the formulas stay finite.
    expect_rejected("adagrad(initial_accumulator_value=-1)", SOMA_E_INVALID,
                    "initial_accumulator_value");
    expect_rejected("adagrad(epsilon=-1)", SOMA_E_INVALID, "epsilon");
    expect_rejected("adadelta(rho=1.5)", SOMA_E_INVALID, "rho");
    expect_rejected("adadelta(epsilon=-1e-7)", SOMA_E_INVALID, "epsilon");
    expect_rejected("adamax(beta_1=1)", SOMA_E_INVALID, "beta_1");
    expect_rejected("adamax(beta_2=-0.1)", SOMA_E_INVALID, "beta_2");
    expect_rejected("adamax(epsilon=-1)", SOMA_E_INVALID, "epsilon");
    expect_rejected("nadam(beta_1=1.5)", SOMA_E_INVALID, "beta_1");
    expect_rejected("nadam(beta_2=1)", SOMA_E_INVALID, "beta_2");
    expect_rejected("nadam(epsilon=-1)", SOMA_E_INVALID, "epsilon");
    // Unknown keys: Keras 3 has no `lr`, `decay` or Adagrad `rho`.
    expect_rejected("rmsprop(lr=0.1)", 0, "lr");
    expect_rejected("adagrad(rho=0.9)", 0, "rho");
}

static void expect_defaults(const char *spec, const char *const keys[], const double vals[],
                            size_t n) {
    soma_obj *o = make(spec);
    cr_expect_eq(o->item->n_params, n, "'%s' declares %u parameters, Keras has %zu", spec,
                 o->item->n_params, n);
    for (size_t k = 0; k < n; k++)
        cr_expect_eq(param(o, keys[k]), vals[k], "'%s' %s = %g, Keras' default %g", spec,
                     keys[k], param(o, keys[k]), vals[k]);
    soma_obj_free(o);
}

#define DEFAULTS(spec, ...)                                                             \
    do {                                                                                \
        static const struct { const char *k; double v; } d_[] = { __VA_ARGS__ };        \
        const char *keys_[sizeof d_ / sizeof d_[0]];                                    \
        double vals_[sizeof d_ / sizeof d_[0]];                                         \
        for (size_t i_ = 0; i_ < sizeof d_ / sizeof d_[0]; i_++) {                      \
            keys_[i_] = d_[i_].k;                                                       \
            vals_[i_] = d_[i_].v;                                                       \
        }                                                                               \
        expect_defaults(spec, keys_, vals_, sizeof d_ / sizeof d_[0]);                  \
    } while (0)

// Every constructor argument of Keras' class (the optimizer-specific ones;
// clipping, EMA and the like are the core's), with Keras' default.
Test(params, keras_defaults) {
    DEFAULTS("rmsprop", { "learning_rate", 0.001 }, { "rho", 0.9 }, { "momentum", 0.0 },
             { "epsilon", 1e-7 }, { "centered", 0 });
    DEFAULTS("adagrad", { "learning_rate", 0.001 }, { "initial_accumulator_value", 0.1 },
             { "epsilon", 1e-7 });
    DEFAULTS("adadelta", { "learning_rate", 0.001 }, { "rho", 0.95 }, { "epsilon", 1e-7 });
    DEFAULTS("adamax", { "learning_rate", 0.001 }, { "beta_1", 0.9 }, { "beta_2", 0.999 },
             { "epsilon", 1e-7 });
    DEFAULTS("nadam", { "learning_rate", 0.001 }, { "beta_1", 0.9 }, { "beta_2", 0.999 },
             { "epsilon", 1e-7 });
    DEFAULTS("ftrl", { "learning_rate", 0.001 }, { "learning_rate_power", -0.5 },
             { "initial_accumulator_value", 0.1 }, { "l1_regularization_strength", 0.0 },
             { "l2_regularization_strength", 0.0 },
             { "l2_shrinkage_regularization_strength", 0.0 }, { "beta", 0.0 });
    DEFAULTS("lion", { "learning_rate", 0.001 }, { "beta_1", 0.9 }, { "beta_2", 0.99 });
    DEFAULTS("adamw", { "learning_rate", 0.001 }, { "weight_decay", 0.004 },
             { "beta_1", 0.9 }, { "beta_2", 0.999 }, { "epsilon", 1e-7 }, { "amsgrad", 0 });
    // A value given in the spec is the one read back.
    soma_obj *o = make("RMSprop(rho=0.5, centered=true)");
    cr_expect_eq(param(o, "rho"), 0.5);
    cr_expect_eq(param(o, "centered"), 1.0);
    soma_obj_free(o);
}

// Keras' string identifiers and class names both find the plugins.
Test(params, keras_names_resolve) {
    static const struct { const char *spec, *canonical; } cases[] = {
        { "rmsprop", "rmsprop" },   { "RMSprop", "rmsprop" },   { "adagrad", "adagrad" },
        { "Adagrad", "adagrad" },   { "adadelta", "adadelta" }, { "Adadelta", "adadelta" },
        { "adamax", "adamax" },     { "Adamax", "adamax" },     { "nadam", "nadam" },
        { "Nadam", "nadam" },       { "ftrl", "ftrl" },         { "Ftrl", "ftrl" },
        { "lion", "lion" },         { "Lion", "lion" },         { "adamw", "adamw" },
        { "AdamW", "adamw" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        soma_obj *o = make(cases[i].spec);
        cr_expect_str_eq(o->item->name, cases[i].canonical);
        cr_expect_eq(o->kind, SOMA_KIND_OPTIM);
        soma_obj_free(o);
    }
}
