/* binary_focal_crossentropy — Keras 3's BinaryFocalCrossentropy: elementwise
 *   y  ← y(1 - ls) + 0.5·ls                      (label smoothing)
 *   p  ← sigmoid(x)                              (from_logits only)
 *   bce = -(y log q + (1 - y) log(1 - q)),  q = clip(p, eps, 1 - eps)
 *   f   = (1 - p_t)^gamma,  p_t = y·p + (1 - y)(1 - p)   (unclipped p)
 *   w   = y·alpha + (1 - y)(1 - alpha)  if apply_class_balancing, else 1
 * and per row the mean of w·f·bce over the last axis. Keras 3 takes the
 * clipped-probability path for logits too (sigmoid first), so a saturated
 * logit costs what a saturated probability does. */
#include <math.h>

#include <soma/plugin.h>

enum { P_APPLY_CLASS_BALANCING, P_ALPHA, P_GAMMA, P_FROM_LOGITS, P_LABEL_SMOOTHING };

static const soma_param_spec params[] = {
    {.name = "apply_class_balancing", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "weight class 1 by alpha and class 0 by 1 - alpha"},
    {.name = "alpha", .type = SOMA_PARAM_FLOAT, .def_num = 0.25,
     .doc = "in [0, 1]: class-1 weight, used only with apply_class_balancing"},
    {.name = "gamma", .type = SOMA_PARAM_FLOAT, .def_num = 2.0,
     .doc = ">= 0: focusing exponent; 0 gives plain binary crossentropy"},
    {.name = "from_logits", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "y_pred holds logits instead of probabilities"},
    {.name = "label_smoothing", .type = SOMA_PARAM_FLOAT, .def_num = 0,
     .doc = "in [0, 1]: labels become y(1-ls) + 0.5·ls"},
};

// Keras' epsilon and its float32 complement 0.99999988.
#define EPS 1e-7f
#define ONE_MINUS_EPS (1.0f - 1e-7f)

// Keras checks none of these. The ranges are the ones its documentation
// states (alpha, label_smoothing) or that keep the loss a loss: a negative
// gamma makes a perfect prediction cost infinity.
static int bfce_create(const soma_host *host, const soma_param_value *pv,
                       void **state) {
    *state = NULL;
    double ls = pv[P_LABEL_SMOOTHING].num, a = pv[P_ALPHA].num, g = pv[P_GAMMA].num;
    if (!(ls >= 0 && ls <= 1))
        return host->set_error(SOMA_E_INVALID,
                               "label_smoothing must be in [0, 1], got %g", ls);
    if (!(a >= 0 && a <= 1))
        return host->set_error(SOMA_E_INVALID, "alpha must be in [0, 1], got %g", a);
    if (!(g >= 0) || !isfinite(g))
        return host->set_error(SOMA_E_INVALID,
                               "gamma must be a finite number >= 0, got %g", g);
    return SOMA_OK;
}

static int check_shapes(const soma_ctx *ctx, const soma_tview *yt,
                        const soma_tview *yp) {
    if (soma_tview_numel(yt) == soma_tview_numel(yp) &&
        soma_tview_cols(yt) == soma_tview_cols(yp))
        return SOMA_OK;
    return ctx->host->set_error(
        SOMA_E_SHAPE,
        "y_true (%lld elements, last dim %lld) does not match y_pred "
        "(%lld elements, last dim %lld)",
        (long long)soma_tview_numel(yt), (long long)soma_tview_cols(yt),
        (long long)soma_tview_numel(yp), (long long)soma_tview_cols(yp));
}

typedef struct opts {
    int balance, logits;
    double alpha, gamma;
    float ls;
} opts;

static opts get_opts(const soma_instance *self) {
    const soma_param_value *pv = self->params;
    return (opts){.balance = pv[P_APPLY_CLASS_BALANCING].num != 0,
                  .logits = pv[P_FROM_LOGITS].num != 0,
                  .alpha = (float)pv[P_ALPHA].num,
                  .gamma = (float)pv[P_GAMMA].num,
                  .ls = (float)pv[P_LABEL_SMOOTHING].num};
}

static double smooth(float y, float ls) {
    return ls > 0 ? (double)(y * (1.0f - ls) + 0.5f * ls) : (double)y;
}

// sigmoid without overflow for either sign of x
static double sigmoid(double x) {
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* One element: its loss, and (when d is not NULL) the derivative with respect
 * to the prediction as given (probability, or logit with from_logits).
 * With m = 1 - p_t = y + p - 2yp, dm/dp = 1 - 2y, and
 *   d(w·m^γ·bce)/dp = w·(γ·m^(γ-1)·(1 - 2y)·bce + m^γ·dbce/dp),
 * dbce/dp = (q - y)/(q(1 - q)) inside the clip and 0 where it holds p
 * (the boundary counts as inside, like TF's clip gradient). For logits the
 * chain rule multiplies by dp/dx = p(1 - p). The γ term is taken as 0 when
 * γ = 0 or when its chain factor (1 - 2y)·dp/d· is exactly 0, where
 * m^(γ-1) may be infinite but the product is not. */
static double element(const opts *o, float yt, float pred, double *d) {
    double y = smooth(yt, o->ls);
    double p = o->logits ? sigmoid((double)pred) : (double)pred;
    int inside = !(p < EPS || p > ONE_MINUS_EPS);
    double q = p < EPS ? EPS : p > ONE_MINUS_EPS ? ONE_MINUS_EPS : p; // NaN stays
    double bce = -(y * log(q) + (1.0 - y) * log(1.0 - q));
    // 1 - p_t written as a sum of two products, each >= 0 for y, p in
    // [0, 1], so rounding cannot make it negative (pow would give NaN).
    double m = y * (1.0 - p) + (1.0 - y) * p;
    double f = pow(m, o->gamma);
    double w = o->balance ? y * o->alpha + (1.0 - y) * (1.0 - o->alpha) : 1.0;
    if (d) {
        double dp = o->logits ? p * (1.0 - p) : 1.0; // dp / d(input)
        double dbce = inside ? (q - y) / (q * (1.0 - q)) : 0.0;
        double chain = (1.0 - 2.0 * y) * dp;
        double df = (o->gamma == 0 || chain == 0)
                        ? 0.0
                        : o->gamma * pow(m, o->gamma - 1.0) * chain;
        *d = w * (df * bce + f * dbce * dp);
    }
    return w * f * bce;
}

static int bfce_forward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        float *values) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    opts o = get_opts(self);
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) s += element(&o, t[c], p[c], NULL);
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

static int bfce_backward(const soma_instance *self, const soma_ctx *ctx,
                         const soma_tview *yt, const soma_tview *yp,
                         const float *dv, float *dyp) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    opts o = get_opts(self);
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double d;
            element(&o, t[c], p[c], &d);
            dyp[r * cols + c] = (float)(k * d);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt bfce_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "binary_focal_crossentropy",
    .create = bfce_create,
    .forward = bfce_forward,
    .backward = bfce_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "binary_focal_crossentropy",
    .aliases = NULL,
    .doc = "binary crossentropy scaled by (1 - p_t)^gamma, mean over the last axis",
    .params = params,
    .n_params = sizeof params / sizeof params[0],
    .vtable = &bfce_vt,
}};

SOMA_PLUGIN_DEFINE(loss, binary_focal_crossentropy, items, 1)
