/* mean_squared_logarithmic_error — Keras' MeanSquaredLogarithmicError: per row
 * mean((log(max(p, eps) + 1) - log(max(y, eps) + 1))²), eps = 1e-7, so
 * negative values and zeros count as eps. */
#include <math.h>

#include <soma/plugin.h>

#define EPS 1e-7f

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

// log(max(x, eps) + 1). log1p keeps the small-x end exact; NaN passes
// through the comparison unchanged, as it does through Keras' maximum.
static double log_term(float x) {
    float m = x < EPS ? EPS : x;
    return log1p((double)m);
}

static int msle_forward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double d = log_term(p[c]) - log_term(t[c]);
            s += d * d;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* ∂/∂p = 2·(log(p+1) - log(max(y,eps)+1)) / (p + 1) / cols where p >= eps;
 * 0 where max() replaced p by eps (p < eps). At p == eps exactly the
 * gradient goes to p, as TF's maximum sends it to its first argument on a
 * tie. */
static int msle_backward(const soma_instance *self, const soma_ctx *ctx,
                         const soma_tview *yt, const soma_tview *yp,
                         const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = 2.0 * dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double g = 0.0;
            if (!(p[c] < EPS)) {
                double d = log_term(p[c]) - log_term(t[c]);
                g = k * d / (1.0 + (double)p[c]);
            }
            dyp[r * cols + c] = (float)g;
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt msle_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "mean_squared_logarithmic_error",
    .forward = msle_forward,
    .backward = msle_backward,
};

static const char *const msle_aliases[] = {"msle", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "mean_squared_logarithmic_error",
    .aliases = msle_aliases,
    .doc = "mean over the last axis of (log(y_pred+1) - log(y_true+1))^2, values below 1e-7 read as 1e-7",
    .params = NULL,
    .n_params = 0,
    .vtable = &msle_vt,
}};

SOMA_PLUGIN_DEFINE(loss, mean_squared_logarithmic_error, items, 1)
