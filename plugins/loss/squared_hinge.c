/* squared_hinge — Keras' SquaredHinge: per row mean(max(1 - y·p, 0)²), with
 * the same label rule as hinge: when EVERY label of the y_true tensor handed
 * in is 0 or 1, all of them are first mapped to 2y - 1. */
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

// Keras' test is over the whole tensor (an empty one counts as binary).
static int all_binary(const soma_tview *yt) {
    int64_t n = soma_tview_numel(yt);
    for (int64_t i = 0; i < n; i++)
        if (!(yt->data[i] == 0.0f || yt->data[i] == 1.0f)) return 0;
    return 1;
}

static float label(float y, int binary) { return binary ? 2.0f * y - 1.0f : y; }

static int sqh_forward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int binary = all_binary(yt);
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double m = 1.0 - (double)label(t[c], binary) * p[c];
            if (!(m <= 0)) s += m * m; // NaN passes through
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* ∂/∂p = -2y·max(1 - y·p, 0): zero where the margin is met, and continuous
 * at the kink, so no tie rule is needed. */
static int sqh_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int binary = all_binary(yt);
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = 2.0 * dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double y = label(t[c], binary);
            double m = 1.0 - y * p[c];
            dyp[r * cols + c] = (float)(!(m <= 0) ? -k * y * m : 0.0);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt sqh_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "squared_hinge",
    .forward = sqh_forward,
    .backward = sqh_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "squared_hinge",
    .aliases = NULL,
    .doc = "mean over the last axis of max(1 - y_true*y_pred, 0)^2; an all-0/1 y_true becomes -1/1",
    .params = NULL,
    .n_params = 0,
    .vtable = &sqh_vt,
}};

SOMA_PLUGIN_DEFINE(loss, squared_hinge, items, 1)
