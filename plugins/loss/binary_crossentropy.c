/* binary_crossentropy — Keras 3's BinaryCrossentropy: per row the mean over
 * the last axis of -(y log p + (1-y) log(1-p)), p clipped to [eps, 1-eps] in
 * float32; with from_logits the stable max(x,0) - x·y + log1p(exp(-|x|)). */
#include <soma/plugin.h>

#include <math.h>

enum { P_FROM_LOGITS, P_LABEL_SMOOTHING };

static const soma_param_spec params[] = {
    {.name = "from_logits", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "y_pred holds logits instead of probabilities"},
    {.name = "label_smoothing", .type = SOMA_PARAM_FLOAT, .def_num = 0,
     .doc = "in [0, 1]: labels become y(1-ls) + 0.5·ls"},
};

// Keras' epsilon and its float32 complement 0.99999988: this is why a
// saturated prediction costs -log(1.19e-7) = 15.94, not 16.12.
#define EPS 1e-7f
#define ONE_MINUS_EPS (1.0f - 1e-7f)

static int bce_create(const soma_host *host, const soma_param_value *pv,
                      void **state) {
    *state = NULL;
    double ls = pv[P_LABEL_SMOOTHING].num;
    if (!(ls >= 0 && ls <= 1))
        return host->set_error(SOMA_E_INVALID,
                               "label_smoothing must be in [0, 1], got %g", ls);
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

static float smooth(float y, float ls) {
    return ls > 0 ? y * (1.0f - ls) + 0.5f * ls : y;
}

static int bce_forward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       float *values) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    float ls = (float)self->params[P_LABEL_SMOOTHING].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double y = smooth(t[c], ls);
            if (logits) {
                double x = p[c];
                s += fmax(x, 0) - x * y + log1p(exp(-fabs(x)));
            } else {
                // Clip in float32, as Keras does; NaN passes through.
                float q = p[c] < EPS ? EPS : p[c] > ONE_MINUS_EPS ? ONE_MINUS_EPS : p[c];
                s -= y * log((double)q) + (1 - y) * log(1.0 - (double)q);
            }
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

/* Probabilities: d/dp = (p - y)/(p(1-p)) inside [eps, 1-eps], 0 where the
 * clip replaced p (the boundary itself counts as inside, like TF's
 * clip_by_value gradient). Logits: sigmoid(x) - y. Both divided by the row
 * length because the row value is a mean. */
static int bce_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    float ls = (float)self->params[P_LABEL_SMOOTHING].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double k = dv[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double y = smooth(t[c], ls), d;
            if (logits) {
                double x = p[c];
                // sigmoid without overflow for either sign of x
                double sg = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
                d = sg - y;
            } else if (p[c] < EPS || p[c] > ONE_MINUS_EPS) {
                d = 0;
            } else {
                double q = p[c];
                d = (q - y) / (q * (1.0 - q));
            }
            dyp[r * cols + c] = (float)(k * d);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt bce_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "binary_crossentropy",
    .create = bce_create,
    .forward = bce_forward,
    .backward = bce_backward,
};

static const char *const bce_aliases[] = {"bce", NULL};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "binary_crossentropy",
    .aliases = bce_aliases,
    .doc = "binary crossentropy, mean over the last axis",
    .params = params,
    .n_params = 2,
    .vtable = &bce_vt,
}};

SOMA_PLUGIN_DEFINE(loss, binary_crossentropy, items, 1)
