/* pinball.c — a quantile (pinball) loss written the way any soma user would
 * write one: this file, the installed <soma/plugin.h>, and a C compiler.
 *
 *   cc -O2 -shared -fPIC -fvisibility=hidden -I<prefix>/include pinball.c \
 *      -o soma-loss-pinball.so
 *
 * With e = y_true - y_pred, each element costs tau·e when the prediction is
 * too low and (tau - 1)·e when it is too high; a row's value is the mean over
 * its last axis. Minimising it makes y_pred the tau-quantile of y_true. */
#include <soma/plugin.h>

enum { P_TAU };

static const soma_param_spec params[] = {
    {.name = "tau", .type = SOMA_PARAM_FLOAT, .def_num = 0.5,
     .doc = "the quantile to fit, in (0, 1)"},
};

// Parameters are validated once, when the loss is made, so a bad spec fails
// at compile time of the model and not in the middle of training.
static int pinball_create(const soma_host *host, const soma_param_value *pv,
                          void **state) {
    *state = NULL;
    double tau = pv[P_TAU].num;
    if (!(tau > 0 && tau < 1))
        return host->set_error(SOMA_E_INVALID, "tau must be in (0, 1), got %g",
                               tau);
    return SOMA_OK;
}

static int check_shapes(const soma_ctx *ctx, const soma_tview *yt,
                        const soma_tview *yp) {
    if (soma_tview_numel(yt) == soma_tview_numel(yp) &&
        soma_tview_cols(yt) == soma_tview_cols(yp))
        return SOMA_OK;
    return ctx->host->set_error(SOMA_E_SHAPE,
                                "y_true (%lld elements) does not match y_pred "
                                "(%lld elements)",
                                (long long)soma_tview_numel(yt),
                                (long long)soma_tview_numel(yp));
}

static int pinball_forward(const soma_instance *self, const soma_ctx *ctx,
                           const soma_tview *yt, const soma_tview *yp,
                           float *values) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    double tau = self->params[P_TAU].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double e = (double)yt->data[r * cols + c] - yp->data[r * cols + c];
            s += e >= 0 ? tau * e : (tau - 1) * e;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

// ∂/∂y_pred of the row mean: -tau where e >= 0 (the side the forward takes
// at e = 0), 1 - tau where e < 0.
static int pinball_backward(const soma_instance *self, const soma_ctx *ctx,
                            const soma_tview *yt, const soma_tview *yp,
                            const float *d_values, float *d_y_pred) {
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    double tau = self->params[P_TAU].num;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        double k = d_values[r] / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            double e = (double)yt->data[i] - yp->data[i];
            d_y_pred[i] = (float)(k * (e >= 0 ? -tau : 1 - tau));
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt pinball_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "pinball",
    .create = pinball_create,
    .forward = pinball_forward,
    .backward = pinball_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "pinball",
    .doc = "quantile (pinball) loss: fits the tau-quantile of y_true",
    .params = params,
    .n_params = 1,
    .vtable = &pinball_vt,
}};

SOMA_PLUGIN_DEFINE(loss, pinball, items, 1)
