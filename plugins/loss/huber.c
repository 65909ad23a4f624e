/* huber — Keras' Huber(delta=1.0): with e = p - y, per row the mean of
 * 0.5·e² where |e| <= delta and delta·|e| - 0.5·delta² beyond. */
#include <math.h>

#include <soma/plugin.h>

enum { P_DELTA };

static const soma_param_spec params[] = {
    {.name = "delta", .type = SOMA_PARAM_FLOAT, .def_num = 1.0,
     .doc = "> 0: where the loss turns from quadratic to linear"},
};

// Keras does not check delta, but delta = 0 makes the loss identically 0 and
// a negative delta makes it unbounded below, so neither can train anything:
// both are refused.
static int huber_create(const soma_host *host, const soma_param_value *pv,
                        void **state) {
    *state = NULL;
    double d = pv[P_DELTA].num;
    if (!(d > 0) || !isfinite(d))
        return host->set_error(SOMA_E_INVALID,
                               "delta must be a positive finite number, got %g", d);
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

static int huber_forward(const soma_instance *self, const soma_ctx *ctx,
                         const soma_tview *yt, const soma_tview *yp,
                         float *values) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    // delta is cast to the loss dtype (float32) by Keras before use.
    double delta = (float)self->params[P_DELTA].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double e = (float)(p[c] - t[c]), a = fabs(e);
            s += a <= delta ? 0.5 * e * e : delta * a - 0.5 * delta * delta;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* ∂/∂p = e inside |e| <= delta (the branch Keras' where() picks at the
 * boundary), delta·sign(e) outside; the two agree at |e| = delta, so the
 * gradient is continuous. */
static int huber_backward(const soma_instance *self, const soma_ctx *ctx,
                          const soma_tview *yt, const soma_tview *yp,
                          const float *dv, float *dyp) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    double delta = (float)self->params[P_DELTA].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double e = (float)(p[c] - t[c]);
            double g = fabs(e) <= delta ? e : e > 0 ? delta : -delta;
            dyp[r * cols + c] = (float)(k * g);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt huber_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "huber",
    .create = huber_create,
    .forward = huber_forward,
    .backward = huber_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "huber",
    .aliases = NULL,
    .doc = "Huber loss: quadratic within delta of the target, linear beyond; mean over the last axis",
    .params = params,
    .n_params = 1,
    .vtable = &huber_vt,
}};

SOMA_PLUGIN_DEFINE(loss, huber, items, 1)
