/* categorical_crossentropy — Keras 3's CategoricalCrossentropy: per row
 * -Σ y·log p over the last axis. Probabilities are first normalised by their
 * row sum and clipped to [eps, 1-eps]; logits go through a stable
 * log_softmax. */
#include <soma/plugin.h>

#include <math.h>

enum { P_FROM_LOGITS, P_LABEL_SMOOTHING, P_AXIS };

static const soma_param_spec params[] = {
    {.name = "from_logits", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "y_pred holds logits instead of probabilities"},
    {.name = "label_smoothing", .type = SOMA_PARAM_FLOAT, .def_num = 0,
     .doc = "in [0, 1]: labels become y(1-ls) + ls/classes"},
    {.name = "axis", .type = SOMA_PARAM_INT, .def_num = -1,
     .doc = "class axis (only -1)"},
};

#define EPS 1e-7f
#define ONE_MINUS_EPS (1.0f - 1e-7f)

static int cce_create(const soma_host *host, const soma_param_value *pv,
                      void **state) {
    *state = NULL;
    double ls = pv[P_LABEL_SMOOTHING].num;
    if (!(ls >= 0 && ls <= 1))
        return host->set_error(SOMA_E_INVALID,
                               "label_smoothing must be in [0, 1], got %g", ls);
    if (pv[P_AXIS].num != -1)
        return host->set_error(SOMA_E_UNSUPPORTED,
                               "axis=%g is not supported: only axis=-1 (the "
                               "last axis) is implemented",
                               pv[P_AXIS].num);
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

static double smooth(float y, float ls, int64_t classes) {
    return ls > 0 ? (double)(y * (1.0f - ls) + ls / (float)classes) : (double)y;
}

static double row_sum(const float *p, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += p[i];
    return s;
}

static double row_max(const float *x, int64_t n) {
    double m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

// log Σ exp(x), shifted by the maximum so that nothing overflows.
static double log_sum_exp(const float *x, int64_t n, double m) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

// The normalised probability in float32, clipped as Keras clips it; *inside
// says whether the clip left it alone (then it carries a gradient).
static float norm_clip(float p, double sum, int *inside) {
    float q = (float)((double)p / sum);
    *inside = !(q < EPS || q > ONE_MINUS_EPS);
    return q < EPS ? EPS : q > ONE_MINUS_EPS ? ONE_MINUS_EPS : q;
}

static int cce_forward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       float *values) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    float ls = (float)self->params[P_LABEL_SMOOTHING].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double v = 0;
        if (logits) {
            double lse = log_sum_exp(p, cols, row_max(p, cols));
            for (int64_t c = 0; c < cols; c++)
                v -= smooth(t[c], ls, cols) * ((double)p[c] - lse);
        } else {
            double sum = row_sum(p, cols);
            for (int64_t c = 0; c < cols; c++) {
                int inside;
                float q = norm_clip(p[c], sum, &inside);
                v -= smooth(t[c], ls, cols) * log((double)q);
            }
        }
        values[r] = (float)v;
    }
    return SOMA_OK;
}

/* Logits: ∂/∂x_k = softmax_k·Σy - y_k.
 * Probabilities: with S = Σp, q = p/S and g_j = -y_j/q_j where q_j is inside
 * the clip (0 elsewhere), ∂/∂p_k = (g_k - Σ_j g_j q_j)/S
 *                               = (g_k + Σ_{j inside} y_j)/S. */
static int cce_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    float ls = (float)self->params[P_LABEL_SMOOTHING].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        float *g = dyp + r * cols;
        if (logits) {
            double lse = log_sum_exp(p, cols, row_max(p, cols)), ysum = 0;
            for (int64_t c = 0; c < cols; c++) ysum += smooth(t[c], ls, cols);
            for (int64_t c = 0; c < cols; c++) {
                double sm = exp((double)p[c] - lse);
                g[c] = (float)(dv[r] * (sm * ysum - smooth(t[c], ls, cols)));
            }
        } else {
            double sum = row_sum(p, cols), yin = 0;
            for (int64_t c = 0; c < cols; c++) {
                int inside;
                norm_clip(p[c], sum, &inside);
                if (inside) yin += smooth(t[c], ls, cols);
            }
            for (int64_t c = 0; c < cols; c++) {
                int inside;
                float q = norm_clip(p[c], sum, &inside);
                double gk = inside ? -smooth(t[c], ls, cols) / (double)q : 0.0;
                g[c] = (float)(dv[r] * (gk + yin) / sum);
            }
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt cce_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "categorical_crossentropy",
    .create = cce_create,
    .forward = cce_forward,
    .backward = cce_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "categorical_crossentropy",
    .doc = "crossentropy between one-hot (or soft) labels and class scores",
    .params = params,
    .n_params = 3,
    .vtable = &cce_vt,
}};

SOMA_PLUGIN_DEFINE(loss, categorical_crossentropy, items, 1)
