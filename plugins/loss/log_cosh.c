/* log_cosh — Keras' LogCosh: with x = p - y, per row the mean of log(cosh x),
 * computed as Keras does in the overflow-safe form x + softplus(-2x) - log 2. */
#include <math.h>

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

// log 2 written out: M_LN2 is not C11, and a plugin may be built outside
// soma's build flags.
static const double LN2 = 0.69314718055994530942;

// softplus(z) = log(1 + e^z) without overflow for large z.
static double softplus(double z) {
    return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
}

static int lc_forward(const soma_instance *self, const soma_ctx *ctx,
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
            double x = (float)(p[c] - t[c]);
            s += x + softplus(-2.0 * x) - LN2;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* d/dx (x + softplus(-2x)) = 1 - 2·sigmoid(-2x) = tanh(x). */
static int lc_backward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double x = (float)(p[c] - t[c]);
            dyp[r * cols + c] = (float)(k * tanh(x));
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt lc_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "log_cosh",
    .forward = lc_forward,
    .backward = lc_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "log_cosh",
    .aliases = NULL,
    .doc = "mean over the last axis of log(cosh(y_pred - y_true))",
    .params = NULL,
    .n_params = 0,
    .vtable = &lc_vt,
}};

SOMA_PLUGIN_DEFINE(loss, log_cosh, items, 1)
