/* sparse_categorical_crossentropy — Keras 3's SparseCategoricalCrossentropy:
 * categorical crossentropy with the label given as a class index per row
 * (y_true of shape (N,) or (N, 1) for y_pred (N, C)). */
#include <soma/plugin.h>

#include <math.h>

enum { P_FROM_LOGITS, P_AXIS, P_IGNORE_CLASS };

static const soma_param_spec params[] = {
    {.name = "from_logits", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "y_pred holds logits instead of probabilities"},
    {.name = "axis", .type = SOMA_PARAM_INT, .def_num = -1,
     .doc = "class axis (only -1)"},
    {.name = "ignore_class", .type = SOMA_PARAM_INT, .def_num = 0,
     .doc = "rows with this label count for nothing (None: off)"},
};

// The label that marks a row to ignore, when ignore_class was given.
static int ignored(const soma_instance *self, float y) {
    return self->params[P_IGNORE_CLASS].is_set && y == (float)self->params[P_IGNORE_CLASS].num;
}

#define EPS 1e-7f
#define ONE_MINUS_EPS (1.0f - 1e-7f)

static int scce_create(const soma_host *host, const soma_param_value *pv,
                       void **state) {
    *state = NULL;
    if (pv[P_AXIS].num != -1)
        return host->set_error(SOMA_E_UNSUPPORTED,
                               "axis=%g is not supported: only axis=-1 (the "
                               "last axis) is implemented",
                               pv[P_AXIS].num);
    return SOMA_OK;
}

// One label per row of y_pred; every label a whole number in [0, C).
// Keras would silently truncate 1.5 to 1 and read out of range for 7 of 5;
// both are almost always a data bug, so they are errors here.
static int check_labels(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp) {
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    if (soma_tview_numel(yt) != rows)
        return ctx->host->set_error(
            SOMA_E_SHAPE,
            "y_true has %lld elements but y_pred has %lld rows of %lld "
            "classes: expected one integer label per row",
            (long long)soma_tview_numel(yt), (long long)rows, (long long)cols);
    for (int64_t r = 0; r < rows; r++) {
        float y = yt->data[r];
        if (ignored(self, y)) continue; // e.g. -1 or 255 for "no label"
        if (isnan(y))
            return ctx->host->set_error(SOMA_E_RANGE, "label of row %lld is NaN",
                                        (long long)r);
        if (y != floorf(y))
            return ctx->host->set_error(SOMA_E_RANGE,
                                        "label of row %lld is %g, not an integer",
                                        (long long)r, (double)y);
        if (y < 0 || y >= (float)cols)
            return ctx->host->set_error(
                SOMA_E_RANGE, "label of row %lld is %g, outside [0, %lld)",
                (long long)r, (double)y, (long long)cols);
    }
    return SOMA_OK;
}

static double row_sum(const float *p, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += p[i];
    return s;
}

// log Σ exp(x), shifted by the maximum so that nothing overflows.
static double log_sum_exp(const float *x, int64_t n) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    for (int64_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

static int scce_forward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        float *values) {
    int rc = check_labels(self, ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = yp->data + r * cols;
        int64_t k = (int64_t)yt->data[r];
        if (ignored(self, yt->data[r])) {
            values[r] = 0.0f; // Keras zeroes the loss of masked positions
            continue;
        }
        if (logits) {
            values[r] = (float)(log_sum_exp(p, cols) - (double)p[k]);
        } else {
            float q = (float)((double)p[k] / row_sum(p, cols));
            q = q < EPS ? EPS : q > ONE_MINUS_EPS ? ONE_MINUS_EPS : q;
            values[r] = (float)-log((double)q);
        }
    }
    return SOMA_OK;
}

/* Logits: softmax - onehot. Probabilities (S = Σp, q_k = p_k/S for the
 * target k): -log q_k has ∂/∂p_j = (1 - [j = k]/q_k)/S while q_k is inside
 * the clip, and 0 for every j once the clip holds it. */
static int scce_backward(const soma_instance *self, const soma_ctx *ctx,
                         const soma_tview *yt, const soma_tview *yp,
                         const float *dv, float *dyp) {
    int rc = check_labels(self, ctx, yt, yp);
    if (rc) return rc;
    int logits = self->params[P_FROM_LOGITS].num != 0;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = yp->data + r * cols;
        float *g = dyp + r * cols;
        int64_t k = (int64_t)yt->data[r];
        if (ignored(self, yt->data[r])) {
            for (int64_t c = 0; c < cols; c++) g[c] = 0.0f;
            continue;
        }
        if (logits) {
            double lse = log_sum_exp(p, cols);
            for (int64_t c = 0; c < cols; c++)
                g[c] = (float)(dv[r] * (exp((double)p[c] - lse) - (c == k)));
        } else {
            double sum = row_sum(p, cols);
            float q = (float)((double)p[k] / sum);
            if (q < EPS || q > ONE_MINUS_EPS) {
                for (int64_t c = 0; c < cols; c++) g[c] = 0.0f;
                continue;
            }
            for (int64_t c = 0; c < cols; c++)
                g[c] = (float)(dv[r] * (1.0 - (c == k ? 1.0 / (double)q : 0.0)) / sum);
        }
    }
    return SOMA_OK;
}

// ignore_class rows are masked out of the batch mean (Keras' mask).
static int scce_mask(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
                     const soma_tview *yp, float *mask) {
    (void)ctx;
    if (!self->params[P_IGNORE_CLASS].is_set) return SOMA_NO_MASK; // as Keras: no mask at all
    int64_t rows = soma_tview_rows(yp);
    for (int64_t r = 0; r < rows; r++) mask[r] = ignored(self, yt->data[r]) ? 0.0f : 1.0f;
    return SOMA_OK;
}

static const soma_loss_vt scce_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "sparse_categorical_crossentropy",
    .create = scce_create,
    .forward = scce_forward,
    .backward = scce_backward,
    .mask = scce_mask,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "sparse_categorical_crossentropy",
    .doc = "crossentropy with integer class labels",
    .params = params,
    .n_params = 3,
    .vtable = &scce_vt,
}};

SOMA_PLUGIN_DEFINE(loss, sparse_categorical_crossentropy, items, 1)
