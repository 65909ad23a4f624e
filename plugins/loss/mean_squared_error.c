/* mean_squared_error — Keras' MeanSquaredError: per row mean((y - p)²). */
#include <soma/plugin.h>

#include <stdio.h>

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

static int mse_forward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        // The difference is rounded to float32 as Keras computes it; the sum
        // runs in double so long rows do not drift.
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            float d = p[c] - t[c];
            s += (double)d * d;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

static int mse_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = 2.0 * dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++)
            dyp[r * cols + c] = (float)(k * (double)(p[c] - t[c]));
    }
    return SOMA_OK;
}

static const soma_loss_vt mse_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "mean_squared_error",
    .forward = mse_forward,
    .backward = mse_backward,
};

static const char *const mse_aliases[] = {"mse", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "mean_squared_error",
    .aliases = mse_aliases,
    .doc = "mean over the last axis of (y_true - y_pred)^2",
    .params = NULL,
    .n_params = 0,
    .vtable = &mse_vt,
}};

SOMA_PLUGIN_DEFINE(loss, mean_squared_error, items, 1)
