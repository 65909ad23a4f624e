/* mean_absolute_percentage_error — Keras' MeanAbsolutePercentageError: per row
 * 100 · mean(|y - p| / max(|y|, eps)), eps = 1e-7, so a zero label divides by
 * eps instead of by zero. */
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

// max(|y|, eps) in float32, as Keras forms the divisor.
static double divisor(float y) {
    float a = y < 0 ? -y : y;
    return a > EPS ? (double)a : (double)EPS;
}

static int mape_forward(const soma_instance *self, const soma_ctx *ctx,
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
            float d = t[c] - p[c];
            s += (d < 0 ? -(double)d : (double)d) / divisor(t[c]);
        }
        values[r] = (float)(100.0 * s / (double)cols);
    }
    return SOMA_OK;
}

/* ∂/∂p = 100 · sign(p - y) / max(|y|, eps) / cols, with sign(0) = 0 as TF's
 * abs gradient has it. The divisor depends on y only, so it carries no
 * gradient of its own. */
static int mape_backward(const soma_instance *self, const soma_ctx *ctx,
                         const soma_tview *yt, const soma_tview *yp,
                         const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = 100.0 * dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            float d = p[c] - t[c];
            double s = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            dyp[r * cols + c] = (float)(k * s / divisor(t[c]));
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt mape_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "mean_absolute_percentage_error",
    .forward = mape_forward,
    .backward = mape_backward,
};

static const char *const mape_aliases[] = {"mape", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "mean_absolute_percentage_error",
    .aliases = mape_aliases,
    .doc = "100 times the mean over the last axis of |y_true - y_pred| / max(|y_true|, 1e-7)",
    .params = NULL,
    .n_params = 0,
    .vtable = &mape_vt,
}};

SOMA_PLUGIN_DEFINE(loss, mean_absolute_percentage_error, items, 1)
