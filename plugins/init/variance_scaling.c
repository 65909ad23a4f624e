/* variance_scaling — Keras' VarianceScaling(scale=1.0, mode='fan_in',
 * distribution='truncated_normal'): with n the fan the mode picks (at least
 * 1), draws from
 *   truncated_normal   N(0, σ²) cut at ±2σ, σ = sqrt(scale/n)/0.8796..., so
 *                      the std after truncation is sqrt(scale/n);
 *   untruncated_normal N(0, scale/n);
 *   uniform            U[-sqrt(3·scale/n), +sqrt(3·scale/n)).
 * "normal" is Keras' old name for truncated_normal. */
#include <math.h>

#include <soma/plugin.h>

enum { P_SCALE, P_MODE, P_DISTRIBUTION, P_SEED };
static const soma_param_spec params[] = {
    { .name = "scale", .type = SOMA_PARAM_FLOAT, .def_num = 1.0,
      .doc = "variance scale, > 0" },
    { .name = "mode", .type = SOMA_PARAM_STRING, .def_str = "fan_in",
      .doc = "fan_in, fan_out or fan_avg" },
    { .name = "distribution", .type = SOMA_PARAM_STRING, .def_str = "truncated_normal",
      .doc = "truncated_normal (alias normal), untruncated_normal or uniform" },
    { .name = "seed", .type = SOMA_PARAM_INT, .def_num = 0,
      .doc = "overrides the model seed for this initializer" },
};

// Standard deviation of a standard normal truncated to [-2, 2].
#define TRUNC_STD_2SIGMA 0.87962566103423978

enum mode { FAN_IN, FAN_OUT, FAN_AVG, MODE_BAD };
enum dist { TRUNCATED, UNTRUNCATED, UNIFORM, DIST_BAD };

static int same(const char *a, const char *b) {
    for (; *a && *a == *b; a++, b++) {}
    return *a == *b;
}

// ASCII-only case folding: Keras lower()s the distribution name.
static int same_nocase(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (x != *b) return 0;
        if (!x) return 1;
    }
}

// Keras compares the mode as given (so "FAN_IN" is an error) but lower()s
// the distribution; we do the same.
static enum mode parse_mode(const char *s) {
    if (!s) return MODE_BAD;
    if (same(s, "fan_in")) return FAN_IN;
    if (same(s, "fan_out")) return FAN_OUT;
    if (same(s, "fan_avg")) return FAN_AVG;
    return MODE_BAD;
}

static enum dist parse_dist(const char *s) {
    if (!s) return DIST_BAD;
    if (same_nocase(s, "truncated_normal") || same_nocase(s, "normal")) return TRUNCATED;
    if (same_nocase(s, "untruncated_normal")) return UNTRUNCATED;
    if (same_nocase(s, "uniform")) return UNIFORM;
    return DIST_BAD;
}

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    double scale = p[P_SCALE].num;
    if (!(scale > 0) || !isfinite(scale))
        return host->set_error(SOMA_E_INVALID, "scale must be a positive finite "
                               "number, got %g", scale);
    if (parse_mode(p[P_MODE].str) == MODE_BAD)
        return host->set_error(SOMA_E_INVALID, "mode must be one of fan_in, fan_out, "
                               "fan_avg; got '%s'",
                               p[P_MODE].str ? p[P_MODE].str : "(none)");
    if (parse_dist(p[P_DISTRIBUTION].str) == DIST_BAD)
        return host->set_error(SOMA_E_INVALID, "distribution must be one of "
                               "truncated_normal, normal, untruncated_normal, "
                               "uniform; got '%s'",
                               p[P_DISTRIBUTION].str ? p[P_DISTRIBUTION].str : "(none)");
    if (p[P_SEED].is_set && p[P_SEED].num < 0)
        return host->set_error(SOMA_E_INVALID, "seed must be >= 0, got %g",
                               p[P_SEED].num);
    return SOMA_OK;
}

// The strings were validated by create; parsing them again here is a few
// compares and keeps the plugin free of state.
static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    int64_t n = soma_tview_numel(out);
    if (n <= 0) return SOMA_OK;
    enum mode m = parse_mode(self->params[P_MODE].str);
    enum dist d = parse_dist(self->params[P_DISTRIBUTION].str);
    if (m == MODE_BAD || d == DIST_BAD)
        return ctx->host->set_error(SOMA_E_INVALID, "mode or distribution not valid");
    double fan = m == FAN_IN ? fans->fan_in
               : m == FAN_OUT ? fans->fan_out
               : (fans->fan_in + fans->fan_out) / 2.0;
    if (fan < 1.0) fan = 1.0;
    double var = self->params[P_SCALE].num / fan;
    if (d == TRUNCATED) {
        float sigma = (float)(sqrt(var) / TRUNC_STD_2SIGMA);
        ctx->host->rng_truncated_normal(ctx->rng, out->data, (size_t)n, 0.0f, sigma);
    } else if (d == UNTRUNCATED) {
        ctx->host->rng_normal(ctx->rng, out->data, (size_t)n, 0.0f, (float)sqrt(var));
    } else {
        float limit = (float)sqrt(3.0 * var);
        ctx->host->rng_uniform(ctx->rng, out->data, (size_t)n, -limit, limit);
    }
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "variance_scaling",
                                 .create = create, .fill = fill };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "variance_scaling",
    .aliases = NULL,
    .doc = "variance scale/fan from a truncated normal, normal or uniform (Keras VarianceScaling)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, variance_scaling, items, 1)
