/* categorical_hinge — Keras' CategoricalHinge: per row, with
 * pos = Σ y·p and neg = max((1 - y)·p) over the last axis,
 * max(neg - pos + 1, 0). Labels are used as given (no 0/1 conversion). */
#include <soma/plugin.h>

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

// (1 - y)·p rounded to float32 as Keras forms it, so that ties in the max
// are the ties Keras sees.
static float neg_term(float y, float p) { return (1.0f - y) * p; }

// neg - pos + 1 for one row; *neg_max gets max((1 - y)·p) and *ties how many
// entries reach it.
static double margin(const float *t, const float *p, int64_t cols, float *neg_max,
                     int64_t *ties) {
    float m = neg_term(t[0], p[0]);
    for (int64_t c = 1; c < cols; c++) {
        float v = neg_term(t[c], p[c]);
        if (v > m || v != v) m = v; // NaN wins, as in Keras' max
    }
    int64_t n = 0;
    double pos = 0;
    for (int64_t c = 0; c < cols; c++) {
        n += neg_term(t[c], p[c]) == m;
        pos += (double)t[c] * p[c];
    }
    *neg_max = m;
    *ties = n;
    return (double)m - pos + 1.0;
}

static int ch_forward(const soma_instance *self, const soma_ctx *ctx,
                      const soma_tview *yt, const soma_tview *yp,
                      float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        float m;
        int64_t ties;
        double z = margin(yt->data + r * cols, yp->data + r * cols, cols, &m, &ties);
        values[r] = (float)(z < 0 ? 0.0 : z); // NaN passes through
    }
    return SOMA_OK;
}

/* Where neg - pos + 1 >= 0 (TF's maximum sends the gradient to its first
 * argument on a tie), ∂/∂p_k = (1 - y_k)·[k attains the max]/ties - y_k;
 * elsewhere 0. A max reached by several entries shares its gradient equally
 * among them, as TF's reduce_max gradient does. */
static int ch_backward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        float *g = dyp + r * cols;
        float m;
        int64_t ties;
        double z = margin(t, p, cols, &m, &ties);
        if (z < 0) {
            for (int64_t c = 0; c < cols; c++) g[c] = 0.0f;
            continue;
        }
        for (int64_t c = 0; c < cols; c++) {
            double d = -(double)t[c];
            if (neg_term(t[c], p[c]) == m) d += (1.0 - (double)t[c]) / (double)ties;
            g[c] = (float)(dv[r] * d);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt ch_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "categorical_hinge",
    .forward = ch_forward,
    .backward = ch_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "categorical_hinge",
    .aliases = NULL,
    .doc = "max(max((1-y_true)*y_pred) - sum(y_true*y_pred) + 1, 0) over the last axis",
    .params = NULL,
    .n_params = 0,
    .vtable = &ch_vt,
}};

SOMA_PLUGIN_DEFINE(loss, categorical_hinge, items, 1)
