/* kl_divergence — Keras' KLDivergence: with y and p clipped to [eps, 1]
 * (eps = 1e-7), per row Σ y·log(y/p) over the last axis. */
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

// clip(x, eps, 1) in float32; NaN passes through.
static float clip(float x) { return x < EPS ? EPS : x > 1.0f ? 1.0f : x; }

static int kld_forward(const soma_instance *self, const soma_ctx *ctx,
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
            double y = clip(t[c]), q = clip(p[c]);
            s += y * log(y / q);
        }
        values[r] = (float)s;
    }
    return SOMA_OK;
}

/* ∂/∂p = -y/p where the clip leaves p alone (eps <= p <= 1, the bounds
 * included as in TF's clip_by_value gradient), 0 where it replaced p. */
static int kld_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        for (int64_t c = 0; c < cols; c++) {
            double g = 0.0;
            if (!(p[c] < EPS || p[c] > 1.0f)) g = -(double)clip(t[c]) / (double)p[c];
            dyp[r * cols + c] = (float)(dv[r] * g);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt kld_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "kl_divergence",
    .forward = kld_forward,
    .backward = kld_backward,
};

// "kullback_leibler_divergence" is Keras 2's name, kept in Keras 3's legacy
// namespace.
static const char *const kld_aliases[] = {"kld", "kullback_leibler_divergence", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "kl_divergence",
    .aliases = kld_aliases,
    .doc = "sum over the last axis of y_true*log(y_true/y_pred), both clipped to [1e-7, 1]",
    .params = NULL,
    .n_params = 0,
    .vtable = &kld_vt,
}};

SOMA_PLUGIN_DEFINE(loss, kl_divergence, items, 1)
