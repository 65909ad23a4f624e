/* mean_absolute_error — Keras' MeanAbsoluteError: per row mean(|y - p|). */
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

static int mae_forward(const soma_instance *self, const soma_ctx *ctx,
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
            s += d < 0 ? -(double)d : (double)d;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* d|p - y|/dp = sign(p - y), taken as 0 where p == y: TF's gradient of abs
 * is sign(x) with sign(0) = 0, so a perfect prediction gets no push. */
static int mae_backward(const soma_instance *self, const soma_ctx *ctx,
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
            float d = p[c] - t[c];
            double s = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            dyp[r * cols + c] = (float)(k * s);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt mae_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "mean_absolute_error",
    .forward = mae_forward,
    .backward = mae_backward,
};

static const char *const mae_aliases[] = {"mae", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "mean_absolute_error",
    .aliases = mae_aliases,
    .doc = "mean over the last axis of |y_true - y_pred|",
    .params = NULL,
    .n_params = 0,
    .vtable = &mae_vt,
}};

SOMA_PLUGIN_DEFINE(loss, mean_absolute_error, items, 1)
