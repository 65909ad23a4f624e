/* poisson — Keras' Poisson: per row mean(p - y·log(p + eps)), eps = 1e-7. */
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

// Keras does not clip: a prediction at or below -eps gives log of a
// non-positive number (-inf or NaN), which the host's NaN check then reports.
static int poisson_forward(const soma_instance *self, const soma_ctx *ctx,
                           const soma_tview *yt, const soma_tview *yp,
                           float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++)
            s += (double)p[c] - (double)t[c] * log((double)p[c] + (double)EPS);
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* ∂/∂p = (1 - y/(p + eps)) / cols. */
static int poisson_backward(const soma_instance *self, const soma_ctx *ctx,
                            const soma_tview *yt, const soma_tview *yp,
                            const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++)
            dyp[r * cols + c] =
                (float)(k * (1.0 - (double)t[c] / ((double)p[c] + (double)EPS)));
    }
    return SOMA_OK;
}

static const soma_loss_vt poisson_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "poisson",
    .forward = poisson_forward,
    .backward = poisson_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "poisson",
    .aliases = NULL,
    .doc = "mean over the last axis of y_pred - y_true*log(y_pred + 1e-7)",
    .params = NULL,
    .n_params = 0,
    .vtable = &poisson_vt,
}};

SOMA_PLUGIN_DEFINE(loss, poisson, items, 1)
